"""The SQLite backend: one file holds the task queue, the results and the events."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import sqlite3
import threading
from pathlib import Path

from omniq.backends.sqlite.connection import (
    SYNCHRONOUS_MODES,
    Synchronous,
    connect,
    enable_wal,
    quick_check,
    translate_error,
)
from omniq.backends.sqlite.event_store import SQLiteEventStorage
from omniq.backends.sqlite.notifier import FileWatchNotifier, file_watch_notifier
from omniq.backends.sqlite.paths import check_writable, default_db_path, validate_project_name
from omniq.backends.sqlite.result_store import SQLiteResultStorage
from omniq.backends.sqlite.schema import ensure_schema
from omniq.backends.sqlite.task_queue import SQLiteTaskQueue
from omniq.backends.sqlite.threads import ReaderThread, WriterThread
from omniq.exceptions import BackendError, ConfigurationError
from omniq.storage.capabilities import Capabilities
from omniq.storage.lifecycle import BackendLifecycle
from omniq.storage.private import create_private_file, make_private_dirs

__all__ = ["SQLiteBackend"]

_instances = itertools.count(1)


class SQLiteBackend(BackendLifecycle):
    """Task queue, result storage and event storage in one SQLite file (WAL mode).

    Several processes may share the file: claims are atomic, and a process waiting for the
    write lock retries instead of failing with ``database is locked``.

    Args:
        project_name: Names the default file, ``<data dir>/<project_name>.db`` (see
            :func:`omniq.backends.sqlite.paths.data_dir`).
        db_path: Use this file instead of the default.
        synchronous: ``PRAGMA synchronous``. ``"FULL"`` (default) fsyncs every commit: a
            committed task survives power loss. ``"NORMAL"`` survives an application or OS
            process crash but may lose the last commits on power loss, for ~10x fewer fsyncs.
        busy_timeout: Seconds one statement waits for another process's lock before retrying.
        max_batch: Most write operations committed in one transaction.

    Attributes:
        task_queue: The task queue.
        result_store: The result storage.
        event_store: The event storage.
        channel: In-process wake-up key (the resolved file path).
        capabilities: Everything: one writer thread commits a task, its events and its
            result in one transaction, in the order they were issued; other processes
            share the file.
        db_path: The database file.
        notifier: Wakes this process's idle workers when another process writes the file
            (inotify, Linux), or ``None`` where files cannot be watched: workers then poll.

    Example:
        >>> backend = SQLiteBackend(project_name="my_project", db_path=tmp / "q.db")
        >>> backend.initialize()
        >>> backend.close()
    """

    task_queue: SQLiteTaskQueue
    result_store: SQLiteResultStorage
    event_store: SQLiteEventStorage
    notifier: FileWatchNotifier | None
    capabilities = Capabilities(
        fused_events=True, fused_results=True, ordered_writes=True, shared=True
    )

    def __init__(
        self,
        project_name: str,
        db_path: str | Path | None = None,
        *,
        synchronous: Synchronous = "FULL",
        busy_timeout: float = 5.0,
        max_batch: int = 512,
    ) -> None:
        self.project_name = validate_project_name(project_name)
        if db_path is not None and not isinstance(db_path, str | Path):
            raise ConfigurationError(f"db_path {db_path!r} is not a str or pathlib.Path")
        mode = synchronous.upper() if isinstance(synchronous, str) else synchronous
        if mode not in SYNCHRONOUS_MODES:
            raise ConfigurationError(
                f"synchronous {synchronous!r} is not one of {', '.join(SYNCHRONOUS_MODES)}"
            )
        if not isinstance(busy_timeout, int | float) or busy_timeout <= 0:
            raise ConfigurationError(f"busy_timeout {busy_timeout!r} is not a positive number")
        if not isinstance(max_batch, int) or max_batch < 1:
            raise ConfigurationError(f"max_batch {max_batch!r} is not a positive integer")
        path = Path(db_path) if db_path is not None else default_db_path(project_name)
        self.db_path = path.expanduser().absolute()
        self.channel = f"sqlite:{self.db_path}"
        self.synchronous: Synchronous = mode
        self.busy_timeout = float(busy_timeout)
        self.max_batch = max_batch
        self.notifier = file_watch_notifier(self.db_path)
        self._writer: WriterThread | None = None
        self._reader: ReaderThread | None = None
        self._lifecycle_lock = threading.Lock()

    def initialize(self) -> None:
        """Create the file and schema if needed and start the connection threads (idempotent).

        Raises:
            StoreCorruptedError: The file is not an OmniQ SQLite database.
            BackendError: The file cannot be created or opened, or it, its directory or its
                file system is read-only (the message says which, and what to do).
        """
        with self._lifecycle_lock:
            if self._writer is None:
                self._start()

    def _start(self) -> None:
        check_writable(self.db_path)
        try:
            make_private_dirs(self.db_path.parent)
        except OSError as exc:
            raise BackendError(
                f"cannot create the directory of {str(self.db_path)!r}: {exc}"
            ) from exc
        # Owner-only whatever the umask; SQLite gives its -wal and -shm files the database's
        # mode. A failure here is reported by opening the file, with the path.
        with contextlib.suppress(OSError):
            create_private_file(self.db_path)
        opener = functools.partial(connect, self.db_path, self.synchronous, self.busy_timeout)
        number = next(_instances)
        writer = WriterThread(
            f"omniq-sqlite-writer-{number}", self._open_writer, self.db_path, self.max_batch,
            None if self.notifier is None else self.notifier.committed,
        )  # fmt: skip
        try:
            reader = ReaderThread(f"omniq-sqlite-reader-{number}", opener, self.db_path)
        except BaseException:
            writer.close()
            raise
        self._writer, self._reader = writer, reader
        self.task_queue = SQLiteTaskQueue(
            writer, reader, None if self.notifier is None else self.notifier.due_later
        )
        self.result_store = SQLiteResultStorage(writer, reader)
        self.event_store = SQLiteEventStorage(writer, reader)

    def _open_writer(self) -> sqlite3.Connection:
        conn = connect(self.db_path, self.synchronous, self.busy_timeout, wal=False, shared=True)
        try:
            ensure_schema(conn, self.db_path)
            quick_check(conn, self.db_path)
            enable_wal(conn, self.db_path)
        except sqlite3.Error as exc:
            conn.close()
            raise translate_error(exc, self.db_path) from exc
        except BaseException:
            conn.close()
            raise
        return conn

    async def initialize_async(self) -> None:
        """Async twin of :meth:`initialize` (runs it in a thread)."""
        await asyncio.to_thread(self.initialize)

    def close(self) -> None:
        """Let queued writes commit, then close the connections (idempotent)."""
        with self._lifecycle_lock:
            writer, reader = self._writer, self._reader
            self._writer = self._reader = None
        if writer is not None:
            writer.close()
        if reader is not None:
            reader.close()

    async def close_async(self) -> None:
        """Async twin of :meth:`close`."""
        await asyncio.to_thread(self.close)

    def store_exists(self) -> bool:
        """Whether the database file exists (see :class:`omniq.storage.StoreProbe`)."""
        return self.db_path.exists()

    def __repr__(self) -> str:
        return f"SQLiteBackend(project_name={self.project_name!r}, db_path={str(self.db_path)!r})"
