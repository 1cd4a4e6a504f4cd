"""The writer thread of one file backend: verbs that write, in the order they were issued.

Verbs that are queued together share their directory fsyncs (group commit): the writer
runs them one after the other, then makes the union of the directories they changed
durable once, and only then hands their outcomes back. Each verb's files are fsynced
before they take their names, as always; nothing is acknowledged before it is durable.

One exception to the order: a claim queued right behind a release of dependents waits for
the next append (up to :data:`HOLD_SECONDS`). The core releases dependents, then appends
their ``enqueued`` events in a second write; a claim that slipped in between would write
the task's ``dequeued`` event before its ``enqueued`` one. Letting that append go first
keeps every task's history in order.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Literal

__all__ = ["GROUP", "HOLD_SECONDS", "Kind", "WriterThread"]

#: Longest wait of a claim for the append that follows a release of dependents.
HOLD_SECONDS = 0.005
#: Most verbs whose directory fsyncs are grouped.
_GROUP_LIMIT = 64


class _Group(threading.local):
    """Per thread: the directories left to flush by the verb running on the writer.

    ``None`` outside the writer thread: there, :meth:`Writes.commit` flushes at once.
    """

    pending: dict[Any, set[str]] | None = None


GROUP = _Group()

Kind = Literal["claim", "release", "append", "other"]
_Item = tuple[Callable[[], Any], Future[Any], Kind]


class WriterThread:
    """Runs submitted calls one at a time on a daemon thread.

    Args:
        name: The thread's name.
    """

    def __init__(self, name: str) -> None:
        self._queue: collections.deque[_Item] = collections.deque()
        self._cond = threading.Condition()
        self._stopping = False
        self._hold_until = 0.0
        self._dirty: dict[Any, set[str]] = {}
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()

    def submit(self, call: Callable[[], Any], kind: Kind = "other") -> Future[Any]:
        """Queue ``call``; its outcome goes to the returned future.

        Raises:
            RuntimeError: The writer is stopped.
        """
        future: Future[Any] = Future()
        with self._cond:
            if self._stopping:
                raise RuntimeError("the writer thread is stopped")
            self._queue.append((call, future, kind))
            self._cond.notify()
        return future

    def shutdown(self) -> None:
        """Run what is queued, then stop the thread."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        if threading.current_thread() is not self._thread:
            self._thread.join()

    def _next(self) -> _Item | None:
        with self._cond:
            while True:
                if not self._queue:
                    if self._stopping:
                        return None
                    self._cond.wait()
                    continue
                wait = self._hold_until - time.monotonic()
                if wait <= 0 or self._queue[0][2] != "claim":
                    return self._queue.popleft()
                for index, item in enumerate(self._queue):
                    if item[2] != "claim":  # let the others (the append) go first
                        del self._queue[index]
                        return item
                self._cond.wait(wait)

    def _idle(self) -> bool:
        with self._cond:
            return not self._queue

    def _main(self) -> None:
        done: list[tuple[Future[Any], bool, Any]] = []
        while (item := self._next()) is not None:
            call, future, kind = item
            if not future.set_running_or_notify_cancel():
                continue
            GROUP.pending = {}
            try:
                result = call()
                ok = True
            except BaseException as exc:
                result, ok = exc, False
            pending: dict[Any, set[str]] = GROUP.pending
            GROUP.pending = None
            if ok and kind == "release" and result:
                self._hold_until = time.monotonic() + HOLD_SECONDS
            elif kind == "append":
                self._hold_until = 0.0
            for store, dirs in pending.items():
                self._dirty.setdefault(store, set()).update(dirs)
            done.append((future, ok, result))
            if len(done) >= _GROUP_LIMIT or self._idle():
                self._settle(done)
                done = []
        self._settle(done)

    def _settle(self, done: list[tuple[Future[Any], bool, Any]]) -> None:
        """Flush the directories the group changed, then hand every outcome back."""
        dirty, self._dirty = self._dirty, {}
        failure: BaseException | None = None
        for store, dirs in dirty.items():
            try:
                store.flush(dirs)
            except BaseException as exc:
                failure = exc
        for future, ok, result in done:
            if failure is not None and ok:
                future.set_exception(failure)
            elif ok:
                future.set_result(result)
            else:
                future.set_exception(result)
