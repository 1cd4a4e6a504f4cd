"""Tasks cross process boundaries: enqueued in one process, run in another, read in a third."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest

from omniq import EventType, OmniQ, TaskStatus

from . import jobs
from .conftest import PROJECT, Procs, event_types, pid_of, ref

pytestmark = pytest.mark.slow


@pytest.mark.timeout(90)
def test_task_from_an_exited_process_runs_in_another_and_is_read_by_a_third(
    procs: Procs, db_path: Path
) -> None:
    producer = procs.enqueuer("producer", db_path, jobs.describe, [{"x": 21}])
    producer.assert_clean_exit(30)
    [task_id] = producer.json_result()

    # The producer is gone; the task survived it in the file and is still waiting.
    with OmniQ(project_name=PROJECT, db_path=db_path) as oq:
        task = oq.get_task(task_id)
        assert task is not None
        assert task.status is TaskStatus.ENQUEUED
        assert task.func == ref(jobs.describe)  # stored by reference, not by value
        assert task.args == {"x": 21}

        worker = procs.worker("worker", db_path)
        worker.wait_line("READY", 30)
        assert oq.get_result(task_id, timeout=30) == {"double": 42, "pid": worker.pid}

        task = oq.get_task(task_id)
        assert task is not None
        assert task.status is TaskStatus.COMPLETED
        assert pid_of(task.worker_id) == worker.pid
        events = oq.get_events(task_id)
        assert event_types(events) == [
            EventType.ENQUEUED,
            EventType.DEQUEUED,
            EventType.EXECUTING,
            EventType.COMPLETED,
        ]
        assert {pid_of(e.worker_id) for e in events[1:]} == {worker.pid}

    worker.signal()
    worker.assert_clean_exit(30)


@pytest.mark.timeout(150)
def test_two_processes_enqueue_one_by_one_while_a_third_works(
    procs: Procs, db_path: Path, oq: OmniQ, tmp_path: Path
) -> None:
    per_producer = 500
    log_dir = tmp_path / "executions"
    log_dir.mkdir()
    go = tmp_path / "go"
    worker = procs.worker("worker", db_path, max_workers=4)
    producers = [
        procs.enqueuer(
            f"producer{k}",
            db_path,
            jobs.record,
            [{"n": k * per_producer + i, "log_dir": str(log_dir)} for i in range(per_producer)],
            "--one-by-one",
            f"--go-file={go}",
        )
        for k in range(2)
    ]
    worker.wait_line("READY", 30)
    for producer in producers:
        producer.wait_line("READY", 30)
    go.touch()  # both start enqueueing at the same instant, against the working worker

    for producer in producers:
        producer.assert_clean_exit(120)
    ids = [task_id for producer in producers for task_id in producer.json_result()]
    assert len(ids) == len(set(ids)) == 2 * per_producer

    deadline = time.monotonic() + 60
    results = [oq.get_result(i, timeout=max(0.0, deadline - time.monotonic())) for i in ids]
    assert results == [n * n for n in range(2 * per_producer)]

    worker.signal()
    worker.assert_clean_exit(30)

    executed = Counter(int(n) for path in log_dir.glob("*.log") for n in jobs.read_lines(path))
    assert executed == Counter(range(2 * per_producer))
    assert [p.name for p in log_dir.glob("*.log")] == [f"{worker.pid}.log"]


@pytest.mark.timeout(90)
def test_an_idle_worker_wakes_on_another_process_enqueue_not_its_poll(
    procs: Procs, db_path: Path, oq: OmniQ
) -> None:
    # The worker polls only every 120 s: it runs the task at once because the SQLite
    # backend's file watch (inotify) wakes it when this process commits the task.
    worker = procs.worker("worker", db_path, poll=120)
    worker.wait_line("READY", 30)
    task_id = oq.enqueue(jobs.describe, func_args={"x": 1})
    assert oq.get_result(task_id, timeout=30, poll_interval=0.01)["pid"] == worker.pid
    worker.signal()
    worker.assert_clean_exit(30)
