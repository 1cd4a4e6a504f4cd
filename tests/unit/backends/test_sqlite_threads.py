"""The SQLite writer thread serves blocking callers from any thread, as it serves awaiters."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Iterator
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


async def queue_in_one_batch(
    writer: WriterThread,
    operations: list[Callable[[sqlite3.Connection], object]],
    durable: list[bool] | None = None,
) -> list[object]:
    """Run ``operations`` as one batch: queue them while the writer is held by another."""
    started, gate = threading.Event(), threading.Event()

    def hold(conn: sqlite3.Connection) -> None:
        started.set()
        gate.wait(10)

    holder = asyncio.ensure_future(writer.run(hold))
    assert await asyncio.to_thread(started.wait, 10)
    flags = durable if durable is not None else [True] * len(operations)
    pending = [
        asyncio.ensure_future(writer.run(op, durable=flag))
        for op, flag in zip(operations, flags, strict=True)
    ]
    await asyncio.sleep(0)  # let each run() queue its operation
    gate.set()
    await holder
    return list(await asyncio.gather(*pending, return_exceptions=True))


def values(writer: WriterThread) -> list[int]:
    rows = writer.call(lambda conn: conn.execute("SELECT v FROM t ORDER BY v").fetchall())
    return [row[0] for row in rows]


async def test_a_failing_operation_is_undone_alone(writer: WriterThread) -> None:
    def insert(value: int) -> Callable[[sqlite3.Connection], int]:
        return lambda conn: conn.execute("INSERT INTO t VALUES (?)", (value,)).rowcount

    def insert_then_fail(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO t VALUES (2)")
        raise ValueError("second operation fails after its insert")

    outcomes = await queue_in_one_batch(writer, [insert(1), insert_then_fail, insert(3)])
    assert outcomes[0] == 1
    assert isinstance(outcomes[1], ValueError)
    assert outcomes[2] == 1
    assert values(writer) == [1, 3]  # the failing operation's insert is undone, no other


async def test_a_transaction_sqlite_rolled_back_fails_the_whole_batch(
    writer: WriterThread,
) -> None:
    def insert(value: int) -> Callable[[sqlite3.Connection], None]:
        return lambda conn: conn.execute("INSERT INTO t VALUES (?)", (value,))

    def roll_everything_back(conn: sqlite3.Connection) -> None:
        conn.execute("ROLLBACK")  # what SQLite itself does on SQLITE_FULL or an I/O error
        full = sqlite3.OperationalError("database or disk is full")
        full.sqlite_errorcode = sqlite3.SQLITE_FULL  # as the driver sets it
        raise full

    outcomes = await queue_in_one_batch(writer, [insert(1), roll_everything_back, insert(3)])
    assert all(isinstance(outcome, BackendError) for outcome in outcomes), outcomes
    assert "disk full" in str(outcomes[0])
    assert values(writer) == []  # nothing committed, not even outside a transaction


def test_a_lone_blocking_call_runs_in_the_calling_thread(writer: WriterThread) -> None:
    # No hop to the writer thread and back: the caller runs its own transaction.
    ran_in = writer.call(lambda conn: threading.get_ident())
    assert ran_in == threading.get_ident()


def test_blocking_calls_queued_meanwhile_share_one_commit(writer: WriterThread) -> None:
    # While one caller holds the connection, the calls of other threads queue; the next one
    # to take the connection commits them all in one transaction, and each caller gets its
    # own outcome (a failing one alone is undone).
    inside, release = threading.Event(), threading.Event()
    outcomes: dict[int, object] = {}

    def hold(conn: sqlite3.Connection) -> None:
        inside.set()
        release.wait(10)

    def insert(value: int) -> Callable[[sqlite3.Connection], int]:
        def op(conn: sqlite3.Connection) -> int:
            conn.execute("INSERT INTO t VALUES (?)", (value,))
            if value == 3:
                raise ValueError("three fails after its insert")
            return value

        return op

    def call(value: int) -> None:
        try:
            outcomes[value] = writer.call(insert(value))
        except ValueError as exc:
            outcomes[value] = exc

    holder = threading.Thread(target=writer.call, args=(hold,))
    holder.start()
    assert inside.wait(10)
    callers = [threading.Thread(target=call, args=(value,)) for value in (1, 2, 3, 4)]
    for thread in callers:
        thread.start()
    queued = threading.Event()
    for _ in range(1000):  # poll with a deadline until all four have queued
        if writer.blocking_waiting() == 4:
            break
        queued.wait(0.01)
    assert writer.blocking_waiting() == 4
    before = writer.commits
    release.set()
    for thread in (holder, *callers):
        thread.join(10)
    assert writer.commits - before == 2  # the holder's, then the four queued calls' together
    assert isinstance(outcomes.pop(3), ValueError)
    assert outcomes == {1: 1, 2: 2, 4: 4}
    assert values(writer) == [1, 2, 4]


def test_a_blocking_call_nested_in_an_operation_is_refused(writer: WriterThread) -> None:
    # The caller's thread runs the operation here, not the writer thread: still refused.
    def nested(conn: sqlite3.Connection) -> None:
        writer.call(lambda inner: None)

    with pytest.raises(BackendError, match="deadlock"):
        writer.call(nested)


def synchronous(conn: sqlite3.Connection) -> int:
    """The connection's ``synchronous`` level (1 NORMAL, 2 FULL), read inside an operation."""
    return int(conn.execute("PRAGMA synchronous").fetchone()[0])


async def test_writes_that_need_not_be_durable_commit_without_an_fsync(
    writer: WriterThread,
) -> None:
    assert writer.call(synchronous) == 2  # FULL: SQLite's default
    assert await writer.run(synchronous, durable=False) == 1  # NORMAL: no fsync at commit
    assert await writer.run(synchronous) == 2  # back at FULL for the next batch
    assert writer.call(synchronous) == 2


async def test_a_batch_with_one_durable_write_commits_at_full(writer: WriterThread) -> None:
    levels = await queue_in_one_batch(writer, [synchronous, synchronous], [False, True])
    assert levels == [2, 2]


async def test_a_store_below_full_keeps_its_level(tmp_path: Path) -> None:
    def connect() -> sqlite3.Connection:
        conn = sqlite3.connect(tmp_path / "off.db", isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA synchronous = OFF")
        return conn

    writer = WriterThread("test-writer-off", connect, tmp_path / "off.db")
    try:
        assert await writer.run(synchronous, durable=False) == 0
        assert writer.call(synchronous) == 0
    finally:
        writer.close()


async def blocked_in_begin(writer: WriterThread) -> None:
    """Poll (10 s at most) until the writer thread waits in ``BEGIN`` for the write lock."""
    import sys

    thread_id = writer._thread.ident
    async with asyncio.timeout(10):
        while True:
            frame = sys._current_frames().get(thread_id)
            while frame is not None and frame.f_code.co_name != "_begin":
                frame = frame.f_back
            if frame is not None:
                return
            await asyncio.sleep(0.001)


@pytest.fixture
def other_holds_the_lock(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    """Another connection to the writer fixture's file, with the write lock taken."""
    other = sqlite3.connect(tmp_path / "w.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    yield other
    if other.in_transaction:
        other.execute("COMMIT")
    other.close()


async def test_operations_queued_while_waiting_for_the_lock_share_its_commit(
    writer: WriterThread, other_holds_the_lock: sqlite3.Connection
) -> None:
    def insert(value: int) -> Callable[[sqlite3.Connection], None]:
        return lambda conn: conn.execute("INSERT INTO t VALUES (?)", (value,))

    before = writer.commits
    first = asyncio.ensure_future(writer.run(insert(1)))
    await blocked_in_begin(writer)
    later = [asyncio.ensure_future(writer.run(insert(v))) for v in (2, 3)]
    await asyncio.sleep(0)  # both queued
    other_holds_the_lock.execute("COMMIT")
    await asyncio.gather(first, *later)
    assert writer.commits == before + 1
    assert values(writer) == [1, 2, 3]


async def test_a_durable_write_does_not_join_a_relaxed_commit(
    writer: WriterThread, other_holds_the_lock: sqlite3.Connection
) -> None:
    relaxed = asyncio.ensure_future(writer.run(synchronous, durable=False))
    await blocked_in_begin(writer)
    durable = asyncio.ensure_future(writer.run(synchronous))
    relaxed_after = asyncio.ensure_future(writer.run(synchronous, durable=False))
    await asyncio.sleep(0)
    other_holds_the_lock.execute("COMMIT")
    # In queue order: the durable write waits for the next batch, and so does what follows.
    assert (await relaxed, await durable, await relaxed_after) == (1, 2, 2)
