"""A worker process SIGKILLed mid-task: another worker recovers the task once its lease ends."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from omniq import EventType, OmniQ, TaskFailedError, TaskStatus

from . import jobs
from .conftest import Procs, event_types, pid_of, wait_until

pytestmark = pytest.mark.slow

RECOVERY_LOG = (r"recovered \d+ tasks whose worker died",)


def kill_mid_run(procs: Procs, db_path: Path, oq: OmniQ, task_id: str, runs: Path) -> int:
    """Start a worker with a 3 s lease, wait until it runs the task, SIGKILL it.

    Not shorter: the victim's own maintenance takes back an expired lease, so a renewal
    late by a loaded machine's stall must not expire it before the kill.
    """
    victim = procs.worker("victim", db_path, lease=3.0, max_workers=1)
    wait_until(lambda: jobs.read_lines(runs), 30, "the task to start in the victim")
    task = oq.get_task(task_id)
    assert task is not None
    assert task.status is TaskStatus.EXECUTING
    assert pid_of(task.worker_id) == victim.pid
    victim.signal(signal.SIGKILL)
    assert victim.wait_exit(10) == -signal.SIGKILL
    task = oq.get_task(task_id)
    assert task is not None
    assert task.status is TaskStatus.EXECUTING  # nobody is left to say otherwise
    return victim.pid


@pytest.mark.timeout(90)
def test_task_of_a_killed_worker_is_completed_by_another(
    procs: Procs, db_path: Path, oq: OmniQ, tmp_path: Path
) -> None:
    runs, release = tmp_path / "runs.log", tmp_path / "release"
    task_id = oq.enqueue(
        jobs.block_until,
        func_args={"runs": str(runs), "release": str(release), "max_wait": 30.0},
        max_retries=1,
    )
    victim_pid = kill_mid_run(procs, db_path, oq, task_id, runs)

    release.touch()
    rescuer = procs.worker("rescuer", db_path, lease=1.0)
    assert oq.get_result(task_id, timeout=30) == f"released in {rescuer.pid}"

    assert [int(pid) for pid in jobs.read_lines(runs)] == [victim_pid, rescuer.pid]
    task = oq.get_task(task_id)
    assert task is not None
    assert task.status is TaskStatus.COMPLETED
    assert pid_of(task.worker_id) == rescuer.pid
    assert task.attempts == 2  # the killed attempt counts
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
    assert [pid_of(e.worker_id) for e in events[1:]] == [victim_pid] * 2 + [rescuer.pid] * 4
    assert events[3].error is not None
    assert "lease expired" in events[3].error

    rescuer.signal()
    rescuer.assert_clean_exit(30, allowed_stderr=RECOVERY_LOG)


@pytest.mark.timeout(90)
def test_killed_attempt_counts_so_a_task_without_retries_fails(
    procs: Procs, db_path: Path, oq: OmniQ, tmp_path: Path
) -> None:
    runs, release = tmp_path / "runs.log", tmp_path / "release"
    task_id = oq.enqueue(
        jobs.block_until,
        func_args={"runs": str(runs), "release": str(release), "max_wait": 30.0},
        max_retries=0,
    )
    victim_pid = kill_mid_run(procs, db_path, oq, task_id, runs)

    release.touch()
    rescuer = procs.worker("rescuer", db_path, lease=1.0)
    with pytest.raises(TaskFailedError) as failure:
        oq.get_result(task_id, timeout=30)
    assert failure.value.error_type == "omniq.exceptions.WorkerError"
    assert "crashed or killed" in failure.value.error_message

    assert [int(pid) for pid in jobs.read_lines(runs)] == [victim_pid]  # never ran again
    task = oq.get_task(task_id)
    assert task is not None
    assert task.status is TaskStatus.FAILED
    assert event_types(oq.get_events(task_id)) == [
        EventType.ENQUEUED,
        EventType.DEQUEUED,
        EventType.EXECUTING,
        EventType.RETRYING,
        EventType.FAILED,
    ]

    rescuer.signal()
    rescuer.assert_clean_exit(30, allowed_stderr=RECOVERY_LOG)


@pytest.mark.timeout(90)
def test_killed_attempt_counts_when_the_last_attempt_raises(
    procs: Procs, db_path: Path, oq: OmniQ, tmp_path: Path
) -> None:
    """max_retries=1: attempt 1 is killed, attempt 2 raises -> failed for good, with its error.

    Both allowed attempts are used, so no third claim must happen, and the error reported is
    the one the last attempt raised.
    """
    runs, release = tmp_path / "runs.log", tmp_path / "release"
    task_id = oq.enqueue(
        jobs.block_until,
        func_args={"runs": str(runs), "release": str(release), "max_wait": 30.0, "fail": True},
        max_retries=1,
    )
    victim_pid = kill_mid_run(procs, db_path, oq, task_id, runs)

    release.touch()
    rescuer = procs.worker("rescuer", db_path, lease=1.0)
    with pytest.raises(TaskFailedError) as failure:
        oq.get_result(task_id, timeout=30)

    assert [int(pid) for pid in jobs.read_lines(runs)] == [victim_pid, rescuer.pid]
    events = oq.get_events(task_id)
    rescuer.signal()
    rescuer.assert_clean_exit(30, allowed_stderr=RECOVERY_LOG)
    # BUG (src/omniq/core/retry.py should_retry, used by src/omniq/workers/lifecycle.py
    # TaskRunner._failed): the policy counts retry_count, which lease recovery
    # (SQLiteTaskQueue.recover_expired_leases) does not bump, so the killed attempt is not
    # counted. After attempt 2 raises, should_retry() still sees "a retry left": it writes a
    # spurious RETRYING "retry 1 of 1", a third claim follows, and TaskRunner.run's
    # "attempts > max_retries + 1" guard fails the task with WorkerError "gave up after 2
    # attempts whose worker stopped renewing the lease" instead of the ValueError the last
    # attempt raised (the real error is overwritten). The rescuer's EXECUTING event also
    # says "attempt 1 of 2" for the second attempt.
    assert failure.value.error_type == "builtins.ValueError"
    assert event_types(events) == [
        EventType.ENQUEUED,
        EventType.DEQUEUED,
        EventType.EXECUTING,
        EventType.RETRYING,  # lease recovery
        EventType.DEQUEUED,
        EventType.EXECUTING,
        EventType.FAILED,
    ]
    assert events[5].detail == "attempt 2 of 2"
