"""What monitoring costs a worker: no-op tasks drained with and without metrics and traces.

Each variant runs in a fresh interpreter, the same number of times, interleaved: N no-op
tasks are enqueued in one ``enqueue_many``, then an ``async`` worker (4 slots, memory
backend: nothing else to wait for, so the overhead shows at its largest) runs them all; the
figure is tasks/s from the worker's start to the last result.

* ``plain``: no ``metrics_port``, ``opentelemetry`` not importable: the baseline.
* ``metrics``: ``metrics_port=0`` (a counter, two histograms per task).
* ``otel-api``: the OpenTelemetry API installed, no SDK (no-op spans).
* ``otel-sdk``: an SDK ``TracerProvider``, ``BatchSpanProcessor``, an exporter that drops:
  a recording execution span per task (and the enqueue span of the batch).
* ``both``: ``metrics`` and ``otel-sdk``.

Usage::

    .venv/bin/python benchmarks/bench_monitoring.py [--tasks N] [--rounds R]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import textwrap

VARIANTS = ("plain", "metrics", "otel-api", "otel-sdk", "both")

CHILD = textwrap.dedent(
    """
    import asyncio, sys, time
    variant, tasks = sys.argv[1], int(sys.argv[2])
    if variant in ("plain", "metrics"):
        sys.modules["opentelemetry"] = None
    if variant in ("otel-sdk", "both"):
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
        from opentelemetry.sdk.trace.export import SpanExportResult

        class Drop(SpanExporter):
            def export(self, spans):
                return SpanExportResult.SUCCESS

        provider = TracerProvider()
        provider.add_span_processor(BatchSpanProcessor(Drop()))
        trace.set_tracer_provider(provider)
    from omniq import OmniQ
    from bench_tasks import anoop

    config = {"metrics_port": 0} if variant in ("metrics", "both") else {}


    async def drain(oq, count):
        ids = await oq.enqueue_many_async(anoop, [{"i": i} for i in range(count)])
        started = time.perf_counter()
        await oq.start_worker_async(worker_type="async", worker_config=config)
        for task_id in ids:
            await oq.get_result_async(task_id, timeout=120)
        elapsed = time.perf_counter() - started
        await oq.stop_worker_async()
        return count / elapsed


    async def main():
        async with OmniQ(project_name="bench_monitoring", backend_type="memory") as oq:
            await drain(oq, tasks // 10)  # warm-up
            print(await drain(oq, tasks))


    asyncio.run(main())
    """
)


def run(variant: str, tasks: int) -> float:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, variant, str(tasks)],
        capture_output=True, text=True, check=True, cwd=sys.path[0],
    )  # fmt: skip
    return float(done.stdout.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    rates: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
    for round_number in range(args.rounds):
        for variant in VARIANTS:
            rates[variant].append(run(variant, args.tasks))
        print(f"round {round_number + 1}/{args.rounds} done", file=sys.stderr)
    baseline = statistics.median(rates["plain"])
    print(f"async worker, memory backend, {args.tasks} no-op tasks, median of {args.rounds}")
    for variant in VARIANTS:
        rate = statistics.median(rates[variant])
        print(f"  {variant:9} {rate:10,.0f} tasks/s   x{rate / baseline:.2f} of 'plain'")


if __name__ == "__main__":
    main()
