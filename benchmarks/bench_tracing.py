"""What tracing costs an enqueue: ``enqueue()`` with and without OpenTelemetry.

Each variant runs in a fresh interpreter, the same number of times, interleaved:

* ``without``: ``opentelemetry`` cannot be imported (as without ``omniq[otel]``): the
  baseline. The enqueue methods are not even wrapped.
* ``api-only``: ``opentelemetry-api`` installed, no SDK configured (the global provider is
  the API's no-op proxy): a non-recording span per enqueue, no headers stored.
* ``sdk``: an SDK ``TracerProvider`` with a ``BatchSpanProcessor`` whose exporter drops
  the spans: a recording span per enqueue and its ``traceparent`` stored with the task.

Usage::

    .venv/bin/python benchmarks/bench_tracing.py [--tasks N] [--rounds R] [--backend memory|sqlite]

Prints the enqueue rate of each variant (median of the rounds, each after a warm-up) and its
ratio to ``without``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import textwrap

VARIANTS = ("without", "api-only", "sdk")

CHILD = textwrap.dedent(
    """
    import sys, time, tempfile, os
    variant, backend, tasks = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if variant == "without":
        sys.modules["opentelemetry"] = None
    if variant == "sdk":
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
    from bench_tasks import noop

    options = {"backend_type": "memory"}
    if backend == "sqlite":
        options = {"db_path": os.path.join(tempfile.mkdtemp(), "q.db")}
    with OmniQ(project_name="bench_tracing", **options) as oq:
        for i in range(tasks // 10):  # warm-up
            oq.enqueue(noop, {"i": i})
        started = time.perf_counter()
        for i in range(tasks):
            oq.enqueue(noop, {"i": i})
        elapsed = time.perf_counter() - started
    print(tasks / elapsed)
    """
)


def run(variant: str, backend: str, tasks: int) -> float:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, variant, backend, str(tasks)],
        capture_output=True, text=True, check=True, cwd=sys.path[0],
    )  # fmt: skip
    return float(done.stdout.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--backend", choices=["memory", "sqlite"], default="memory")
    args = parser.parse_args()
    rates: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
    with tempfile.TemporaryDirectory():
        for round_number in range(args.rounds):
            for variant in VARIANTS:
                rates[variant].append(run(variant, args.backend, args.tasks))
            print(f"round {round_number + 1}/{args.rounds} done", file=sys.stderr)
    baseline = statistics.median(rates["without"])
    print(f"enqueue() one by one, {args.tasks} tasks, {args.backend} backend, "
          f"median of {args.rounds} rounds")  # fmt: skip
    for variant in VARIANTS:
        rate = statistics.median(rates[variant])
        print(f"  {variant:9} {rate:10,.0f} tasks/s   x{rate / baseline:.2f} of 'without'")


if __name__ == "__main__":
    main()
