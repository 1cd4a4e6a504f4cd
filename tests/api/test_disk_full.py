"""A full disk: writes fail with a clear error, nothing stored is lost, the file stays sound.

The SQLite file is made "full" with ``PRAGMA max_page_count`` on the backend's one write
connection: SQLite then refuses to grow the database and fails writes with SQLITE_FULL
("database or disk is full"), exactly as when the file system is out of space.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from omniq import BackendError, EventType, OmniQ, TaskStatus
from omniq.backends.sqlite import SQLiteBackend
from omniq.core.portal import portal
from omniq.storage.admin import SpaceReclaimer

from . import flow_tasks, tasks
from .helpers import stays_false, wait_until

BIG = "x" * 200_000  # more than the free pages of a small database can hold


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "full.db"


@pytest.fixture
def oq(db_path: Path) -> Iterator[OmniQ]:
    with OmniQ(project_name="disk_full", backend_type="sqlite", db_path=db_path) as instance:
        yield instance


def _writer(oq: OmniQ) -> object:
    backend = oq.backend
    assert isinstance(backend, SQLiteBackend)
    return backend._writer  # the backend's one write connection


def fill_disk(oq: OmniQ) -> None:
    """Let the database grow by no page at all from now on."""
    _writer(oq).call(  # type: ignore[attr-defined]
        lambda conn: conn.execute(
            f"PRAGMA max_page_count = {conn.execute('PRAGMA page_count').fetchone()[0]}"
        )
    )


def free_disk(oq: OmniQ) -> None:
    _writer(oq).call(  # type: ignore[attr-defined]
        lambda conn: conn.execute("PRAGMA max_page_count = 4294967294")
    )


def integrity(db_path: Path) -> str:
    conn = sqlite3.connect(db_path)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


def test_enqueue_on_a_full_disk_fails_clearly_and_loses_nothing(oq: OmniQ, db_path: Path) -> None:
    stored = [oq.enqueue(tasks.add_numbers, {"x": i, "y": 1}) for i in range(5)]
    fill_disk(oq)

    with pytest.raises(BackendError, match="disk full while writing") as batch_error:
        oq.enqueue_many(tasks.echo, [{"blob": BIG} for _ in range(5)])
    assert str(db_path) in str(batch_error.value)
    with pytest.raises(BackendError, match="disk full"):
        oq.enqueue(tasks.echo, {"blob": BIG})  # the sync fast path
    assert sorted(t.id for t in oq.list_tasks(limit=100)) == sorted(stored)  # all or nothing

    free_disk(oq)
    oq.start_worker(max_workers=2)
    assert [oq.get_result(task_id, timeout=10) for task_id in stored] == [1, 2, 3, 4, 5]
    assert oq.get_result(oq.enqueue(tasks.echo, {"blob": BIG}), timeout=10) == {"blob": BIG}
    oq.stop_worker()
    assert integrity(db_path) == "ok"


def test_an_outcome_that_hits_a_full_disk_is_run_again_not_lost(
    oq: OmniQ, db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    key = uuid.uuid4().hex
    task_id = oq.enqueue(flow_tasks.blocking, {"key": key, "value": BIG}, max_retries=1)
    oq.start_worker(max_workers=1, lease_duration=0.5)
    assert flow_tasks.STARTED[key].wait(10)
    fill_disk(oq)
    flow_tasks.GATES[key].set()  # the body returns a result there is no room for
    assert flow_tasks.ENDED[key].wait(10)
    wait_until(  # the worker tried to write the outcome, and the write failed
        lambda: any(
            task_id in record.getMessage() and "could not be recorded" in record.getMessage()
            for record in caplog.records
        ),
        timeout=10,
        what="the failed write of the outcome",
    )

    def never_completed_without_its_result() -> None:
        task = oq.get_task(task_id)
        assert task is not None
        if task.status is TaskStatus.COMPLETED:
            assert oq.get_result(task_id, timeout=1) == BIG

    # While the disk is full the outcome cannot be written: the task stays executing (its
    # lease, no longer renewed, runs out), never completed without its result.
    never_completed_without_its_result()
    free_disk(oq)
    never_completed_without_its_result()
    # The lease ran out, so the task runs again (at least once) and its result is stored.
    assert oq.get_result(task_id, timeout=15) == BIG
    task = oq.get_task(task_id)
    assert task is not None
    assert task.status is TaskStatus.COMPLETED
    types = [event.type for event in oq.get_events(task_id)]
    assert types.count(EventType.EXECUTING) == 2
    assert types[-1] is EventType.COMPLETED
    oq.stop_worker()
    assert integrity(db_path) == "ok"


def test_a_worker_on_a_full_disk_logs_each_change_once(
    oq: OmniQ, db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    stored = [oq.enqueue(tasks.echo, {"blob": BIG}) for _ in range(3)]
    fill_disk(oq)
    caplog.set_level(logging.INFO, logger="omniq")
    oq.start_worker(max_workers=2, poll_interval=0.01, lease_duration=1.0)
    worker_lines = lambda: [r for r in caplog.records if r.name == "omniq.worker"]  # noqa: E731
    wait_until(
        lambda: any("disk full" in r.getMessage() for r in worker_lines()),
        what="the worker to find the disk full",
    )
    # Two seconds of a full disk: 200 polls at 0.01 s, and a few maintenance passes.
    assert stays_false(lambda: len(worker_lines()) > 8, seconds=2.0), [
        r.getMessage() for r in worker_lines()
    ]
    failing = [r for r in worker_lines() if "disk full" in r.getMessage()]
    assert all(r.exc_info is None for r in failing)  # one line each, no traceback
    assert all("will retry" in r.getMessage() for r in failing)
    steps = [r.getMessage().split(" failed: ")[0] for r in failing]
    assert len(steps) == len(set(steps))  # once per failing step

    free_disk(oq)
    assert [oq.get_result(task_id, timeout=15) for task_id in stored] == [{"blob": BIG}] * 3
    wait_until(
        lambda: any("working again" in r.getMessage() for r in worker_lines()),
        what="the worker to say the store is writable again",
    )
    oq.stop_worker()
    assert integrity(db_path) == "ok"


def test_vacuum_waits_for_another_writer_instead_of_failing(tmp_path: Path) -> None:
    db_path = tmp_path / "busy.db"
    with OmniQ(
        project_name="busy", backend_type="sqlite", db_path=db_path, busy_timeout=0.05
    ) as oq:
        oq.enqueue(tasks.echo, {"blob": BIG})
        other = sqlite3.connect(db_path, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")  # another process's write transaction
            outcome: list[object] = []
            queue = oq.task_queue
            assert isinstance(queue, SpaceReclaimer)
            purge = threading.Thread(  # the vacuum step of purge(vacuum=True)
                target=lambda: outcome.append(portal().call(queue.reclaim_space()))
            )
            purge.start()
            # Many busy timeouts long, the vacuum waits rather than failing.
            assert stays_false(lambda: not purge.is_alive(), seconds=0.5)
            other.execute("COMMIT")
        finally:
            other.close()
        purge.join(10)
        assert not purge.is_alive()
        assert len(outcome) == 1
        assert isinstance(outcome[0], int)
    assert integrity(db_path) == "ok"
