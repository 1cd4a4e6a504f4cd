"""The public view of a task, and the states it moves through."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

import msgspec

__all__ = ["Task", "TaskError", "TaskStatus"]


class TaskStatus(StrEnum):
    """Where a task is in its lifecycle.

    ``WAITING`` tasks wait for their dependencies; ``ENQUEUED`` and ``RETRYING`` tasks wait for
    a worker (possibly until their ``run_at``); ``EXECUTING`` tasks hold a lease; the last four
    are final.
    """

    WAITING = "waiting"
    ENQUEUED = "enqueued"
    EXECUTING = "executing"
    RETRYING = "retrying"
    COMPLETED = "completed"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        """Whether the task will never run again."""
        return self in _FINAL


_FINAL = frozenset(
    {TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.EXPIRED, TaskStatus.CANCELLED}
)


class TaskError(msgspec.Struct, frozen=True, kw_only=True):
    """An exception raised by a task body, captured in the worker.

    Attributes:
        type: Qualified name of the exception class, e.g. ``"builtins.ValueError"``.
        message: ``str()`` of the exception.
        traceback: The formatted traceback text, or ``None`` when there is none.
    """

    type: str
    message: str
    traceback: str | None = None


class Task(msgspec.Struct, frozen=True, kw_only=True):
    """A task as :meth:`omniq.OmniQ.get_task` returns it.

    Attributes:
        id: The task id returned by ``enqueue``.
        func: A readable reference to the callable, ``"module:qualname"``.
        args: The keyword arguments given as ``func_args``.
        kwargs: The keyword arguments given as ``func_kwargs``.
        queue_name: The queue the task waits in.
        priority: Higher runs first within its queue.
        status: Current lifecycle state.
        name: Optional human-readable name.
        description: Optional description.
        tags: Free-form tags.
        created_at: When it was enqueued (UTC).
        run_at: Earliest time it may run (UTC); moves forward on retry.
        expires_at: Deadline to start, from ``ttl`` (UTC), or ``None``.
        started_at: Start of the latest attempt (UTC), or ``None``.
        finished_at: When it reached a final state (UTC), or ``None``.
        retry_count: How many retries have been scheduled so far.
        max_retries: How many retries it may have.
        worker_id: The worker that ran (or runs) the latest attempt.
        error: The latest error, or ``None``.
        depends_on: Ids of the tasks that must complete before this one runs.
        timeout: Seconds an attempt may run before it fails with a timeout, or ``None``.
        cancel_requested: A cancellation was requested while the task was executing (it
            ends ``cancelled`` once its worker notices).
        attempts: Attempts started so far (claims by a worker), counting those whose
            worker died or lost its lease: a task run again after its worker was killed
            has ``attempts == 2`` and ``retry_count == 0``. A task may start
            ``max_retries + 1`` attempts in all.
    """

    id: str
    func: str
    args: dict[str, Any]
    kwargs: dict[str, Any]
    queue_name: str
    priority: int
    status: TaskStatus
    name: str | None
    description: str | None
    tags: list[str]
    created_at: dt.datetime
    run_at: dt.datetime
    expires_at: dt.datetime | None
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    retry_count: int
    max_retries: int
    worker_id: str | None
    error: TaskError | None
    depends_on: list[str] = msgspec.field(default_factory=list)
    timeout: float | None = None
    cancel_requested: bool = False
    attempts: int = 0
