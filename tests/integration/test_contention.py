"""Several worker processes racing for the same tasks in one SQLite file."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest

from omniq import EventType, OmniQ, TaskStatus

from . import jobs
from .conftest import Procs, event_types, pid_of

pytestmark = pytest.mark.slow

WORKERS = 3
TASKS = 1000


@pytest.mark.timeout(180)
def test_every_task_runs_exactly_once_across_worker_processes(
    procs: Procs, db_path: Path, oq: OmniQ, tmp_path: Path
) -> None:
    log_dir = tmp_path / "executions"
    log_dir.mkdir()
    # Leases far longer than the test: a duplicate run could only come from a double claim.
    workers = [
        procs.worker(f"worker{i}", db_path, lease=60.0, max_workers=4) for i in range(WORKERS)
    ]
    for worker in workers:
        worker.wait_line("READY", 30)

    # 2 ms of work per task: no single worker can drain the queue before the others' first
    # polls, even on a loaded machine, so every process really competes.
    ids = oq.enqueue_many(
        jobs.record,
        [{"n": n, "log_dir": str(log_dir), "work_seconds": 0.002} for n in range(TASKS)],
    )
    deadline = time.monotonic() + 120
    results = [oq.get_result(i, timeout=max(0.0, deadline - time.monotonic())) for i in ids]
    assert results == [n * n for n in range(TASKS)]

    for worker in workers:
        worker.signal()
    for worker in workers:
        worker.assert_clean_exit(30)

    executed_by = {
        int(path.stem): [int(n) for n in jobs.read_lines(path)] for path in log_dir.glob("*.log")
    }
    executed = Counter(n for numbers in executed_by.values() for n in numbers)
    duplicates = sorted(n for n, count in executed.items() if count > 1)
    missing = sorted(set(range(TASKS)) - set(executed))
    assert not duplicates, f"run more than once: {duplicates[:20]}"
    assert not missing, f"never run: {missing[:20]}"
    assert set(executed_by) == {worker.pid for worker in workers}  # all of them competed

    # The store agrees with the side effects: the worker recorded on each task is the
    # process that ran it, and each task went through one clean claim.
    ran_in = {n: pid for pid, numbers in executed_by.items() for n in numbers}
    for n, task_id in enumerate(ids):
        task = oq.get_task(task_id)
        assert task is not None
        assert task.status is TaskStatus.COMPLETED
        assert task.retry_count == 0
        assert pid_of(task.worker_id) == ran_in[n]
        assert event_types(oq.get_events(task_id)) == [
            EventType.ENQUEUED,
            EventType.DEQUEUED,
            EventType.EXECUTING,
            EventType.COMPLETED,
        ]
