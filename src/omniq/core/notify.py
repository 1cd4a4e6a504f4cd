"""In-process wake-ups: new tasks wake idle workers, stored results wake waiters at once.

New schedules wake the schedule loops (and only them: an enqueue does not make a schedule
loop look at the store).

Backends with the same ``channel`` (e.g. the same SQLite file) share one :class:`Channel`, so
two OmniQ instances in one process see each other without polling. Waiters may live on any
event loop in any thread; notifications are thread-safe. Other processes reach a channel
through the store's notifier (:class:`omniq.storage.Notifier`: LISTEN/NOTIFY, pub/sub...),
which calls the :class:`omniq.storage.NotificationSink` methods; polling is the backstop.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import threading
import time
from collections import defaultdict
from collections.abc import Callable

__all__ = ["Channel", "channel"]

_KEEP_PAST_DUE_SECONDS = 60.0


class _Wakeups:
    """Listeners woken together, and the times at which they should look again."""

    def __init__(self) -> None:
        self.listeners: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
        self.due_times: list[float] = []  # sorted epoch times

    def add(self, event: asyncio.Event) -> None:
        self.listeners.add((asyncio.get_running_loop(), event))

    def remove(self, event: asyncio.Event) -> None:
        self.listeners = {item for item in self.listeners if item[1] is not event}

    def note_due(self, when: float) -> None:
        bisect.insort(self.due_times, when)
        # Forget times long past: every listener has looked at the store since.
        stale = bisect.bisect_left(self.due_times, time.time() - _KEEP_PAST_DUE_SECONDS)
        del self.due_times[:stale]

    def next_due(self, after: float) -> float | None:
        index = bisect.bisect_right(self.due_times, after)
        return self.due_times[index] if index < len(self.due_times) else None


class Channel:
    """Wake-up points for one store.

    Three kinds of listeners: workers waiting for tasks, schedule loops waiting for
    schedules, and workers watching for cancellation requests; plus result waiters.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tasks = _Wakeups()
        self._schedules = _Wakeups()
        self._cancels = _Wakeups()
        self._demand_observers: list[Callable[[bool], None]] = []
        self._result_waiters: defaultdict[
            str, set[tuple[asyncio.AbstractEventLoop, asyncio.Event]]
        ] = defaultdict(set)

    def add_task_listener(self, event: asyncio.Event) -> None:
        """Set ``event`` (on the running loop) whenever tasks are enqueued or become due."""
        with self._lock:
            first = not self._tasks.listeners
            self._tasks.add(event)
            observers = list(self._demand_observers) if first else []
        for observer in observers:
            observer(True)

    def remove_task_listener(self, event: asyncio.Event) -> None:
        """Stop setting ``event``."""
        with self._lock:
            had = bool(self._tasks.listeners)
            self._tasks.remove(event)
            last = had and not self._tasks.listeners
            observers = list(self._demand_observers) if last else []
        for observer in observers:
            observer(False)

    def watch_task_demand(self, observer: Callable[[bool], None]) -> Callable[[], None]:
        """Tell ``observer`` whether anyone in this process waits for tasks.

        A notifier whose watching costs something in every process (a file watch) uses it
        to watch only while a worker listens. ``observer(True)`` is called when the first
        task listener is added (and at once if there is one), ``observer(False)`` when the
        last is removed; from the thread that adds or removes it.

        Returns:
            A function that stops the calls.
        """
        with self._lock:
            self._demand_observers.append(observer)
            listening = bool(self._tasks.listeners)
        if listening:
            observer(True)

        def forget() -> None:
            with self._lock, contextlib.suppress(ValueError):
                self._demand_observers.remove(observer)

        return forget

    def notify_tasks(self) -> None:
        """Wake every task listener."""
        self._wake(self._tasks)

    def notify_tasks_at(self, when: float) -> None:
        """Note that a task becomes due at ``when`` (epoch seconds) and wake the listeners.

        Idle workers of this process then sleep no longer than until ``when`` (see
        :meth:`next_due`), however long their poll interval.
        """
        with self._lock:
            self._tasks.note_due(when)
        self.notify_tasks()

    def next_due(self, after: float) -> float | None:
        """The earliest noted task due time later than ``after``, or ``None``.

        Args:
            after: The time of the caller's last look at the store: anything due by then
                was visible to it.
        """
        with self._lock:
            return self._tasks.next_due(after)

    def add_schedule_listener(self, event: asyncio.Event) -> None:
        """Set ``event`` (on the running loop) whenever a schedule is added or resumed."""
        with self._lock:
            self._schedules.add(event)

    def remove_schedule_listener(self, event: asyncio.Event) -> None:
        """Stop setting ``event``."""
        with self._lock:
            self._schedules.remove(event)

    def notify_schedules_at(self, when: float) -> None:
        """Note that a schedule's next run is due at ``when`` and wake the schedule loops."""
        with self._lock:
            self._schedules.note_due(when)
        self._wake(self._schedules)

    def next_schedule_due(self, after: float) -> float | None:
        """The earliest noted schedule run time later than ``after``, or ``None``."""
        with self._lock:
            return self._schedules.next_due(after)

    def add_cancel_listener(self, event: asyncio.Event) -> None:
        """Set ``event`` (on the running loop) whenever a running task's cancel is requested."""
        with self._lock:
            self._cancels.add(event)

    def remove_cancel_listener(self, event: asyncio.Event) -> None:
        """Stop setting ``event``."""
        with self._lock:
            self._cancels.remove(event)

    def notify_cancel(self) -> None:
        """Wake every cancel listener (workers then look for tasks to interrupt)."""
        self._wake(self._cancels)

    def _wake(self, wakeups: _Wakeups) -> None:
        with self._lock:
            listeners = list(wakeups.listeners)
        for loop, event in listeners:
            _set_threadsafe(loop, event)

    # -- NotificationSink: what a store's notifier reports from other processes ------------

    def tasks_available(self, when: float | None = None) -> None:
        """Tasks were stored or became claimable, due at ``when`` (or now)."""
        if when is None:
            self.notify_tasks()
        else:
            self.notify_tasks_at(when)

    def result_ready(self, task_id: str) -> None:
        """``task_id`` reached a final outcome."""
        self.notify_result(task_id)

    def schedules_changed(self, when: float | None = None) -> None:
        """A schedule was added or resumed, next due at ``when``."""
        if when is None:
            self._wake(self._schedules)
        else:
            self.notify_schedules_at(when)

    def cancel_requested(self) -> None:
        """The cancellation of an executing task was requested."""
        self.notify_cancel()

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
    elif event.is_set():
        # Already set, and its listener has not cleared it yet: it clears it before it
        # looks at the store again, so that look sees what this wake-up announces. No
        # call into its loop (a busy producer would otherwise wake that thread per task).
        return
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
