"""One thread per connection: a group-committing writer and a reader.

SQLite connections belong to one thread, and a commit costs an fsync at ``synchronous=FULL``.
The writer thread therefore takes every write operation waiting in its queue, runs them all in
one ``BEGIN IMMEDIATE`` transaction (each inside its own savepoint, so one failing operation
does not undo the others) and commits once: concurrent enqueues, claims, result writes and
events share one fsync. Each caller still learns only after the commit that its operation is
durable, so batching weakens nothing a commit promises.

Threads that block on a write (a sync ``enqueue``) call again right after their commit: the
writer waits up to half a millisecond for as many of them as its last commit released, so a
loop of enqueues in several threads (or one thread beside a worker) shares commits instead of
alternating with them.

Callers await from any event loop. The outcomes of one batch are handed back to each loop in
a single thread-safe callback, not one per operation, which keeps the cost per task low.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

from omniq.backends.sqlite.connection import translate_error
from omniq.exceptions import BackendError

__all__ = ["ReaderThread", "WriterThread"]

T = TypeVar("T")
Operation = Callable[[sqlite3.Connection], Any]
# (operation, loop of the awaiting caller, its future, whether it is one SQL statement);
# a blocking caller (see ``call``) has no loop and a concurrent future.
_Item = tuple[
    Operation, asyncio.AbstractEventLoop | None, "asyncio.Future[Any] | Future[Any]", bool
]
# (future, succeeded, value or exception)
_Outcome = tuple["asyncio.Future[Any]", bool, Any]

_log = logging.getLogger("omniq.backends.sqlite")
_STOP = object()
_BUSY_RETRY_LIMIT = 600.0  # seconds a transaction keeps retrying a locked database
#: Longest wait of the writer for the blocking callers its last commit released.
_REGROUP_SECONDS = 0.0005


class _ConnectionThread:
    """Runs operations on one connection in one daemon thread."""

    def __init__(self, name: str, connect: Callable[[], sqlite3.Connection], path: Path) -> None:
        self._connect = connect
        self._path = path
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._ready: Future[None] = Future()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._closed = False
        self._thread.start()
        self._ready.result()  # re-raises a connection error in the caller

    async def run(
        self, operation: Callable[[sqlite3.Connection], T], *, single_statement: bool = False
    ) -> T:
        """Run ``operation`` in the thread and await its result (from any event loop).

        Args:
            operation: Called with the connection, in the thread.
            single_statement: The operation runs one SQL statement, which SQLite already
                applies all-or-nothing, so the writer needs no savepoint around it.

        Raises:
            BackendError: The backend is closed, or SQLite failed (driver error chained).
        """
        if self._closed:
            raise BackendError(f"the SQLite backend for {str(self._path)!r} is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put((operation, loop, future, single_statement))
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
        self._queue.put((operation, None, future, single_statement))
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
        self._ready.set_result(None)
        try:
            self._loop(conn)
        finally:
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
        if isinstance(exc, sqlite3.Error):
            error = translate_error(exc, self._path)
            error.__cause__ = exc
            return error
        return exc

    def _deliver(self, items: list[_Item], outcomes: list[tuple[bool, Any]]) -> None:
        """Hand outcomes back: one thread-safe callback per event loop."""
        by_loop: dict[asyncio.AbstractEventLoop, list[_Outcome]] = {}
        for (_, loop, future, _), (ok, value) in zip(items, outcomes, strict=True):
            if loop is None:  # a blocking caller: its concurrent future wakes it
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)
                continue
            by_loop.setdefault(loop, []).append((future, ok, value))  # type: ignore[arg-type]
        for loop, results in by_loop.items():
            with contextlib.suppress(RuntimeError):  # loop closed: nobody awaits any more
                loop.call_soon_threadsafe(_resolve, results)


def _blocking_callers(items: list[_Item]) -> int:
    """How many of ``items`` come from blocking callers (:meth:`_ConnectionThread.call`)."""
    return sum(1 for _, loop, _, _ in items if loop is None)


def _resolve(results: list[_Outcome]) -> None:
    for future, ok, value in results:
        if future.cancelled():
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)


class ReaderThread(_ConnectionThread):
    """Runs read operations, each in its own implicit read transaction."""

    def _loop(self, conn: sqlite3.Connection) -> None:
        while True:
            items, stopping = self._take_batch(64)
            outcomes: list[tuple[bool, Any]] = []
            for operation, _, _, _ in items:
                try:
                    outcomes.append((True, operation(conn)))
                except BaseException as exc:
                    outcomes.append((False, self._error(exc)))
            self._deliver(items, outcomes)
            if stopping:
                return


class WriterThread(_ConnectionThread):
    """Runs write operations in batches: one transaction and one commit per batch.

    Args:
        name: Thread name.
        connect: Opens the connection (called in the thread).
        path: Database file, for error messages.
        max_batch: Most operations committed together.
    """

    def __init__(
        self,
        name: str,
        connect: Callable[[], sqlite3.Connection],
        path: Path,
        max_batch: int = 512,
    ) -> None:
        self._max_batch = max_batch
        super().__init__(name, connect, path)

    def _loop(self, conn: sqlite3.Connection) -> None:
        released = 0  # blocking callers the previous commit released
        while True:
            items, stopping = self._take_batch(self._max_batch)
            if not stopping:
                stopping = self._regroup(items, released)
            if items:
                self._deliver(items, self._run_batch(conn, items))
            released = _blocking_callers(items)
            if stopping:
                return

    def _regroup(self, items: list[_Item], expected: int) -> bool:
        """Wait briefly for the blocking callers the previous commit released.

        A thread blocked in :meth:`call` (a sync ``enqueue``, say) usually calls again as
        soon as its commit returns. Starting the next transaction without it would make it
        wait for one more whole commit; so while fewer of them are queued than the previous
        batch released, the writer waits for them, at most :data:`_REGROUP_SECONDS` (a
        fraction of a commit). Nothing waits when no blocking caller was released.

        Returns:
            Whether a stop request arrived meanwhile.
        """
        waiting = _blocking_callers(items)
        deadline = time.monotonic() + _REGROUP_SECONDS
        while waiting < expected and len(items) < self._max_batch:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            try:
                item = self._queue.get(timeout=remaining)
            except queue.Empty:
                return False
            if item is _STOP:
                return True
            items.append(item)
            waiting += item[1] is None
        return False

    def _run_batch(self, conn: sqlite3.Connection, items: list[_Item]) -> list[tuple[bool, Any]]:
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
        try:
            self._begin(conn)
            outcomes = self._run_unguarded(conn, items) if len(items) > 1 else None
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
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            error = self._error(exc)
            _log.error("SQLite transaction failed, %d operations undone: %s", len(items), error)
            return [(False, error)] * len(items)
        return outcomes

    def _run_unguarded(
        self, conn: sqlite3.Connection, items: list[_Item]
    ) -> list[tuple[bool, Any]] | None:
        """Run every operation with no savepoint; ``None`` (all undone) if one fails."""
        outcomes: list[tuple[bool, Any]] = []
        for operation, _, _, _ in items:
            try:
                outcomes.append((True, operation(conn)))
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                return None
        return outcomes

    def _run_guarded(self, conn: sqlite3.Connection, items: list[_Item]) -> list[tuple[bool, Any]]:
        """Run each operation in its own savepoint; stop if the transaction is lost."""
        outcomes: list[tuple[bool, Any]] = []
        for operation, _, _, single_statement in items:
            outcomes.append(self._run_one(conn, operation, single_statement))
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
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                if time.monotonic() > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.05)
