"""Stopping a worker process with a task in flight: finish within the grace, else release."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from omniq import EventType, OmniQ, TaskStatus

from . import jobs
from .conftest import Procs, attempts_of, event_types, pid_of, wait_until

pytestmark = pytest.mark.slow


@pytest.mark.timeout(60)
def test_stop_waits_for_a_task_that_finishes_within_the_grace_period(
    procs: Procs, db_path: Path, oq: OmniQ, tmp_path: Path
) -> None:
    runs, release = tmp_path / "runs.log", tmp_path / "release"
    task_id = oq.enqueue(
        jobs.block_until, func_args={"runs": str(runs), "release": str(release), "max_wait": 20}
    )
    worker = procs.worker("worker", db_path, grace=30.0)
    wait_until(lambda: jobs.read_lines(runs), 30, "the task to start")

    worker.signal()  # SIGTERM -> stop_worker(grace_period=30) in the worker process
    worker.wait_line("STOPPING", 30)  # it no longer claims and waits for the running task
    # The task cannot finish before `release` exists, so neither can the stop.
    assert worker.popen.poll() is None
    assert "STOPPED" not in worker.stdout_lines()
    task = oq.get_task(task_id)
    assert task is not None
    assert task.status is TaskStatus.EXECUTING

    release.touch()
    worker.assert_clean_exit(30)
    assert worker.stdout_lines()[-2:] == ["STOPPED", "CLOSED"]
    assert oq.get_result(task_id, timeout=0) == f"released in {worker.pid}"
    assert event_types(oq.get_events(task_id)) == [
        EventType.ENQUEUED,
        EventType.DEQUEUED,
        EventType.EXECUTING,
        EventType.COMPLETED,
    ]


@pytest.mark.timeout(60)
def test_task_outliving_the_grace_period_is_released_and_run_by_a_later_worker(
    procs: Procs, db_path: Path, oq: OmniQ, tmp_path: Path
) -> None:
    runs, release = tmp_path / "runs.log", tmp_path / "release"
    # max_retries=0: if the released attempt were counted, the next claim would fail it.
    task_id = oq.enqueue(
        jobs.block_until_async,
        func_args={"runs": str(runs), "release": str(release), "max_wait": 20},
        max_retries=0,
    )
    first = procs.worker("first", db_path, grace=0.2, worker_type="async")
    first_id = first.wait_line("READY", 30).split()[1]
    wait_until(lambda: jobs.read_lines(runs), 30, "the task to start")

    first.signal()
    first.wait_line("STOPPED", 30)  # its coroutine body was cancelled
    task = oq.get_task(task_id)
    assert task is not None
    assert task.status is TaskStatus.ENQUEUED
    assert task.retry_count == 0
    assert attempts_of(db_path, task_id) == 0  # the interrupted attempt is not counted
    events = oq.get_events(task_id)
    assert event_types(events) == [
        EventType.ENQUEUED,
        EventType.DEQUEUED,
        EventType.EXECUTING,
        EventType.RELEASED,
    ]
    assert events[-1].worker_id == first_id
    first.assert_clean_exit(30)

    release.touch()
    second = procs.worker("second", db_path)
    assert oq.get_result(task_id, timeout=30) == f"released in {second.pid}"
    assert [int(pid) for pid in jobs.read_lines(runs)] == [first.pid, second.pid]
    task = oq.get_task(task_id)
    assert task is not None
    assert task.status is TaskStatus.COMPLETED
    assert pid_of(task.worker_id) == second.pid
    assert event_types(oq.get_events(task_id))[4:] == [
        EventType.DEQUEUED,
        EventType.EXECUTING,
        EventType.COMPLETED,
    ]
    second.signal()
    second.assert_clean_exit(30)


@pytest.mark.timeout(60)
def test_a_body_in_a_thread_keeps_its_lease_past_the_grace_period(
    procs: Procs, db_path: Path, oq: OmniQ, tmp_path: Path
) -> None:
    runs, release = tmp_path / "runs.log", tmp_path / "release"
    task_id = oq.enqueue(
        jobs.block_until, func_args={"runs": str(runs), "release": str(release), "max_wait": 20}
    )
    # A 3 s lease, renewed every second: a renewal late by a loaded machine's stall does
    # not let the second worker take the task over.
    first = procs.worker("first", db_path, grace=0.2, lease=3.0)
    wait_until(lambda: jobs.read_lines(runs), 30, "the task to start")

    first.signal()
    first.wait_line("STOPPED", 30)  # a thread cannot be interrupted: the lease is kept
    second = procs.worker("second", db_path, lease=3.0)
    second.wait_line("READY", 30)
    # Watched for longer than a lease: the stopped worker keeps renewing it, and the
    # second worker (whose maintenance takes expired leases back) leaves the task alone.
    watch_ends = time.monotonic() + 4.0
    while time.monotonic() < watch_ends:
        task = oq.get_task(task_id)
        assert task is not None
        assert task.status is TaskStatus.EXECUTING
        assert pid_of(task.worker_id) == first.pid
        time.sleep(0.1)
    assert first.popen.poll() is None  # it waits for the body before it closes the store

    release.touch()
    first.assert_clean_exit(30)
    assert oq.get_result(task_id, timeout=0) == f"released in {first.pid}"
    assert [int(pid) for pid in jobs.read_lines(runs)] == [first.pid]
    assert event_types(oq.get_events(task_id)) == [
        EventType.ENQUEUED,
        EventType.DEQUEUED,
        EventType.EXECUTING,
        EventType.COMPLETED,
    ]
    second.signal()
    second.assert_clean_exit(30)
