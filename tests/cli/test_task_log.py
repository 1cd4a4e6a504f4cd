"""The lifecycle log of ``omniq worker``: every event of its worker logged once, in order."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from omniq import OmniQ, TaskFailedError
from omniq.cli.task_log import EventLogger, log_events
from omniq.models.event import TaskEvent

from . import jobs


@pytest.fixture
def oq(tmp_path: Path) -> Iterator[OmniQ]:
    with OmniQ(project_name="task_log", backend_type="sqlite", db_path=tmp_path / "q.db") as oq:
        yield oq


@pytest.fixture
def logged(caplog: pytest.LogCaptureFixture) -> Callable[[], list[str]]:
    caplog.set_level(logging.INFO, logger="omniq.tasks")
    return lambda: [r.getMessage() for r in caplog.records if r.name == "omniq.tasks"]


def line(event: TaskEvent) -> str:
    return f"task {event.task_id} {event.type.value}"


def test_every_event_of_the_worker_is_logged_once_in_stored_order(
    oq: OmniQ, logged: Callable[[], list[str]], tmp_path: Path
) -> None:
    before = oq.enqueue(jobs.add, {"x": 0, "y": 0})  # stored before the logger starts
    oq.start_worker(max_workers=2)
    assert oq.get_result(before, timeout=10) == 0
    worker = oq.worker
    assert worker is not None
    logger = EventLogger(oq, worker.worker_id, interval=0.01)
    logger.start()
    ok = oq.enqueue(jobs.add, {"x": 2, "y": 3})
    flaky = oq.enqueue(jobs.fails_first_time, {"marker": str(tmp_path / "m")}, max_retries=1,
                       retry_delay=0.01)  # fmt: skip
    doomed = oq.enqueue(jobs.fails_first_time, {"marker": str(tmp_path / "n")}, max_retries=0)
    assert oq.get_result(ok, timeout=10) == 5
    assert oq.get_result(flaky, timeout=10) == "second run"
    with pytest.raises(TaskFailedError):
        oq.get_result(doomed, timeout=10)
    oq.stop_worker()
    logger.stop()

    stored = [e for task in (ok, flaky, doomed) for e in oq.get_events(task)]
    mine = [line(e) for e in stored if e.worker_id == worker.worker_id]
    lines = logged()
    assert sorted(lines_of(lines, (ok, flaky, doomed))) == sorted(mine)  # each once
    for task in (ok, flaky, doomed):  # and in the order they were stored
        own = [e for e in stored if e.task_id == task and e.worker_id == worker.worker_id]
        assert lines_of(lines, (task,)) == [line(e) for e in own]
    assert not lines_of(lines, (before,))  # stored before the logger started
    assert any(f"task {doomed} failed" in entry for entry in lines)


def lines_of(lines: list[str], task_ids: tuple[str, ...]) -> list[str]:
    """The logged lines of these tasks, without the detail after the step name."""
    return [entry.split(":")[0] for entry in lines if entry.split()[1] in task_ids]


def test_events_of_other_workers_and_clients_are_not_logged(
    oq: OmniQ, logged: Callable[[], list[str]]
) -> None:
    logger = EventLogger(oq, "some-other-worker", interval=0.01)
    logger.start()
    oq.start_worker(max_workers=1)
    task_id = oq.enqueue(jobs.add, {"x": 1, "y": 1})
    assert oq.get_result(task_id, timeout=10) == 2
    oq.stop_worker()
    logger.stop()
    assert logged() == []


def test_stop_logs_what_was_stored_since_the_last_read(
    oq: OmniQ, logged: Callable[[], list[str]]
) -> None:
    oq.start_worker(max_workers=1)
    worker = oq.worker
    assert worker is not None
    logger = EventLogger(oq, worker.worker_id)  # not started: only stop() reads the log
    task_id = oq.enqueue(jobs.add, {"x": 1, "y": 2})
    assert oq.get_result(task_id, timeout=10) == 3
    oq.stop_worker()
    assert logged() == []
    logger.stop()
    assert f"task {task_id} completed" in logged()


def test_a_failing_read_is_reported_and_reading_goes_on(
    oq: OmniQ, monkeypatch: pytest.MonkeyPatch
) -> None:
    errors: list[Exception] = []
    logger = EventLogger(oq, "w", interval=0.01, on_error=errors.append)
    real = oq.list_events
    calls = {"n": 0}

    def flaky_read(after: int | None = None, limit: int = 100) -> list[tuple[int, TaskEvent]]:
        calls["n"] += 1
        if calls["n"] == 1:
            raise OSError("store unreadable for a moment")
        return real(after=after, limit=limit)

    monkeypatch.setattr(oq, "list_events", flaky_read)
    logger.start()
    deadline = time.monotonic() + 10
    while calls["n"] < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    logger.stop()
    assert [str(e) for e in errors] == ["store unreadable for a moment"]
    assert calls["n"] >= 3


def test_a_logger_made_before_its_worker_starts_logs_the_first_tasks(
    oq: OmniQ, logged: Callable[[], list[str]]
) -> None:
    """``omniq worker`` takes the log's position first: a task done at once is still logged."""
    logger = EventLogger(oq, None, interval=0.01)
    task_id = oq.enqueue(jobs.add, {"x": 2, "y": 3})
    oq.start_worker(max_workers=1)
    assert oq.get_result(task_id, timeout=10) == 5  # done before the logger follows the log
    worker = oq.worker
    assert worker is not None
    logger.start(worker.worker_id)
    oq.stop_worker()
    logger.stop()
    assert f"task {task_id} completed" in logged()
    assert f"task {task_id} enqueued" not in logged()  # the client's event, not the worker's


def test_each_line_carries_the_time_of_its_event_not_of_its_reading(
    oq: OmniQ, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="omniq.tasks")
    task = oq.enqueue(jobs.add, {"x": 1, "y": 1})
    oq.cancel(task)
    events = oq.get_events(task)
    assert len(events) == 2
    log_events(events)
    records = [r for r in caplog.records if r.name == "omniq.tasks"]
    assert [r.getMessage().split(":")[0] for r in records] == [line(e) for e in events]
    assert [r.created for r in records] == [e.timestamp for e in events]
    assert [r.msecs for r in records] == [pytest.approx(e.timestamp % 1 * 1000) for e in events]
