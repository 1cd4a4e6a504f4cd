"""A full disk: writes fail with a clear error, nothing stored is lost, the file stays sound.

The SQLite file is made "full" with ``PRAGMA max_page_count`` on the backend's one write
connection: SQLite then refuses to grow the database and fails writes with SQLITE_FULL
("database or disk is full"), exactly as when the file system is out of space.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from omniq import BackendError, EventType, OmniQ, TaskStatus
from omniq.backends.sqlite import SQLiteBackend

from . import flow_tasks, tasks
from .helpers import wait_until

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
