"""``omniq demo``: the README's main job, on the embedded SQLite default.

Enqueues a batch of real tasks (quick hashing, CPU-heavy prime counts, slow I/O-like reports,
a flaky task that succeeds after retries, one that fails for good, delayed tasks and a
schedule) and runs them with a worker in this process while a progress bar follows the store.
Then it reads back what the tasks did (a digest, the number of primes below 100,000, the flaky
task's result and attempts, the error of the task that failed for good, a delayed task's report
and when it started, the schedule's runs and the flaky task's events) and ends with a summary:
counts by status, throughput, latency percentiles and where the database file is.
``python -m omniq.demo`` runs this same command.

It runs in strict mode (plain data only, and only the functions of ``omniq.demo``), the
setting the security docs recommend, so its worker does not warn that it runs unprotected.
Without ``--db-path`` the store lives in a new temporary directory, removed at the end unless
``--keep`` is given; the closing hint then names a command that works from where the demo
ran (``.venv/bin/omniq`` in a clone whose virtual environment is not activated).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from omniq.api import OmniQ
from omniq.cli.output import console, json_option, print_json
from omniq.demo.tasks import count_primes, digest, flaky_fetch, slow_report
from omniq.exceptions import TaskFailedError, TaskNotFoundError
from omniq.models.event import TaskEvent
from omniq.models.task import Task, TaskStatus

__all__ = ["demo"]

_SCHEDULED_RUNS = 3
_SCHEDULE_INTERVAL_SECONDS = 0.3
_PRIMES_BELOW = 100_000
_PRIMES_PER_TASK = 20_000
_DELAYS_SECONDS = (0.5, 0.75, 1.0)


@dataclass(frozen=True)
class _DemoTaskIds:
    """The ids of the tasks the demo enqueued, kept apart by role.

    Attributes:
        quick: The quick hashing tasks, ``document-0`` first.
        primes: The prime counts that together cover ``[0, 100,000)``.
        reports: The slow I/O-like reports.
        flaky: The fetch that fails twice, then succeeds on its third attempt.
        doomed: The fetch that fails on every attempt, so it fails for good.
        delayed: The delayed reports, one per entry of ``_DELAYS_SECONDS``, in that order.
    """

    quick: list[str]
    primes: list[str]
    reports: list[str]
    flaky: str
    doomed: str
    delayed: list[str]

    @property
    def all(self) -> list[str]:
        """Every id, in the order the tasks were enqueued."""
        return [*self.quick, *self.primes, *self.reports, self.flaky, self.doomed, *self.delayed]


@dataclass(frozen=True)
class _RetriedOutcome:
    """What the flaky task returned once its retries paid off.

    Attributes:
        result: The value of its last, successful attempt.
        attempts: How many attempts it took.
    """

    result: str
    attempts: int


@dataclass(frozen=True)
class _FailedOutcome:
    """Why the doomed task failed for good.

    Attributes:
        error_type: The name of the exception its last attempt raised.
        error_message: ``str()`` of that exception.
        attempts: How many attempts it had.
    """

    error_type: str
    error_message: str
    attempts: int


@dataclass(frozen=True)
class _DelayedOutcome:
    """A delayed task's report and how long after its enqueue it started.

    Attributes:
        report: The value it returned.
        run_in_seconds: The delay it was enqueued with.
        started_after_seconds: Seconds from its enqueue to its start.
    """

    report: str
    run_in_seconds: float
    started_after_seconds: float


@dataclass(frozen=True)
class _DemoResults:
    """What the demo's tasks did, read back from the store.

    Attributes:
        digest_of_document_0: The result of the first quick task, ``digest("document-0")``.
        primes_below_100000: The sum of the prime counts (9,592).
        flaky: The flaky task's result and attempts.
        doomed: The error of the task that failed for good.
        delayed: The first delayed task's report and start delay.
        schedule_runs: The results of the schedule's runs, oldest first.
        flaky_events: The flaky task's lifecycle events, oldest first.
    """

    digest_of_document_0: str
    primes_below_100000: int
    flaky: _RetriedOutcome
    doomed: _FailedOutcome
    delayed: _DelayedOutcome
    schedule_runs: list[str]
    flaky_events: list[TaskEvent]


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
@click.option(
    "--keep",
    is_flag=True,
    help="Keep the temporary directory of the store (without --db-path it is removed).",
)
def demo(as_json: bool, quick: int, db_path: Path | None, concurrency: int, keep: bool) -> None:
    """Enqueue a mix of real tasks on SQLite, run them with a worker, show results, summarize."""
    temporary = None if db_path is not None else Path(tempfile.mkdtemp(prefix="omniq-demo-"))
    try:
        _run_demo(as_json, quick, db_path or Path(temporary or ".") / "demo.db", concurrency,
                  kept=temporary is None or keep)  # fmt: skip
    finally:
        if temporary is not None and not keep:
            shutil.rmtree(temporary, ignore_errors=True)


def _run_demo(as_json: bool, quick: int, db_path: Path, concurrency: int, kept: bool) -> None:
    """The demo on ``db_path``; ``kept`` says whether the file outlives the command."""
    with OmniQ(
        project_name="demo",
        backend_type="sqlite",
        db_path=db_path,
        queues=["high", "low"],
        strict_serialization=True,
        allowed_modules=["omniq.demo"],
    ) as oq:
        started = time.perf_counter()
        ids = _enqueue(oq, quick)
        schedule_id = _schedule(oq)
        expected = len(ids.all) + _SCHEDULED_RUNS
        enqueue_seconds = time.perf_counter() - started
        oq.start_worker(worker_type="thread_pool", max_workers=concurrency)
        run_started = time.perf_counter()
        try:
            _follow(oq, expected, quiet=as_json)
        finally:
            oq.stop_worker()
        run_seconds = time.perf_counter() - run_started
        runs = [t.id for t in oq.list_tasks(limit=expected + 10) if t.name == "scheduled report"]
        done = [task for task in map(oq.get_task, [*ids.all, *runs]) if task is not None]
        summary = _summary(done, enqueue_seconds, run_seconds, db_path)
        summary["kept"] = kept
        summary["schedule"] = {"id": schedule_id, "runs": len(runs)}
        results = _results(oq, ids, schedule_id)
    if as_json:
        print_json({**summary, "results": results})
    else:
        _print_results(results)
        _print_summary(summary)


def _enqueue(oq: OmniQ, quick: int) -> _DemoTaskIds:
    """Enqueue the demo's tasks, the quick ones first, in one batch."""
    return _DemoTaskIds(
        quick=oq.enqueue_many(
            digest,
            [{"text": f"document-{i}", "rounds": 200} for i in range(quick)],
            queue_name="low",
        ),
        primes=[_enqueue_primes(oq, lo) for lo in range(0, _PRIMES_BELOW, _PRIMES_PER_TASK)],
        reports=[
            oq.enqueue(slow_report, {"name": f"report-{i}", "seconds": 0.3}, queue_name="high")
            for i in range(4)
        ],
        flaky=_enqueue_fetch(oq, "https://example.org/feed", 2, max_retries=3, name="flaky"),
        doomed=_enqueue_fetch(oq, "https://example.org/down", 99, max_retries=1, name="doomed"),
        delayed=[
            oq.enqueue(
                slow_report,
                {"name": f"delayed-{i}", "seconds": 0.1},
                queue_name="high",
                run_in=dt.timedelta(seconds=delay),
                name=f"delayed {i}",
            )
            for i, delay in enumerate(_DELAYS_SECONDS)
        ],
    )


def _enqueue_primes(oq: OmniQ, lo: int) -> str:
    """Enqueue a count of the primes in ``[lo, lo + _PRIMES_PER_TASK)``, ahead of the rest."""
    hi = lo + _PRIMES_PER_TASK
    return oq.enqueue(
        count_primes,
        {"start": lo, "stop": hi},
        queue_name="high",
        name=f"primes {lo}-{hi}",
        priority=10,
    )


def _enqueue_fetch(oq: OmniQ, url: str, failures: int, *, max_retries: int, name: str) -> str:
    """Enqueue a fetch of ``url`` whose first ``failures`` attempts fail."""
    return oq.enqueue(
        flaky_fetch,
        {"url": url, "failures": failures},
        queue_name="high",
        max_retries=max_retries,
        retry_delay=0.05,
        retry_backoff=2.0,
        name=f"{name} fetch",
    )


def _schedule(oq: OmniQ) -> str:
    """Schedule a short report that runs ``_SCHEDULED_RUNS`` times."""
    return oq.schedule(
        slow_report,
        {"name": "heartbeat", "seconds": 0.05},
        queue_name="high",
        interval=_SCHEDULE_INTERVAL_SECONDS,
        max_runs=_SCHEDULED_RUNS,
        name="scheduled report",
    )


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


def _results(oq: OmniQ, ids: _DemoTaskIds, schedule_id: str) -> _DemoResults:
    """Read back what the tasks did (every task is final by now, so nothing waits)."""
    return _DemoResults(
        digest_of_document_0=str(oq.get_result(ids.quick[0], timeout=0)),
        primes_below_100000=sum(int(oq.get_result(task_id, timeout=0)) for task_id in ids.primes),
        flaky=_RetriedOutcome(
            result=str(oq.get_result(ids.flaky, timeout=0)),
            attempts=_attempts(_final_task(oq, ids.flaky)),
        ),
        doomed=_failure(oq, ids.doomed),
        delayed=_delayed(oq, ids.delayed[0], _DELAYS_SECONDS[0]),
        schedule_runs=[str(run) for run in oq.get_result(schedule_id=schedule_id, kind="all")],
        flaky_events=oq.get_events(ids.flaky),
    )


def _final_task(oq: OmniQ, task_id: str) -> Task:
    """The task with this id.

    Raises:
        TaskNotFoundError: The store has no such task.
    """
    task = oq.get_task(task_id)
    if task is None:
        raise TaskNotFoundError(task_id)
    return task


def _attempts(task: Task) -> int:
    """How many times a final task ran: its first attempt plus its retries."""
    return task.retry_count + 1


def _failure(oq: OmniQ, task_id: str) -> _FailedOutcome:
    """The error of a task that failed for good.

    Raises:
        click.ClickException: The task did not fail.
    """
    try:
        oq.get_result(task_id, timeout=0)
    except TaskFailedError as exc:
        attempts = _attempts(_final_task(oq, task_id))
        return _FailedOutcome(exc.error_type, exc.error_message, attempts)
    raise click.ClickException(f"task {task_id!r} was meant to fail for good but completed")


def _delayed(oq: OmniQ, task_id: str, run_in_seconds: float) -> _DelayedOutcome:
    """A delayed task's report and how long after its enqueue it started."""
    report = str(oq.get_result(task_id, timeout=0))
    task = _final_task(oq, task_id)
    assert task.started_at is not None, "a completed task has a start time"
    waited = (task.started_at - task.created_at).total_seconds()
    return _DelayedOutcome(report, run_in_seconds, round(waited, 3))


def _percentile(values: list[float], fraction: float) -> float:
    """The value below which ``fraction`` of ``values`` lie (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(len(ordered) * fraction + 0.5) - 1))]


def _summary(tasks: list[Task], enqueue_s: float, run_s: float, db_path: Path) -> dict[str, object]:
    """Counts by status, timings, throughput and latency percentiles of ``tasks``."""
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


def _print_results(results: _DemoResults) -> None:
    """Print what the tasks returned, then the flaky task's events."""
    table = Table(title="OmniQ demo results", title_justify="left", show_header=False)
    table.add_row("digest('document-0')", Text(results.digest_of_document_0))
    table.add_row(
        "primes below 100,000", f"{results.primes_below_100000:,} (sum of 5 prime-count tasks)"
    )
    flaky = results.flaky
    table.add_row("flaky task", Text(f"{flaky.result} (retried with backoff)"))
    doomed = results.doomed
    table.add_row(
        "task that kept failing",
        Text(
            f"failed for good after {doomed.attempts} attempts with "
            f"{doomed.error_type}: {doomed.error_message}"
        ),
    )
    delayed = results.delayed
    table.add_row(
        "delayed task",
        Text(
            f"{delayed.report} (started {delayed.started_after_seconds:.2f} s after enqueue, "
            f"run_in={delayed.run_in_seconds} s)"
        ),
    )
    table.add_row(
        f"schedule, every {_SCHEDULE_INTERVAL_SECONDS} s",
        Text(f"{len(results.schedule_runs)} runs: " + "; ".join(results.schedule_runs)),
    )
    console.print(table)
    console.print(_events_table(results.flaky_events))


def _events_table(events: list[TaskEvent]) -> Table:
    """The events of one task as a table: time, seconds since the first, type, details."""
    table = Table(title="Events of the flaky task", title_justify="left", show_header=False)
    first = events[0].timestamp if events else 0.0
    for event in events:
        when = dt.datetime.fromtimestamp(event.timestamp).strftime("%H:%M:%S.%f")[:-3]
        details = "; ".join(filter(None, [event.detail, event.error]))
        table.add_row(when, f"+{event.timestamp - first:.3f} s", event.type.value, Text(details))
    return table


def _print_summary(summary: dict[str, object]) -> None:
    """Print counts by status, throughput, latency and the database file."""
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
    command = omniq_command()
    if summary["kept"]:
        table.add_row("database file", str(summary["db_path"]))
        console.print(table)
        console.print(f"Look inside: {command} status --db-path {summary['db_path']}")
    else:
        table.add_row("database file", f"{summary['db_path']} (temporary, removed)")
        console.print(table)
        console.print(
            f"To look inside afterwards: {command} demo --keep, "
            f"then {command} status --db-path <the file it prints>"
        )


def omniq_command() -> str:
    """How to run this ``omniq`` from the current directory, as a hint to print.

    ``omniq`` when the shell finds this same command on ``PATH``; else the script beside this
    interpreter, relative to the current directory when it lies below it (``.venv/bin/omniq``
    in a clone whose virtual environment is not activated).
    """
    script = Path(sys.executable).parent / "omniq"
    found = shutil.which("omniq")
    if found is not None and script.exists() and Path(found).resolve() == script.resolve():
        return "omniq"
    if not script.exists():
        return f"{sys.executable} -m omniq.cli"
    try:
        return (
            str(Path(os.path.relpath(script))) if script.is_relative_to(Path.cwd()) else str(script)
        )
    except ValueError:  # another drive (Windows)
        return str(script)
