"""In-process wake-ups: new tasks wake idle workers, stored results wake waiters at once.

Backends with the same ``channel`` (e.g. the same SQLite file) share one :class:`Channel`, so
two OmniQ instances in one process see each other without polling. Waiters may live on any
event loop in any thread; notifications are thread-safe. Other processes are found by polling.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import threading
import time
from collections import defaultdict

__all__ = ["Channel", "channel"]

_KEEP_PAST_DUE_SECONDS = 60.0


class Channel:
    """Wake-up points for one store."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._task_listeners: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
        self._result_waiters: defaultdict[
            str, set[tuple[asyncio.AbstractEventLoop, asyncio.Event]]
        ] = defaultdict(set)
        self._due_times: list[float] = []  # sorted epoch times when tasks become due
        self._cancel_listeners: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()

    def add_task_listener(self, event: asyncio.Event) -> None:
        """Set ``event`` (on the running loop) whenever tasks are enqueued or become due."""
        with self._lock:
            self._task_listeners.add((asyncio.get_running_loop(), event))

    def remove_task_listener(self, event: asyncio.Event) -> None:
        """Stop setting ``event``."""
        with self._lock:
            self._task_listeners = {item for item in self._task_listeners if item[1] is not event}

    def notify_tasks(self) -> None:
        """Wake every task listener."""
        with self._lock:
            listeners = list(self._task_listeners)
        for loop, event in listeners:
            _set_threadsafe(loop, event)

    def add_cancel_listener(self, event: asyncio.Event) -> None:
        """Set ``event`` (on the running loop) whenever a running task's cancel is requested."""
        with self._lock:
            self._cancel_listeners.add((asyncio.get_running_loop(), event))

    def remove_cancel_listener(self, event: asyncio.Event) -> None:
        """Stop setting ``event``."""
        with self._lock:
            self._cancel_listeners = {
                item for item in self._cancel_listeners if item[1] is not event
            }

    def notify_cancel(self) -> None:
        """Wake every cancel listener (workers then look for tasks to interrupt)."""
        with self._lock:
            listeners = list(self._cancel_listeners)
        for loop, event in listeners:
            _set_threadsafe(loop, event)

    def notify_tasks_at(self, when: float) -> None:
        """Note that a task becomes due at ``when`` (epoch seconds) and wake the listeners.

        Idle workers of this process then sleep no longer than until ``when`` (see
        :meth:`next_due`), however long their poll interval.
        """
        with self._lock:
            bisect.insort(self._due_times, when)
            # Forget times long past: every listener has looked at the store since.
            stale = bisect.bisect_left(self._due_times, time.time() - _KEEP_PAST_DUE_SECONDS)
            del self._due_times[:stale]
        self.notify_tasks()

    def next_due(self, after: float) -> float | None:
        """The earliest noted due time later than ``after``, or ``None``.

        Args:
            after: The time of the caller's last look at the store: anything due by then
                was visible to it.
        """
        with self._lock:
            index = bisect.bisect_right(self._due_times, after)
            return self._due_times[index] if index < len(self._due_times) else None

    def watch_result(self, task_id: str) -> asyncio.Event:
        """Return an event (of the running loop) set when ``task_id`` gets a final outcome.

        Call :meth:`unwatch_result` with the same event when done.
        """
        event = asyncio.Event()
        with self._lock:
            self._result_waiters[task_id].add((asyncio.get_running_loop(), event))
        return event

    def unwatch_result(self, task_id: str, event: asyncio.Event) -> None:
        """Forget a watcher made by :meth:`watch_result`."""
        with self._lock:
            waiters = self._result_waiters.get(task_id)
            if waiters is None:
                return
            waiters.difference_update({item for item in waiters if item[1] is event})
            if not waiters:
                del self._result_waiters[task_id]

    def notify_result(self, task_id: str) -> None:
        """Wake the waiters of ``task_id``."""
        with self._lock:
            waiters = list(self._result_waiters.get(task_id, ()))
        for loop, event in waiters:
            _set_threadsafe(loop, event)


def _set_threadsafe(loop: asyncio.AbstractEventLoop, event: asyncio.Event) -> None:
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        event.set()
    else:
        # A closed loop means nobody waits there any more.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(event.set)


_channels: dict[str, Channel] = {}
_channels_lock = threading.Lock()


def channel(key: str) -> Channel:
    """The process-wide channel for a store key."""
    with _channels_lock:
        found = _channels.get(key)
        if found is None:
            found = _channels[key] = Channel()
        return found
