"""The SQLite writer thread serves blocking callers from any thread, as it serves awaiters."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from omniq.backends.sqlite.threads import WriterThread
from omniq.exceptions import BackendError


@pytest.fixture
def writer(tmp_path: Path) -> Iterator[WriterThread]:
    path = tmp_path / "w.db"

    def connect() -> sqlite3.Connection:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute("CREATE TABLE IF NOT EXISTS t (v INTEGER)")
        return conn

    thread = WriterThread("test-writer", connect, path)
    yield thread
    thread.close()


def test_call_returns_the_operation_result(writer: WriterThread) -> None:
    writer.call(lambda conn: conn.execute("INSERT INTO t VALUES (1)"))
    assert writer.call(lambda conn: conn.execute("SELECT sum(v) FROM t").fetchone()[0]) == 1


def test_call_raises_the_operation_error_and_commits_the_rest(writer: WriterThread) -> None:
    with pytest.raises(BackendError):
        writer.call(lambda conn: conn.execute("INSERT INTO missing VALUES (1)"))
    with pytest.raises(ZeroDivisionError):
        writer.call(lambda conn: 1 // 0)
    writer.call(lambda conn: conn.execute("INSERT INTO t VALUES (2)"))
    assert writer.call(lambda conn: conn.execute("SELECT sum(v) FROM t").fetchone()[0]) == 2


def test_calls_from_many_threads_all_land(writer: WriterThread) -> None:
    def insert_many() -> None:
        for _ in range(50):
            writer.call(lambda conn: conn.execute("INSERT INTO t VALUES (1)"))

    threads = [threading.Thread(target=insert_many) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert writer.call(lambda conn: conn.execute("SELECT count(*) FROM t").fetchone()[0]) == 400


def test_call_from_the_writer_thread_is_refused(writer: WriterThread) -> None:
    def nested(conn: sqlite3.Connection) -> None:
        writer.call(lambda inner: None)

    with pytest.raises(BackendError, match="deadlock"):
        writer.call(nested)


def test_call_after_close_is_a_clear_error(writer: WriterThread) -> None:
    writer.close()
    with pytest.raises(BackendError, match="closed"):
        writer.call(lambda conn: None)
