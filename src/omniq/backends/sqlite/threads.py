"""One thread per connection: a group-committing writer and a reader.

A commit costs an fsync at ``synchronous=FULL``. The writer therefore takes every write
operation waiting in its queue, runs them all in one ``BEGIN IMMEDIATE`` transaction (with no
savepoint first; if one fails, again with a savepoint each, so one failing operation does not
undo the others) and commits once: concurrent enqueues, claims, result writes and events share
one fsync. Each caller still learns only after the commit that its operation is durable, so
batching weakens nothing a commit promises.

Threads that block on a write (a sync ``enqueue``) run their batch themselves, in their own
thread, instead of waiting for the writer thread to wake (see :meth:`WriterThread.call`): one
commit and no thread hop per ``enqueue()`` for a lone producer, shared commits for several.

Callers await from any event loop. The outcomes of one batch are handed back to each loop in
a single thread-safe callback, not one per operation, which keeps the cost per task low
(:func:`omniq.storage.bridge.resolve_on_loops`, shared with the server backends' bridge).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any, NamedTuple, TypeVar, cast

from omniq.backends.sqlite.connection import (
    damaged_store_error,
    is_busy,
    is_undecodable,
    translate_error,
)
from omniq.exceptions import BackendError
from omniq.storage.bridge import Outcome, resolve_on_loops

__all__ = ["ReaderThread", "WriterThread"]

T = TypeVar("T")
Operation = Callable[[sqlite3.Connection], Any]


class _Item(NamedTuple):
    """One queued operation and who waits for it.

    Attributes:
        operation: Called with the connection, in the thread.
        loop: The awaiting caller's loop; ``None`` for a blocking caller (see ``call``).
        future: Its future (a concurrent one for a blocking caller).
        single_statement: It runs one SQL statement (no savepoint needed).
        durable: Its commit must reach the disk before it returns (see ``run``).
    """

    operation: Operation
    loop: asyncio.AbstractEventLoop | None
    future: asyncio.Future[Any] | Future[Any]
    single_statement: bool
    durable: bool = True


_log = logging.getLogger("omniq.backends.sqlite")
_STOP = object()
_BUSY_RETRY_LIMIT = 600.0  # seconds a transaction keeps retrying a locked database
_FULL = 2  # PRAGMA synchronous: 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA


class _ConnectionThread:
    """Runs operations on one connection in one daemon thread."""

    def __init__(self, name: str, connect: Callable[[], sqlite3.Connection], path: Path) -> None:
        self._connect = connect
        self._path = path
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._ready: Future[None] = Future()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._closed = False
        self._conn: sqlite3.Connection | None = None  # used only by its thread
        self._thread.start()
        self._ready.result()  # re-raises a connection error in the caller

    async def run(
        self,
        operation: Callable[[sqlite3.Connection], T],
        *,
        single_statement: bool = False,
        durable: bool = True,
    ) -> T:
        """Run ``operation`` in the thread and await its result (from any event loop).

        Args:
            operation: Called with the connection, in the thread.
            single_statement: The operation runs one SQL statement, which SQLite already
                applies all-or-nothing, so the writer needs no savepoint around it.
            durable: ``False`` for a write whose loss to a power cut or an OS crash does no
                harm (see :class:`WriterThread`): a batch of such writes only is committed
                without waiting for the disk. A reader thread ignores it.

        Raises:
            BackendError: The backend is closed, or SQLite failed (driver error chained).
        """
        if self._closed:
            raise BackendError(f"the SQLite backend for {str(self._path)!r} is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put(_Item(operation, loop, future, single_statement, durable))
        return await future

    def call(
        self, operation: Callable[[sqlite3.Connection], T], *, single_statement: bool = False
    ) -> T:
        """Run ``operation`` in the thread and block until it is done (from any thread).

        The blocking twin of :meth:`run`, for sync callers: no event loop is involved.

        Raises:
            BackendError: As :meth:`run`, or when called from the connection's own thread.
        """
        if self._closed:
            raise BackendError(f"the SQLite backend for {str(self._path)!r} is closed")
        if threading.current_thread() is self._thread:
            raise BackendError("call() from the connection's own thread would deadlock")
        future: Future[T] = Future()
        self._queue.put(_Item(operation, None, future, single_statement))
        return future.result()

    def close(self) -> None:
        """Finish queued operations, close the connection and join the thread."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        self._thread.join()

    def _main(self) -> None:
        try:
            conn = self._connect()
        except BaseException as exc:
            self._ready.set_exception(exc)
            return
        self._conn = conn
        self._ready.set_result(None)
        try:
            self._loop(conn)
        finally:
            self._close(conn)

    def _close(self, conn: sqlite3.Connection) -> None:
        conn.close()

    def _loop(self, conn: sqlite3.Connection) -> None:
        raise NotImplementedError

    def _take_batch(self, limit: int) -> tuple[list[_Item], bool]:
        """Block for one item, then take what else is waiting; report a stop request."""
        batch = [self._queue.get()]
        while len(batch) < limit:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        stopping = any(item is _STOP for item in batch)
        return [item for item in batch if item is not _STOP], stopping

    def _error(self, exc: BaseException) -> BaseException:
        """Translate an operation's error (called in this thread, so its connection is free)."""
        error: BaseException
        if is_undecodable(exc) and self._conn is not None:
            error = damaged_store_error(self._conn, self._path, exc)  # text of a damaged page
        elif isinstance(exc, sqlite3.Error):
            error = translate_error(exc, self._path)
        else:
            return exc
        error.__cause__ = exc
        return error

    def _deliver(self, items: list[_Item], outcomes: list[tuple[bool, Any]]) -> None:
        """Hand outcomes back: one thread-safe callback per event loop."""
        resolve_on_loops(
            Outcome(item.loop, item.future, ok, value)
            for item, (ok, value) in zip(items, outcomes, strict=True)
        )


class ReaderThread(_ConnectionThread):
    """Runs read operations, each in its own implicit read transaction."""

    def _loop(self, conn: sqlite3.Connection) -> None:
        while True:
            items, stopping = self._take_batch(64)
            outcomes: list[tuple[bool, Any]] = []
            for item in items:
                try:
                    outcomes.append((True, item.operation(conn)))
                except BaseException as exc:
                    outcomes.append((False, self._error(exc)))
            self._deliver(items, outcomes)
            if stopping:
                return


class WriterThread(_ConnectionThread):
    """Runs write operations in batches: one transaction and one commit per batch.

    Awaiting callers queue their operations for the writer thread. A blocking caller
    (:meth:`call`, e.g. a sync ``enqueue``) does not hop to that thread and back: it puts its
    operation in a second queue, waits for its turn at the connection, and unless a batch run
    meanwhile already committed its operation, runs every waiting blocking operation in one
    transaction itself (flat combining). Blocking callers in several threads thus share
    commits with no wait: those queued while one commits run together in the next
    transaction, and the writer thread takes them along with its own batches.

    Args:
        name: Thread name.
        connect: Opens the connection (called in the thread; the connection must allow use
            from other threads, one at a time: they take turns).
        path: Database file, for error messages.
        max_batch: Most operations committed together.
        on_commit: Called after each commit (while no other batch can start), e.g. to tell
            watchers in other processes that a commit is visible.

    Once its ``BEGIN IMMEDIATE`` returns (often after waiting for another process's write
    lock), the writer thread adds what was queued meanwhile to the transaction it now
    holds (see :meth:`_join_late`): a wait costs one commit, not one per operation queued
    during it.

    Writes that a power cut may undo harmlessly (a worker's claims, lease extensions and
    heartbeats: ``run(..., durable=False)``) are committed at ``synchronous=NORMAL`` when
    the connection is at ``FULL`` or ``EXTRA`` and the whole batch is such writes: SQLite
    then appends them to the WAL without an fsync, and the next durable commit of any
    connection fsyncs them along with its own. Lost, a claim leaves its task enqueued, so it
    runs again, as after any crash; every process using the file died in that power cut.

    Attributes:
        commits: Transactions committed so far (for diagnostics and tests).
    """

    def __init__(
        self,
        name: str,
        connect: Callable[[], sqlite3.Connection],
        path: Path,
        max_batch: int = 512,
        on_commit: Callable[[], None] | None = None,
    ) -> None:
        self._max_batch = max_batch
        self._on_commit = on_commit

        # Whose turn it is at the connection: one thread at a time runs a batch (``_busy``),
        # and blocking callers wait on the condition, woken after every batch, so that the
        # ones whose operations were committed return while the next batch runs.
        self._turns = threading.Condition()
        self._busy = False
        self._blocking: list[_Item] = []  # blocking callers' operations (under _turns)
        self._batch_thread: int | None = None  # the thread running a batch
        self._synchronous: int | None = None  # the connection's level (read at first need)
        self._carried: list[Any] = []  # taken off the queue, not joinable: the next batch's
        self.commits = 0  # transactions committed (diagnostics and tests)
        super().__init__(name, connect, path)

    def call(
        self, operation: Callable[[sqlite3.Connection], T], *, single_statement: bool = False
    ) -> T:
        """Run ``operation`` in the calling thread's turn and block until it is committed.

        Raises:
            BackendError: The backend is closed, SQLite failed (driver error chained), or
                called from the writer thread itself.
        """
        if self._closed:
            raise BackendError(f"the SQLite backend for {str(self._path)!r} is closed")
        if (
            threading.current_thread() is self._thread
            or self._batch_thread == threading.get_ident()
        ):
            raise BackendError("call() from the connection's own thread would deadlock")
        with self._turns:
            alone = not self._busy and not self._blocking
            if alone:
                self._busy = True
        if alone:  # nobody to combine with: run it here, with no future to hand over
            return cast(T, self._run_own_turn(_Item(operation, None, Future(), single_statement)))
        future: Future[T] = Future()
        with self._turns:
            self._blocking.append(_Item(operation, None, future, single_statement))
            while self._busy and not future.done():
                self._turns.wait()
            if future.done():  # committed by whoever had the turn
                return future.result()
            self._busy = True
        try:
            while not future.done():
                self._run_locked(self._take_blocking([]))
        finally:
            self._end_turn()
        return future.result()

    def _run_own_turn(self, item: _Item) -> Any:
        """Run a lone blocking ``item`` during the caller's turn; return or raise its outcome."""
        try:
            conn = self._conn
            if conn is None:
                raise BackendError(f"the SQLite backend for {str(self._path)!r} is closed")
            self._batch_thread = threading.get_ident()
            try:
                ((ok, value),) = self._run_batch(conn, [item])
            finally:
                self._batch_thread = None
        finally:
            self._end_turn()  # callers that queued meanwhile: the first takes the next turn
        if ok:
            return value
        raise value

    def blocking_waiting(self) -> int:
        """How many blocking calls wait for a turn at the connection."""
        with self._turns:
            return len(self._blocking)

    def _take_blocking(self, items: list[_Item]) -> list[_Item]:
        """Add the waiting blocking operations to ``items``, up to the batch limit."""
        with self._turns:
            room = max(0, self._max_batch - len(items))
            items.extend(self._blocking[:room])
            del self._blocking[:room]
        return items

    @contextlib.contextmanager
    def _turn(self) -> Iterator[None]:
        """Wait for the connection to be free, and hold it for the block."""
        with self._turns:
            while self._busy:
                self._turns.wait()
            self._busy = True
        try:
            yield
        finally:
            self._end_turn()

    def _end_turn(self) -> None:
        with self._turns:
            self._busy = False
            self._turns.notify_all()

    def _run_locked(self, items: list[_Item], late_joins: bool = False) -> None:
        """Run ``items`` as one batch and hand their outcomes back (during this thread's turn).

        With ``late_joins`` (the writer thread's own batches), operations queued while the
        batch waited for the write lock are added to it (``items`` grows).
        """
        if not items:
            return
        conn = self._conn
        if conn is None:
            closed = BackendError(f"the SQLite backend for {str(self._path)!r} is closed")
            self._deliver(items, [(False, closed)] * len(items))
            return
        self._batch_thread = threading.get_ident()
        try:
            outcomes = self._run_batch(conn, items, late_joins)
        finally:
            self._batch_thread = None
        self._deliver(items, outcomes)
        with self._turns:  # the blocking callers just committed return now
            self._turns.notify_all()

    def _close(self, conn: sqlite3.Connection) -> None:
        with self._turn():  # then fail the blocking callers still queued
            self._conn = None
            conn.close()
            self._run_locked(self._take_blocking([]))

    def _loop(self, conn: sqlite3.Connection) -> None:
        while True:
            items, stopping = self._next_batch()
            with self._turn():
                self._run_locked(self._take_blocking(items), late_joins=not stopping)
            if stopping:
                return

    def _next_batch(self) -> tuple[list[_Item], bool]:
        """The operations carried over from the last batch first, else the queue's."""
        if not self._carried:
            return self._take_batch(self._max_batch)
        limit = self._max_batch
        taken, self._carried = self._carried[:limit], self._carried[limit:]
        return [item for item in taken if item is not _STOP], any(item is _STOP for item in taken)

    def _join_late(self, items: list[_Item], relaxed: bool) -> None:
        """Add to ``items`` what was queued while their ``BEGIN`` waited for the lock.

        The write lock is held by then, so they cost this transaction a few statements and
        no commit of their own: while producers in other processes keep the lock busy, a
        worker's claims and completions that arrive during one wait share one commit. An
        operation that must be durable does not join a relaxed (``NORMAL``) transaction;
        it and what follows it wait for the next batch, in order, as does a stop request.
        """
        while len(items) < self._max_batch:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is _STOP or (relaxed and item.durable):
                self._carried.append(item)
                while True:  # keep the queue's order: everything after it waits too
                    try:
                        self._carried.append(self._queue.get_nowait())
                    except queue.Empty:
                        return
            items.append(item)

    def _run_batch(
        self, conn: sqlite3.Connection, items: list[_Item], late_joins: bool = False
    ) -> list[tuple[bool, Any]]:
        """Run ``items`` in one transaction; return each one's outcome once committed.

        First all operations run back to back, with no savepoint: each statement costs a
        round trip through the GIL, so this is the fast path of a busy writer. If one of
        them fails, that transaction is rolled back and the batch runs again with each
        operation in its own savepoint, so only the failing one is undone.

        Some errors (a full disk, an I/O error) make SQLite roll the whole transaction back
        by itself: then every operation of the batch failed, those that had succeeded
        included, and none of the rest may run outside a transaction (a savepoint there
        would commit on its own).
        """
        relaxed = self._relaxed_level(conn, items)
        if relaxed is None:
            return self._run_transaction(conn, items, late_joins, False)
        conn.execute("PRAGMA synchronous = NORMAL")  # not allowed inside a transaction
        try:
            return self._run_transaction(conn, items, late_joins, True)
        finally:
            conn.execute(f"PRAGMA synchronous = {relaxed}")

    def _relaxed_level(self, conn: sqlite3.Connection, items: list[_Item]) -> int | None:
        """The level to restore if ``items`` may commit at ``NORMAL``, else ``None``."""
        if any(item.durable for item in items):
            return None
        if self._synchronous is None:
            (self._synchronous,) = conn.execute("PRAGMA synchronous").fetchone()
        return self._synchronous if self._synchronous >= _FULL else None

    def _run_transaction(
        self, conn: sqlite3.Connection, items: list[_Item], late_joins: bool, relaxed: bool
    ) -> list[tuple[bool, Any]]:
        """:meth:`_run_batch` at the connection's current ``synchronous`` level."""
        try:
            self._begin(conn)
            if late_joins:
                self._join_late(items, relaxed)
            if len(items) == 1:
                return self._run_alone(conn, items[0])
            outcomes = self._run_unguarded(conn, items)
            if outcomes is None:
                if not conn.in_transaction:
                    self._begin(conn)
                outcomes = self._run_guarded(conn, items)
            if not conn.in_transaction:  # SQLite rolled the whole transaction back
                lost = next(
                    (value for ok, value in outcomes if not ok),
                    BackendError("the transaction was rolled back"),
                )
                _log.error("SQLite transaction rolled back, %d operations undone: %s",
                           len(items), lost)  # fmt: skip
                return [(False, lost)] * len(items)
            conn.execute("COMMIT")
            self._committed()
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            error = self._error(exc)
            _log.error("SQLite transaction failed, %d operations undone: %s", len(items), error)
            return [(False, error)] * len(items)
        return outcomes

    def _committed(self) -> None:
        self.commits += 1
        if self._on_commit is not None:
            self._on_commit()

    def _run_alone(self, conn: sqlite3.Connection, item: _Item) -> list[tuple[bool, Any]]:
        """Run the only operation of a transaction: no savepoint, undone by a rollback.

        A lone producer's ``enqueue()`` takes this path: two statements fewer per commit.
        """
        try:
            value = item.operation(conn)
        except BaseException as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            return [(False, self._error(exc))]
        conn.execute("COMMIT")
        self._committed()
        return [(True, value)]

    def _run_unguarded(
        self, conn: sqlite3.Connection, items: list[_Item]
    ) -> list[tuple[bool, Any]] | None:
        """Run every operation with no savepoint; ``None`` (all undone) if one fails."""
        outcomes: list[tuple[bool, Any]] = []
        for item in items:
            try:
                outcomes.append((True, item.operation(conn)))
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                return None
        return outcomes

    def _run_guarded(self, conn: sqlite3.Connection, items: list[_Item]) -> list[tuple[bool, Any]]:
        """Run each operation in its own savepoint; stop if the transaction is lost."""
        outcomes: list[tuple[bool, Any]] = []
        for item in items:
            outcomes.append(self._run_one(conn, item.operation, item.single_statement))
            if not conn.in_transaction:
                break
        return outcomes

    def _run_one(
        self, conn: sqlite3.Connection, operation: Operation, single_statement: bool
    ) -> tuple[bool, Any]:
        """Run one operation inside the open transaction; undo it alone if it fails."""
        if single_statement:  # one statement is all-or-nothing by itself
            try:
                return True, operation(conn)
            except BaseException as exc:
                return False, self._error(exc)
        conn.execute("SAVEPOINT op")
        try:
            value = operation(conn)
        except BaseException as exc:
            if conn.in_transaction:  # else SQLite already rolled everything back
                conn.execute("ROLLBACK TO op")
                conn.execute("RELEASE op")
            return False, self._error(exc)
        conn.execute("RELEASE op")
        return True, value

    def _begin(self, conn: sqlite3.Connection) -> None:
        """``BEGIN IMMEDIATE``, retrying while other processes hold the write lock."""
        deadline = time.monotonic() + _BUSY_RETRY_LIMIT
        delay = 0.001
        while True:
            try:
                conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if not is_busy(exc):
                    raise
                if time.monotonic() > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.05)
