"""``python -m omniq.demo``: enqueue a batch of real tasks on SQLite, run them, print results."""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import time
from pathlib import Path

from omniq import OmniQ, TaskFailedError, TaskStatus
from omniq.demo.tasks import count_primes, digest, flaky_fetch, slow_report


def main() -> None:
    """Run the demo."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=2_000, help="number of quick tasks")
    parser.add_argument("--db", type=Path, default=None, help="database file (default: temp)")
    options = parser.parse_args()
    db_path = options.db or Path(tempfile.mkdtemp(prefix="omniq-demo-")) / "demo.db"

    with OmniQ(
        project_name="demo", backend_type="sqlite", db_path=db_path, queues=["high", "low"]
    ) as oq:
        print(f"OmniQ demo on SQLite: {db_path}\n")
        started = time.perf_counter()
        quick = oq.enqueue_many(
            digest,
            [{"text": f"document-{i}", "rounds": 200} for i in range(options.tasks)],
            queue_name="low",
        )
        enqueue_seconds = time.perf_counter() - started
        primes = [
            oq.enqueue(count_primes, {"start": lo, "stop": lo + 20_000}, queue_name="high",
                       name=f"primes {lo}-{lo + 20_000}", priority=10)
            for lo in range(0, 100_000, 20_000)
        ]  # fmt: skip
        flaky = oq.enqueue(flaky_fetch, {"url": "https://example.org/feed", "failures": 2},
                           queue_name="high", max_retries=3, retry_delay=0.05,
                           retry_backoff=2.0)  # fmt: skip
        doomed = oq.enqueue(flaky_fetch, {"url": "https://example.org/down", "failures": 99},
                            queue_name="high", max_retries=1, retry_delay=0.05)  # fmt: skip
        delayed = oq.enqueue(slow_report, {"name": "daily", "seconds": 0.2},
                             queue_name="high", run_in=dt.timedelta(seconds=0.5))  # fmt: skip
        print(f"enqueued {options.tasks:,} quick tasks in {enqueue_seconds * 1000:.0f} ms "
              f"({options.tasks / enqueue_seconds:,.0f}/s, one batch), plus 8 others")  # fmt: skip

        oq.start_worker(worker_type="thread_pool", max_workers=4)
        try:
            run_started = time.perf_counter()
            results = [oq.get_result(task_id, timeout=120) for task_id in quick]
            quick_seconds = time.perf_counter() - run_started
            prime_counts = [oq.get_result(task_id, timeout=120) for task_id in primes]
            flaky_result = oq.get_result(flaky, timeout=30)
            try:
                oq.get_result(doomed, timeout=30)
            except TaskFailedError as exc:
                doomed_error = f"{exc.error_type}: {exc.error_message}"
            report = oq.get_result(delayed, timeout=30)
        finally:
            oq.stop_worker()

        print(f"ran {len(results):,} quick tasks in {quick_seconds:.2f} s after the worker started "
              f"({len(results) / quick_seconds:,.0f} tasks/s end to end; the 5 CPU-heavy prime "
              "tasks of the 'high' queue went first)")  # fmt: skip
        print(f"  digest('document-0') = {results[0]}")
        print(f"primes below 100,000 (5 tasks on the 'high' queue): {sum(prime_counts):,}")
        print(f"flaky task, retried with backoff: {flaky_result}")
        print(f"task that kept failing: failed for good with {doomed_error}")
        delayed_task = oq.get_task(delayed)
        waited = 0.0
        if delayed_task is not None and delayed_task.started_at is not None:
            waited = (delayed_task.started_at - delayed_task.created_at).total_seconds()
        print(f"delayed task: {report} (started {waited:.2f} s after enqueue, run_in=0.5 s)")

        tasks = [oq.get_task(task_id) for task_id in quick]
        latencies = sorted(
            (t.finished_at - t.created_at).total_seconds() * 1000
            for t in tasks
            if t is not None and t.finished_at is not None
        )
        print(f"quick-task latency, enqueue to done (mostly waiting behind the batch): "
              f"p50 {statistics.median(latencies):.0f} ms, "
              f"p99 {latencies[int(len(latencies) * 0.99) - 1]:.0f} ms")  # fmt: skip
        statuses = [t.status for t in tasks if t is not None]
        done = statuses.count(TaskStatus.COMPLETED)
        print(f"statuses of the quick tasks: {done:,} completed of {len(statuses):,}")
        print("\nevents of the flaky task:")
        for event in oq.get_events(flaky):
            when = dt.datetime.fromtimestamp(event.timestamp).strftime("%H:%M:%S.%f")[:-3]
            extra = event.error or event.detail or ""
            print(f"  {when}  {event.type.value:<10} {extra}")
        print(f"\ndatabase file: {db_path}")


if __name__ == "__main__":
    main()
