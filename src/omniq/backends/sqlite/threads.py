"""One thread per connection: a group-committing writer and a reader.

SQLite connections belong to one thread, and a commit costs an fsync at ``synchronous=FULL``.
The writer thread therefore takes every write operation waiting in its queue, runs them all in
one ``BEGIN IMMEDIATE`` transaction (each inside its own savepoint, so one failing operation
does not undo the others) and commits once: concurrent enqueues, claims, result writes and
events share one fsync. Each caller still learns only after the commit that its operation is
durable, so batching weakens nothing a commit promises.
"""

from __future__ import annotations

import asyncio
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

_log = logging.getLogger("omniq.backends.sqlite")
_STOP = object()
_BUSY_RETRY_LIMIT = 600.0  # seconds a transaction keeps retrying a locked database


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

    def submit(self, operation: Callable[[sqlite3.Connection], T]) -> Future[T]:
        """Queue ``operation``; the future resolves once it ran (and, for writes, committed)."""
        if self._closed:
            raise BackendError(f"the SQLite backend for {str(self._path)!r} is closed")
        future: Future[T] = Future()
        self._queue.put((operation, future))
        return future

    async def run(self, operation: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``operation`` in the thread and await its result from any event loop."""
        return await asyncio.wrap_future(self.submit(operation))

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


class ReaderThread(_ConnectionThread):
    """Runs read operations one at a time, each in its own implicit read transaction."""

    def _loop(self, conn: sqlite3.Connection) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            operation, future = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(operation(conn))
            except sqlite3.Error as exc:
                future.set_exception(_wrap(translate_error(exc, self._path), exc))
            except BaseException as exc:
                future.set_exception(exc)


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
        stopping = False
        while not stopping:
            batch = [self._queue.get()]
            while len(batch) < self._max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            if _STOP in batch:
                stopping = True
                batch = [item for item in batch if item is not _STOP]
            work = [(op, fut) for op, fut in batch if fut.set_running_or_notify_cancel()]
            if work:
                self._run_batch(conn, work)

    def _run_batch(
        self, conn: sqlite3.Connection, work: list[tuple[Operation, Future[Any]]]
    ) -> None:
        outcomes: list[tuple[bool, Any]] = []
        try:
            self._begin(conn)
            for operation, _ in work:
                conn.execute("SAVEPOINT op")
                try:
                    outcomes.append((True, operation(conn)))
                except BaseException as exc:
                    conn.execute("ROLLBACK TO op")
                    outcomes.append((False, exc))
                finally:
                    conn.execute("RELEASE op")
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            error = _wrap(translate_error(exc, self._path), exc)
            _log.error("SQLite transaction failed, %d operations not applied: %s", len(work), error)
            for _, future in work:
                future.set_exception(error)
            return
        for (_, future), (ok, value) in zip(work, outcomes, strict=True):
            if ok:
                future.set_result(value)
            elif isinstance(value, sqlite3.Error):
                future.set_exception(_wrap(translate_error(value, self._path), value))
            else:
                future.set_exception(value)

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


def _wrap(error: BackendError, cause: BaseException) -> BackendError:
    error.__cause__ = cause
    return error
