"""The file backend shared by processes: exclusive claims, and recovery after a SIGKILL."""

from __future__ import annotations

import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from omniq import EventType, OmniQ, TaskStatus

from . import jobs
from .conftest import PROJECT, Proc, Procs, event_types, pid_of, wait_until

pytestmark = pytest.mark.slow

WORKERS = 3
TASKS = 600
RECOVERY_LOG = (r"recovered \d+ tasks whose worker died",)


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def oq(store: Path) -> Iterator[OmniQ]:
    with OmniQ(project_name=PROJECT, backend_type="file", path=store) as instance:
        yield instance


def ran(log_dir: Path) -> int:
    """How many task bodies ran so far (every worker's lines)."""
    return sum(len(jobs.read_lines(path)) for path in log_dir.glob("*.log"))


def file_worker(procs: Procs, name: str, store: Path, **options: object) -> Proc:
    flags = [f"--{key.replace('_', '-')}={value}" for key, value in options.items()]
    return procs.spawn(name, "file_worker.py", f"--path={store}", *flags)


@pytest.mark.timeout(180)
def test_every_task_runs_exactly_once_across_worker_processes(
    procs: Procs, store: Path, oq: OmniQ, tmp_path: Path
) -> None:
    log_dir = tmp_path / "executions"
    log_dir.mkdir()
    # Leases far longer than the test: a duplicate run could only come from a double claim.
    workers = [
        file_worker(procs, f"worker{i}", store, lease=60.0, max_workers=4) for i in range(WORKERS)
    ]
    for worker in workers:
        worker.wait_line("READY", 30)
    ids = oq.enqueue_many(
        jobs.record,
        [{"n": n, "log_dir": str(log_dir), "work_seconds": 0.002} for n in range(TASKS)],
    )
    deadline = time.monotonic() + 150
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
    ran_in = {n: pid for pid, numbers in executed_by.items() for n in numbers}
    for n, task_id in enumerate(ids):
        task = oq.get_task(task_id)
        assert task is not None
        assert task.status is TaskStatus.COMPLETED
        assert pid_of(task.worker_id) == ran_in[n]
        assert event_types(oq.get_events(task_id)) == [
            EventType.ENQUEUED, EventType.DEQUEUED, EventType.EXECUTING, EventType.COMPLETED,
        ]  # fmt: skip
    # Nothing is left in the claim index or among the running entries.
    project = store / PROJECT
    assert not [p for p in (project / "queues").rglob("*") if p.is_file()]
    assert not list((project / "running").iterdir())


@pytest.mark.timeout(90)
def test_task_of_a_killed_worker_is_completed_by_another(
    procs: Procs, store: Path, oq: OmniQ, tmp_path: Path
) -> None:
    runs, release = tmp_path / "runs.log", tmp_path / "release"
    task_id = oq.enqueue(
        jobs.block_until,
        func_args={"runs": str(runs), "release": str(release), "max_wait": 30.0},
        max_retries=1,
    )
    victim = file_worker(procs, "victim", store, lease=3.0, max_workers=1)  # not expired by a stall
    wait_until(lambda: jobs.read_lines(runs), 30, "the task to start in the victim")
    task = oq.get_task(task_id)
    assert task is not None
    assert task.status is TaskStatus.EXECUTING
    assert pid_of(task.worker_id) == victim.pid
    victim.signal(signal.SIGKILL)
    assert victim.wait_exit(10) == -signal.SIGKILL

    release.touch()
    rescuer = file_worker(procs, "rescuer", store, lease=1.0)
    assert oq.get_result(task_id, timeout=30) == f"released in {rescuer.pid}"
    assert [int(pid) for pid in jobs.read_lines(runs)] == [victim.pid, rescuer.pid]
    events = oq.get_events(task_id)
    assert event_types(events) == [
        EventType.ENQUEUED,
        EventType.DEQUEUED,
        EventType.EXECUTING,
        EventType.RETRYING,  # written by the rescuer's lease recovery
        EventType.DEQUEUED,
        EventType.EXECUTING,
        EventType.COMPLETED,
    ]
    assert events[3].error is not None
    assert "lease expired" in events[3].error
    rescuer.signal()
    rescuer.assert_clean_exit(30, allowed_stderr=RECOVERY_LOG)


@pytest.mark.timeout(120)
def test_a_worker_killed_while_claiming_loses_no_task(
    procs: Procs, store: Path, oq: OmniQ, tmp_path: Path
) -> None:
    """SIGKILL a busy worker at random points of its claims and writes: every task still runs.

    Whatever a kill interrupts (a rename into ``running/``, a task file write, a
    completion), the survivor finds the task again: through its lease, or through the
    running entry left behind.
    """
    log_dir = tmp_path / "executions"
    log_dir.mkdir()
    ids = oq.enqueue_many(jobs.record, [{"n": n, "log_dir": str(log_dir)} for n in range(300)])
    for round_no in range(3):
        victim = file_worker(procs, f"victim{round_no}", store, lease=1.0, max_workers=4)
        victim.wait_line("READY", 30)
        target = 20 * (round_no + 1)
        wait_until(lambda target=target: ran(log_dir) > target, 30, "some tasks to run")
        victim.signal(signal.SIGKILL)
        victim.wait_exit(10)
    survivor = file_worker(procs, "survivor", store, lease=1.0, max_workers=4)
    deadline = time.monotonic() + 90
    results = [oq.get_result(i, timeout=max(0.0, deadline - time.monotonic())) for i in ids]
    assert results == [n * n for n in range(300)]
    survivor.signal()
    survivor.assert_clean_exit(30, allowed_stderr=RECOVERY_LOG)
