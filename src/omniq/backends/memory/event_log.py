"""Reading and trimming the memory event log across tasks (mixed into the event storage)."""

from __future__ import annotations

import bisect
import threading
from collections.abc import Sequence

from omniq.models.event import TaskEvent
from omniq.storage.cursors import parse_position

__all__ = ["EventLogVerbs"]


class EventLogVerbs:
    """The :class:`omniq.storage.admin.EventLog` verbs; cursors count appends from 1.

    ``_log`` holds ``(position, event)`` in append order; the storage fills it. The cursor
    of an event is its position as a decimal string.
    """

    _lock: threading.Lock
    _by_task: dict[str, list[TaskEvent]]
    _log: list[tuple[int, TaskEvent]]

    async def recent_events(self, after: str | None, limit: int) -> list[tuple[str, TaskEvent]]:
        """Return events after cursor ``after`` (or the last ``limit``), oldest first."""
        position = None if after is None else parse_position(after)
        with self._lock:
            if position is None:
                found = self._log[-limit:] if limit > 0 else []
            else:
                start = bisect.bisect_right(self._log, position, key=lambda entry: entry[0])
                found = self._log[start : start + limit]
            return [(str(position), event) for position, event in found]

    async def delete_events(self, task_ids: Sequence[str]) -> int:
        """Delete the events of these tasks; return how many."""
        doomed = set(task_ids)
        with self._lock:
            deleted = sum(len(self._by_task.pop(task_id, ())) for task_id in doomed)
            self._log = [entry for entry in self._log if entry[1].task_id not in doomed]
            return deleted
