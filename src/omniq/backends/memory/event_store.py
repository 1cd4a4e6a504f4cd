"""An in-process, append-only event log."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from omniq.backends.memory.event_log import EventLogVerbs
from omniq.models.event import TaskEvent

__all__ = ["MemoryEventStorage"]


class MemoryEventStorage(EventLogVerbs):
    """An :class:`~omniq.storage.interfaces.EventStorage` kept in process memory.

    Thread-safe and usable from any event loop. Events are immutable, so they are stored as
    given; each task's events are kept in append order.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_task: dict[str, list[TaskEvent]] = {}
        self._log: list[tuple[int, TaskEvent]] = []  # (position, event), for recent_events
        self._last_position = 0

    async def append(self, events: Sequence[TaskEvent]) -> None:
        """Append events, keeping their order."""
        self.append_now(events)

    def append_now(self, events: Sequence[TaskEvent]) -> None:
        """Append events synchronously (for writes that must be atomic with another store's)."""
        with self._lock:
            for event in events:
                self._by_task.setdefault(event.task_id, []).append(event)
                self._last_position += 1
                self._log.append((self._last_position, event))

    async def for_task(self, task_id: str) -> list[TaskEvent]:
        """Return a task's events in the order they were appended."""
        with self._lock:
            return list(self._by_task.get(task_id, ()))
