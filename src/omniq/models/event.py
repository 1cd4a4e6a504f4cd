"""Lifecycle events written to the event store."""

from __future__ import annotations

from enum import StrEnum

import msgspec

__all__ = ["EventType", "TaskEvent"]


class EventType(StrEnum):
    """What happened to a task."""

    ENQUEUED = "enqueued"
    DEQUEUED = "dequeued"
    EXECUTING = "executing"
    COMPLETED = "completed"
    FAILED = "failed"
    RETRYING = "retrying"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    RELEASED = "released"
    CALLBACK_FAILED = "callback_failed"


class TaskEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One lifecycle event of one task.

    Attributes:
        task_id: The task it concerns.
        type: What happened.
        timestamp: When, as seconds since the epoch (UTC).
        worker_id: The worker involved, if any.
        error: Error text for ``failed``/``retrying``/``expired``/``cancelled``/
            ``callback_failed`` events, else ``None``.
        detail: Extra context (e.g. ``"attempt 2 of 4"``), else ``None``.
    """

    task_id: str
    type: EventType
    timestamp: float
    worker_id: str | None = None
    error: str | None = None
    detail: str | None = None
