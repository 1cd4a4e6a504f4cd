"""The file backend: tasks, results and events as files in a directory, in memory or a bucket."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omniq.backends.file.documents import StoreMarker, decode, encode
from omniq.backends.file.event_store import FileEventStorage
from omniq.backends.file.location import Location
from omniq.backends.file.result_store import FileResultStorage
from omniq.backends.file.state import FileState
from omniq.backends.file.store import Guarantees, Writes
from omniq.backends.file.task_queue import FileTaskQueue
from omniq.exceptions import BackendError, ConfigurationError
from omniq.storage.capabilities import Capabilities
from omniq.storage.lifecycle import BackendLifecycle
from omniq.storage.names import validate_project_name

__all__ = ["FileBackend"]


class FileBackend(BackendLifecycle):
    """Task queue, result storage and event storage as JSON files, over fsspec.

    Args:
        project_name: The project: its files go in ``<path>/<project_name>/``.
        path: A local directory (default ``$OMNIQ_HOME/files``, see
            :func:`omniq.backends.file.location.default_path`) or an fsspec URL:
            ``memory://omniq``, ``s3://bucket/prefix``, ``gs://...``, ``az://...``.
        storage_options: Passed to fsspec unchanged (credentials, ``endpoint_url``...).
            Values that look like credentials are masked in every message.
        durable: fsync every file before it takes its real name (local directories), so
            no crash leaves a torn file and every acknowledged write is on disk. Turn off
            only where losing the last writes on a power cut is acceptable.
        sync_directories: Also fsync the directories each verb changed, once per verb
            (POSIX needs it for a new name to survive a power cut; ext4 and XFS commit it
            with their journal within seconds anyway). ``False`` roughly doubles the rate
            of one-by-one enqueues (see the backends page).
        threads: Threads running reads (writes run in order on one writer thread;
            blocking file I/O never runs on an event loop).
        io_threads: Threads writing the files of one verb in parallel.

    Attributes:
        task_queue: The task queue.
        result_store: The result storage.
        event_store: The event storage.
        channel: In-process wake-up key (the store's location).
        capabilities: Fused events (a task's events are in its own file, written with
            each change), fused results (a completion writes the result into the
            task's file with its status), ordered writes (one writer thread); shared,
            except ``memory://``.
        guarantees: What the store promises (:class:`~omniq.backends.file.store.Guarantees`),
            known once it is open: whether claims are exclusive, durable...

    Example:
        >>> backend = FileBackend(project_name="shop", path="/var/lib/omniq")
        >>> backend.initialize()
        >>> backend.close()
    """

    task_queue: FileTaskQueue
    result_store: FileResultStorage
    event_store: FileEventStorage

    def __init__(
        self,
        project_name: str,
        path: str | os.PathLike[str] | None = None,
        storage_options: Mapping[str, Any] | None = None,
        *,
        durable: bool = True,
        sync_directories: bool = True,
        threads: int = 4,
        io_threads: int = 8,
    ) -> None:
        self.project_name = validate_project_name(project_name)
        self.location = Location(path, project_name, storage_options)
        for name, flag in (("durable", durable), ("sync_directories", sync_directories)):
            if not isinstance(flag, bool):
                raise ConfigurationError(f"{name} {flag!r} is not True or False")
        for name, value in (("threads", threads), ("io_threads", io_threads)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigurationError(f"{name} {value!r} is not a positive integer")
        self.durable = durable
        self.sync_directories = sync_directories
        self.io_threads = io_threads
        self.capabilities = Capabilities(
            fused_events=True,
            fused_results=True,
            ordered_writes=True,
            shared=self.location.shared,
        )
        self.channel = f"file:{self.location.display}"
        self._state = FileState(repr(self), threads)
        self.result_store = FileResultStorage(self._state)
        self.task_queue = FileTaskQueue(self._state, self.result_store)
        self.event_store = FileEventStorage(self._state)
        self._lifecycle = threading.Lock()

    @property
    def guarantees(self) -> Guarantees:
        """What the open store promises.

        Raises:
            BackendError: The backend is not open.
        """
        store, _ = self._state.opened()
        return store.guarantees

    @property
    def root(self) -> Path | str:
        """The project's directory (a local path, or the URL with secrets masked)."""
        return self.location.local_root or self.location.display

    def initialize(self) -> None:
        """Create (or open) the project's directory and start the verb threads (idempotent).

        Raises:
            BackendError: The location cannot be written (read-only, a file where a
                directory should be, a missing bucket, credentials refused); the message
                names it, secrets masked.
            MissingDependencyError: The URL needs a package that is not installed.
        """
        with self._lifecycle:
            if self._state.store is not None:
                return
            store = self.location.store(
                durable=self.durable, sync_directories=self.sync_directories,
                io_threads=self.io_threads,
            )  # fmt: skip
            try:
                store.open()
                self._mark(store)
            except BackendError as exc:
                store.close()
                raise BackendError(self.location.scrub(str(exc))) from None
            except BaseException:
                store.close()
                raise
            self._state.attach(store)

    def _mark(self, store: Any) -> None:
        """Write ``omniq.json`` once; a foreign one is reported and left alone."""
        found = store.read("omniq.json")
        if found is None:
            writes = Writes(store)
            writes.create("omniq.json", encode(StoreMarker(project=self.project_name)))
            writes.commit()
            return
        decode(StoreMarker, found.data, f"{store.location}/omniq.json")

    async def initialize_async(self) -> None:
        """Async twin of :meth:`initialize` (runs it in a thread)."""
        await asyncio.to_thread(self.initialize)

    def close(self) -> None:
        """Let running verbs finish, then stop the threads (idempotent)."""
        with self._lifecycle:
            store = self._state.detach()
        if store is not None:
            store.close()

    async def close_async(self) -> None:
        """Async twin of :meth:`close`."""
        await asyncio.to_thread(self.close)

    def store_exists(self) -> bool:
        """Whether the project's directory exists (see :class:`omniq.storage.StoreProbe`).

        Raises:
            BackendError: The location cannot be listed (missing bucket, bad credentials).
        """
        return self.location.exists()

    def __repr__(self) -> str:
        return f"FileBackend(project_name={self.project_name!r}, path={self.location.display!r})"
