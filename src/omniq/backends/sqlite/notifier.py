"""Wake-ups from other processes sharing a SQLite file: a watch on the file's ``-wal``.

SQLite has no LISTEN/NOTIFY. On Linux, :class:`FileWatchNotifier` watches the database's
directory with inotify, and OmniQ's writer marks each of its commits on the database's
``-wal`` file (:meth:`FileWatchNotifier.committed`: it opens the file read-only and closes
it, which inotify reports and which writes nothing, after the commit is visible). The
watch tells the process's idle workers to look at the store: a task enqueued by another
process is claimed at once, and an idle worker need not poll often (once a second, the
backstop for a missed wake-up; see ``NOTIFIED_POLL_SECONDS`` in :mod:`omniq.workers.worker`).

The commit's own writes to the ``-wal`` are not what is watched: they come before the
commit is visible to readers (SQLite publishes it in the memory-mapped ``-shm`` index, which
inotify does not see), so a worker woken by them would look too early, find nothing, and
sleep until its next poll. Reading the store changes nothing a watch reports, so an idle
worker is woken only by commits: its own heartbeats, and others' work.

The watch is kept only while a worker of this process waits for tasks
(:meth:`omniq.core.notify.Channel.watch_task_demand`): a producer process does not wake
on every commit of every other process. A commit says nothing of what changed, so only
workers are woken; result waiters in other processes keep polling at their
``poll_interval``. A task stored with a later due time is noted when a worker's look finds
it (:meth:`FileWatchNotifier.due_later`), so the worker wakes when it becomes due; a task
another process's worker sets to retry later is seen at the next poll (within a second).

Where inotify is missing (not Linux, or the ``inotify_simple`` package is not installed),
:func:`file_watch_notifier` returns ``None`` and workers poll at their ``poll_interval``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from omniq.storage.interfaces import NotificationSink

__all__ = ["QUIET_SECONDS", "FileWatchNotifier", "file_watch_notifier"]

#: How :meth:`FileWatchNotifier.committed` opens the ``-wal`` (never written, never inherited).
_OPEN_FLAGS = os.O_RDONLY | os.O_CLOEXEC

#: After a wake-up, commits are read again this much later (at most this much added wait).
QUIET_SECONDS = 0.001

_log = logging.getLogger("omniq.backends.sqlite")

try:  # Linux only; pure Python (ctypes), a dependency there
    import inotify_simple
except (ImportError, OSError):  # pragma: no cover - other platforms
    inotify_simple = None


def file_watch_notifier(db_path: Path) -> FileWatchNotifier | None:
    """A notifier for ``db_path``, or ``None`` where the platform cannot watch files."""
    if inotify_simple is None or not sys.platform.startswith("linux"):
        return None  # pragma: no cover - other platforms
    return FileWatchNotifier(db_path)


class FileWatchNotifier:
    """Wakes this process's idle workers when another connection writes the database.

    Args:
        db_path: The database file (its directory is watched, for its ``-wal``).
    """

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        self.wal_path = db_path.with_name(db_path.name + "-wal")
        self._names = {self.wal_path.name}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sink: NotificationSink | None = None
        self._watch: Any = None  # inotify_simple.INotify while watching
        self._forget_demand: Callable[[], None] | None = None
        self._resume: asyncio.TimerHandle | None = None  # the end of a quiet pause

    def committed(self) -> None:
        """Mark a commit for the watchers of other processes (open and close the ``-wal``).

        Opening a file read-only and closing it changes nothing on disk, but inotify
        reports it (``IN_CLOSE_NOWRITE``). A ``utime`` would do too, but it dirties the
        file's inode: on ext4 the next commit's ``fdatasync`` then also writes the journal,
        which cost ~0.1x of a one-insert commit's rate at ``synchronous=FULL``. SQLite holds
        no POSIX lock on the ``-wal`` (its locks are on the database and ``-shm`` files), so
        closing this descriptor cannot release one of the process's locks.
        """
        with contextlib.suppress(OSError):  # no -wal yet (or any more): nobody to wake
            os.close(os.open(self.wal_path, _OPEN_FLAGS))

    def due_later(self, when: float) -> None:
        """Tell this process's idle workers that a task stored elsewhere is due at ``when``.

        Called (from any thread) by the task queue when a look finds a delayed task: a
        commit wakes the workers when it is made, but nothing wakes them when its task
        becomes due.
        """
        sink = self._sink
        if sink is not None and self._watch is not None:
            sink.tasks_available(when)

    @property
    def watching(self) -> bool:
        """Whether the directory is being watched now."""
        return self._watch is not None

    async def start(self, sink: NotificationSink) -> None:
        """Watch while ``sink`` has workers waiting for tasks (always, for another sink)."""
        if self._loop is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._sink = sink
        watch_demand = getattr(sink, "watch_task_demand", None)
        if watch_demand is None:
            self._begin()
        else:
            self._forget_demand = watch_demand(self._demand_changed)

    async def stop(self) -> None:
        """Stop watching (idempotent)."""
        if self._forget_demand is not None:
            self._forget_demand()
            self._forget_demand = None
        self._end()
        self._loop = self._sink = None

    def _demand_changed(self, wanted: bool) -> None:
        """From any thread: start or stop watching, on the notifier's loop."""
        loop = self._loop
        if loop is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop is closed: stop() is coming
            loop.call_soon_threadsafe(self._begin if wanted else self._end)

    def _begin(self) -> None:
        if self._watch is not None or self._loop is None:
            return
        assert inotify_simple is not None
        flags = inotify_simple.flags
        try:
            watch = inotify_simple.INotify(nonblocking=True)
        except OSError as exc:  # e.g. the per-user limit of inotify instances
            _log.info("cannot watch %s (%s): workers poll", self.db_path, exc)
            return
        try:
            # CLOSE_NOWRITE: :meth:`committed`; ATTRIB: earlier versions touched the file
            watch.add_watch(self.db_path.parent, flags.CLOSE_NOWRITE | flags.ATTRIB)
            self._loop.add_reader(watch.fileno(), self._readable)
        except OSError as exc:
            watch.close()
            _log.info("cannot watch %s (%s): workers poll", self.db_path, exc)
            return
        self._watch = watch

    def _end(self) -> None:
        watch, self._watch = self._watch, None
        if self._resume is not None:
            self._resume.cancel()
            self._resume = None
        if watch is None:
            return
        if self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(watch.fileno())
        watch.close()

    def _listen_again(self) -> None:
        """After a quiet pause: read what came meanwhile, and watch the file again."""
        self._resume = None
        watch, loop = self._watch, self._loop
        if watch is None or loop is None:
            return
        loop.add_reader(watch.fileno(), self._readable)
        self._readable()

    def _readable(self) -> None:
        watch = self._watch
        if watch is None:
            return
        try:
            events = watch.read(timeout=0)
        except OSError:
            return
        overflow = inotify_simple.flags.Q_OVERFLOW if inotify_simple is not None else 0
        if self._sink is None or not any(
            event.name in self._names or event.mask & overflow for event in events
        ):
            return
        self._sink.tasks_available()
        # Busy producers commit hundreds of times a second, and a woken worker looks at
        # everything committed so far: stop reading for a moment, so that the commits made
        # meanwhile wake it once (the kernel merges their identical events), not once each.
        loop = self._loop
        if loop is not None and self._resume is None:
            loop.remove_reader(watch.fileno())
            self._resume = loop.call_later(QUIET_SECONDS, self._listen_again)
