"""Several worker processes watching one schedule in one SQLite file fire each run once."""

from __future__ import annotations

import math
import time
from collections import Counter
from pathlib import Path

import pytest

from omniq import EventType, OmniQ, TaskStatus
from omniq.core.portal import portal
from omniq.models.schedule import Schedule, ScheduleStatus
from omniq.storage.records import TaskRecord

from . import jobs
from .conftest import Proc, Procs, attempts_of, event_types, pid_of, wait_until

pytestmark = pytest.mark.slow

WORKERS = 3
#: Slack for times that went through a ``datetime`` (microsecond resolution).
EPS = 1e-3
#: How long every worker process takes at most to look at the schedules again (the 1 s
#: schedule check of the worker loop, plus slack).
ALL_WORKERS_LOOKED = 1.5


def sched(oq: OmniQ, schedule_id: str) -> Schedule:
    found = oq.get_schedule(schedule_id)
    assert found is not None, schedule_id
    return found


def runs_of(oq: OmniQ, schedule_id: str) -> list[TaskRecord]:
    return portal().call(oq.task_queue.schedule_runs(schedule_id))


def executions(log_dir: Path) -> dict[int, int]:
    """How many runs each worker process executed (one O_APPEND line per execution)."""
    return {int(path.stem): len(jobs.read_lines(path)) for path in log_dir.glob("*.log")}


def holds_for(condition: object, seconds: float, what: str) -> None:
    """Check ``condition`` throughout ``seconds``; fail the first time it is false."""
    assert callable(condition)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert condition(), f"{what} stopped holding"
        time.sleep(0.02)
    assert condition(), f"{what} stopped holding"


def start_workers(procs: Procs, db_path: Path) -> list[Proc]:
    # Leases far longer than the test: a duplicate execution could only come from a run
    # fired twice (or a double claim), never from a recovered lease.
    workers = [
        procs.worker(f"worker{i}", db_path, lease=60.0, max_workers=2) for i in range(WORKERS)
    ]
    for worker in workers:
        worker.wait_line("READY", 30)
    return workers


def stop_workers(workers: list[Proc]) -> None:
    for worker in workers:
        worker.signal()
    for worker in workers:
        worker.assert_clean_exit(30)


def check_runs(
    oq: OmniQ, db_path: Path, log_dir: Path, sid: str, workers: list[Proc], count: int
) -> list[TaskRecord]:
    """Every run is a distinct task, claimed once, executed once, by the process recorded."""
    runs = runs_of(oq, sid)
    assert len(runs) == count
    assert len({run.id for run in runs}) == count
    assert all(run.schedule_id == sid for run in runs)
    ran = executions(log_dir)
    assert sum(ran.values()) == count, ran
    assert set(ran) <= {worker.pid for worker in workers}
    by_pid: Counter[int] = Counter()
    for run in runs:
        task = oq.get_task(run.id)
        assert task is not None
        assert task.status is TaskStatus.COMPLETED
        assert task.retry_count == 0
        assert attempts_of(db_path, run.id) == 1
        # One of each: enqueued (fired) once, claimed once, run once. (Their order is checked
        # by tests/api/test_schedules.py::test_a_run_is_enqueued_before_it_is_claimed.)
        assert Counter(event_types(oq.get_events(run.id))) == {
            EventType.ENQUEUED: 1,
            EventType.DEQUEUED: 1,
            EventType.EXECUTING: 1,
            EventType.COMPLETED: 1,
        }
        by_pid[pid_of(task.worker_id)] += 1
    assert dict(by_pid) == ran  # the side effects agree with the store
    return runs


@pytest.mark.timeout(120)
def test_three_worker_processes_fire_each_run_exactly_once(
    procs: Procs, db_path: Path, oq: OmniQ, tmp_path: Path
) -> None:
    interval, max_runs = 0.1, 20
    log_dir = tmp_path / "executions"
    log_dir.mkdir()
    workers = start_workers(procs, db_path)

    sid = oq.schedule(
        jobs.record,
        func_args={"n": 3, "log_dir": str(log_dir)},
        interval=interval,
        max_runs=max_runs,
    )
    first_due = sched(oq, sid).next_run_at
    assert first_due is not None

    wait_until(
        lambda: sched(oq, sid).status is ScheduleStatus.COMPLETED, 60, "the schedule to complete"
    )
    wait_until(lambda: sum(executions(log_dir).values()) >= max_runs, 30, "every run to execute")
    # Every process looks at the schedules at least once more: nothing fires any more.
    holds_for(
        lambda: (
            sched(oq, sid).run_count == max_runs
            and sum(executions(log_dir).values()) == max_runs
            and len(runs_of(oq, sid)) == max_runs
        ),
        ALL_WORKERS_LOOKED,
        f"exactly {max_runs} runs",
    )
    stop_workers(workers)

    done = sched(oq, sid)
    assert (done.status, done.run_count, done.next_run_at) == (
        ScheduleStatus.COMPLETED,
        max_runs,
        None,
    )
    runs = check_runs(oq, db_path, log_dir, sid, workers, max_runs)
    assert oq.get_result(schedule_id=sid, kind="all") == [9] * max_runs
    # No due time fired twice: the i-th run fired no earlier than the i-th due time (a run
    # fired twice would make every later run early by one interval).
    fired = [run.created_at for run in runs]
    assert fired == sorted(fired)
    for i, at in enumerate(fired):
        assert at >= first_due.timestamp() + i * interval - EPS, (i, fired)


@pytest.mark.timeout(120)
def test_missed_runs_fire_once_when_several_workers_start_together(
    procs: Procs, db_path: Path, oq: OmniQ, tmp_path: Path
) -> None:
    interval, max_runs = 0.2, 4
    log_dir = tmp_path / "executions"
    log_dir.mkdir()
    sid = oq.schedule(
        jobs.record,
        func_args={"n": 2, "log_dir": str(log_dir)},
        interval=interval,
        max_runs=max_runs,
    )
    due = sched(oq, sid).next_run_at
    assert due is not None
    first_due = due.timestamp()
    # No worker yet: at least six due times pass unfired.
    wait_until(lambda: time.time() > first_due + 5 * interval, 10, "six missed due times")
    assert sched(oq, sid).run_count == 0

    started = time.time()
    workers = start_workers(procs, db_path)  # each fires what is due as soon as it starts
    wait_until(lambda: sched(oq, sid).status is ScheduleStatus.COMPLETED, 30, "completion")
    wait_until(lambda: sum(executions(log_dir).values()) >= max_runs, 30, "the executions")
    holds_for(lambda: sum(executions(log_dir).values()) == max_runs, ALL_WORKERS_LOOKED, "4 runs")
    stop_workers(workers)

    runs = check_runs(oq, db_path, log_dir, sid, workers, max_runs)
    fired = [run.created_at for run in runs]
    assert fired[0] >= started
    # One run for all the missed ones, then each on the grid after it.
    grid_next = first_due + (math.floor((fired[0] - first_due) / interval) + 1) * interval
    assert sum(1 for at in fired if at < grid_next - EPS) == 1, fired
    for i, at in enumerate(fired[1:]):
        assert at >= grid_next + i * interval - EPS, (i, fired)


@pytest.mark.timeout(120)
def test_each_run_fires_once_while_six_processes_race_for_it(
    procs: Procs, db_path: Path, oq: OmniQ, tmp_path: Path
) -> None:
    """Worker processes plus processes that look for due runs every millisecond."""
    interval, max_runs = 0.1, 20
    log_dir = tmp_path / "executions"
    log_dir.mkdir()
    stop = tmp_path / "stop-firing"
    workers = start_workers(procs, db_path)
    firers = [
        procs.spawn(f"firer{i}", "fire_schedules.py", f"--db={db_path}", f"--stop-file={stop}")
        for i in range(WORKERS)
    ]
    for firer in firers:
        firer.wait_line("READY", 30)

    sid = oq.schedule(
        jobs.record,
        func_args={"n": 4, "log_dir": str(log_dir)},
        interval=interval,
        max_runs=max_runs,
    )
    first_due = sched(oq, sid).next_run_at
    assert first_due is not None
    wait_until(
        lambda: sched(oq, sid).status is ScheduleStatus.COMPLETED, 60, "the schedule to complete"
    )
    wait_until(lambda: sum(executions(log_dir).values()) >= max_runs, 30, "the executions")
    holds_for(
        lambda: (
            sched(oq, sid).run_count == max_runs and sum(executions(log_dir).values()) == max_runs
        ),
        ALL_WORKERS_LOOKED,
        f"exactly {max_runs} runs",
    )
    stop.touch()
    fired_by_firers = [int(firer.wait_line("FIRED", 30).split()[1]) for firer in firers]
    for firer in firers:
        firer.assert_clean_exit(30)
    stop_workers(workers)

    assert sum(fired_by_firers) <= max_runs, fired_by_firers
    assert sched(oq, sid).run_count == max_runs
    runs = check_runs(oq, db_path, log_dir, sid, workers, max_runs)
    assert oq.get_result(schedule_id=sid, kind="all") == [16] * max_runs
    fired = [run.created_at for run in runs]
    assert fired == sorted(fired)
    for i, at in enumerate(fired):
        assert at >= first_due.timestamp() + i * interval - EPS, (i, fired, fired_by_firers)
