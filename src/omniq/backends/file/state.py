"""What the three roles of one file backend share: the store, the event log, the threads.

Every verb is blocking file I/O, so none runs on an event loop: a caller on any loop
awaits the outcome on its own loop (``run_in_executor``), which keeps the any-loop rule.
Verbs that write run on **one writer thread**, in the order they were issued (so the
backend declares ``ordered_writes``: a release of dependents issued before a claim is
applied before it); each writes its files in parallel on the store's I/O threads, so their
fsyncs overlap. Reads run on a pool of reader threads. The sync ``enqueue`` path calls the
blocking verb directly from the caller's thread (:class:`omniq.storage.BlockingEnqueue`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
from collections.abc import Callable
from typing import Any, TypeVar

from omniq.backends.file.event_log import EventLogFiles
from omniq.backends.file.store import ObjectStore
from omniq.backends.file.writer import Kind, WriterThread
from omniq.exceptions import BackendError

__all__ = ["GRACE_SECONDS", "FileState"]

T = TypeVar("T")

#: An index entry that disagrees with its task is removed only once it is this old: a
#: younger one may belong to a write still in flight in another process.
GRACE_SECONDS = 60.0


class FileState:
    """The open store of one backend (``None`` members while closed).

    Args:
        describe: The backend's ``repr`` (named when a closed backend refuses a verb).
        threads: Reader threads.
    """

    def __init__(self, describe: str, threads: int) -> None:
        self.describe = describe
        self.threads = threads
        self.store: ObjectStore | None = None
        self.log: EventLogFiles | None = None
        self._executor: WriterThread | None = None
        self._readers: concurrent.futures.ThreadPoolExecutor | None = None

    def attach(self, store: ObjectStore) -> None:
        """Start serving verbs on an opened store."""
        log = EventLogFiles(store)
        log.open()
        self.store, self.log = store, log
        self._executor = WriterThread("omniq-file-writer")
        self._readers = concurrent.futures.ThreadPoolExecutor(
            self.threads, thread_name_prefix="omniq-file-reader"
        )

    def detach(self) -> ObjectStore | None:
        """Stop serving verbs (waits for running ones); return the store to close."""
        executor, self._executor = self._executor, None
        readers, self._readers = self._readers, None
        if executor is not None:
            executor.shutdown()
        if readers is not None:
            readers.shutdown(wait=True)
        store, self.store, self.log = self.store, None, None
        return store

    def opened(self) -> tuple[ObjectStore, EventLogFiles]:
        """The store and log, or raise if closed."""
        store, log = self.store, self.log
        if store is None or log is None:
            raise BackendError(f"the {self.describe} is closed: initialize() it again to use it")
        return store, log

    async def run(self, func: Callable[..., T], *args: Any, kind: Kind = "other") -> T:
        """Run a verb that writes on the writer thread (in issue order); await it anywhere."""
        writer = self._executor
        if writer is None:
            raise BackendError(f"the {self.describe} is closed: initialize() it again to use it")
        try:
            future = writer.submit(functools.partial(func, *args), kind)
        except RuntimeError as exc:  # shut down between the check and the call
            raise BackendError(f"the {self.describe} is closed") from exc
        result: T = await asyncio.wrap_future(future)
        return result

    async def read(self, func: Callable[..., T], *args: Any) -> T:
        """Run a verb that only reads on a reader thread; await it from any event loop."""
        readers = self._readers
        if readers is None:
            raise BackendError(f"the {self.describe} is closed: initialize() it again to use it")
        loop = asyncio.get_running_loop()
        try:
            future = loop.run_in_executor(readers, functools.partial(func, *args))
        except RuntimeError as exc:  # shut down between the check and the call
            raise BackendError(f"the {self.describe} is closed") from exc
        return await future
