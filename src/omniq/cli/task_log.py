"""An event storage wrapper that logs one line per task lifecycle step.

``omniq worker`` runs its worker on it, so every step the worker records (dequeued,
executing, completed, retrying, failed...) also appears in the process's log.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from omniq.models.event import EventType, TaskEvent
from omniq.storage.interfaces import Backend

__all__ = ["LoggingEvents"]

_log = logging.getLogger("omniq.tasks")
_WARN = {EventType.FAILED, EventType.EXPIRED}


class LoggingEvents:
    """Delegates to ``backend.event_store`` (looked up at each call) and logs each event.

    Args:
        backend: The backend whose event storage receives the events.
    """

    def __init__(self, backend: Backend) -> None:
        self._backend = backend

    # No ``write_order``: events the task queue could write itself (fused with a claim,
    # a retry or a lease recovery) must come through ``append`` to be logged.

    async def append(self, events: Sequence[TaskEvent]) -> None:
        """Append events to the wrapped storage, then log them."""
        await self._backend.event_store.append(events)
        for event in events:
            extra = " ".join(filter(None, [event.detail, event.error]))
            level = logging.WARNING if event.type in _WARN else logging.INFO
            _log.log(
                level,
                "task %s %s%s",
                event.task_id,
                event.type.value,
                f": {extra}" if extra else "",
            )

    async def for_task(self, task_id: str) -> list[TaskEvent]:
        """Return a task's events from the wrapped storage."""
        return await self._backend.event_store.for_task(task_id)
