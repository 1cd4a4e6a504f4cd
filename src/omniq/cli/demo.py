"""``omniq demo``: the README's main job, on the embedded SQLite default.

Enqueues a batch of real tasks (quick hashing, CPU-heavy prime counts, slow I/O-like reports,
a flaky task that succeeds after retries, one that fails for good, delayed tasks and a
schedule), runs them with a worker in this process while a progress bar follows the store,
and ends with a summary: counts by status, throughput, latency percentiles and where the
database file is.
"""

from __future__ import annotations

import datetime as dt
import tempfile
import time
from pathlib import Path

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from omniq.cli.output import console, json_option, print_json
from omniq.core.omniq import OmniQ
from omniq.demo.tasks import count_primes, digest, flaky_fetch, slow_report
from omniq.models.task import Task, TaskStatus

__all__ = ["demo"]

_SCHEDULED_RUNS = 3


@click.command()
@json_option
@click.option(
    "--tasks",
    "quick",
    type=click.IntRange(min=1),
    default=2_000,
    show_default=True,
    help="Number of quick tasks.",
)
@click.option(
    "--db-path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Database file (default: a new temporary directory).",
)
@click.option("--concurrency", "-n", type=click.IntRange(min=1), default=4, show_default=True)
def demo(as_json: bool, quick: int, db_path: Path | None, concurrency: int) -> None:
    """Enqueue a mix of real tasks on SQLite, run them with a worker, summarize."""
    db_path = db_path or Path(tempfile.mkdtemp(prefix="omniq-demo-")) / "demo.db"
    with OmniQ(
        project_name="demo", backend_type="sqlite", db_path=db_path, queues=["high", "low"]
    ) as oq:
        started = time.perf_counter()
        ids = _enqueue(oq, quick)
        schedule_id = oq.schedule(
            slow_report,
            {"name": "heartbeat", "seconds": 0.05},
            queue_name="high",
            interval=0.3,
            max_runs=_SCHEDULED_RUNS,
            name="scheduled report",
        )
        expected = len(ids) + _SCHEDULED_RUNS
        enqueue_seconds = time.perf_counter() - started
        oq.start_worker(worker_type="thread_pool", max_workers=concurrency)
        run_started = time.perf_counter()
        try:
            _follow(oq, expected, quiet=as_json)
        finally:
            oq.stop_worker()
        run_seconds = time.perf_counter() - run_started
        runs = [t.id for t in oq.list_tasks(limit=expected + 10) if t.name == "scheduled report"]
        done = [task for task in map(oq.get_task, [*ids, *runs]) if task is not None]
        summary = _summary(done, enqueue_seconds, run_seconds, db_path)
        summary["schedule"] = {"id": schedule_id, "runs": len(runs)}
    if as_json:
        print_json(summary)
    else:
        _print(summary)


def _enqueue(oq: OmniQ, quick: int) -> list[str]:
    ids = oq.enqueue_many(
        digest, [{"text": f"document-{i}", "rounds": 200} for i in range(quick)], queue_name="low"
    )
    ids += [
        oq.enqueue(
            count_primes,
            {"start": lo, "stop": lo + 20_000},
            queue_name="high",
            name=f"primes {lo}-{lo + 20_000}",
            priority=10,
        )
        for lo in range(0, 100_000, 20_000)
    ]
    ids += [
        oq.enqueue(slow_report, {"name": f"report-{i}", "seconds": 0.3}, queue_name="high")
        for i in range(4)
    ]
    ids.append(
        oq.enqueue(
            flaky_fetch,
            {"url": "https://example.org/feed", "failures": 2},
            queue_name="high",
            max_retries=3,
            retry_delay=0.05,
            retry_backoff=2.0,
            name="flaky fetch",
        )
    )
    ids.append(
        oq.enqueue(
            flaky_fetch,
            {"url": "https://example.org/down", "failures": 99},
            queue_name="high",
            max_retries=1,
            retry_delay=0.05,
            name="doomed fetch",
        )
    )
    ids += [
        oq.enqueue(
            slow_report,
            {"name": f"delayed-{i}", "seconds": 0.1},
            queue_name="high",
            run_in=dt.timedelta(seconds=0.5 + i * 0.25),
            name=f"delayed {i}",
        )
        for i in range(3)
    ]
    return ids


def _follow(oq: OmniQ, expected: int, *, quiet: bool) -> None:
    """Poll the store's counts until every task and scheduled run is final."""
    final = [status.value for status in TaskStatus if status.is_final]
    deadline = time.monotonic() + 600
    with Progress(
        TextColumn("[bold]running"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
        console=console,
        disable=quiet,
        transient=False,
    ) as progress:
        bar = progress.add_task("tasks", total=expected, detail="")
        while time.monotonic() < deadline:
            totals = oq.stats().totals
            finished = sum(totals.get(name, 0) for name in final)
            detail = ", ".join(
                f"{totals[name]} {name}"
                for name in ("executing", "retrying", "failed")
                if totals.get(name)
            )
            progress.update(bar, completed=min(finished, expected), detail=detail)
            if finished >= expected:
                return
            time.sleep(0.1)


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(len(ordered) * fraction + 0.5) - 1))]


def _summary(tasks: list[Task], enqueue_s: float, run_s: float, db_path: Path) -> dict[str, object]:
    counts: dict[str, int] = {}
    for task in tasks:
        counts[task.status.value] = counts.get(task.status.value, 0) + 1
    latencies = [
        (task.finished_at - task.created_at).total_seconds() * 1000
        for task in tasks
        if task.finished_at is not None and task.status is TaskStatus.COMPLETED
    ]
    return {
        "tasks": len(tasks),
        "counts": counts,
        "enqueue_seconds": round(enqueue_s, 3),
        "run_seconds": round(run_s, 3),
        "throughput_per_second": round(len(tasks) / run_s, 1) if run_s else None,
        "latency_ms": {
            "p50": round(_percentile(latencies, 0.50), 1) if latencies else None,
            "p99": round(_percentile(latencies, 0.99), 1) if latencies else None,
        },
        "db_path": str(db_path),
    }


def _print(summary: dict[str, object]) -> None:
    table = Table(title="OmniQ demo summary", title_justify="left", show_header=False)
    counts = summary["counts"]
    assert isinstance(counts, dict)
    for status, count in sorted(counts.items()):
        table.add_row(f"{status}", str(count))
    latency = summary["latency_ms"]
    assert isinstance(latency, dict)
    table.add_row("tasks run", f"{summary['tasks']} in {summary['run_seconds']} s")
    table.add_row("throughput", f"{summary['throughput_per_second']} tasks/s (end to end)")
    table.add_row(
        "latency p50 / p99",
        f"{latency['p50']} ms / {latency['p99']} ms "
        "(enqueue to done, mostly waiting behind the batch)",
    )
    table.add_row("database file", str(summary["db_path"]))
    console.print(table)
    console.print(f"Look inside: omniq status --db-path {summary['db_path']}")
