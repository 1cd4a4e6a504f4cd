"""What backends store: tasks and results as plain records around opaque payload bytes.

Backends never look inside ``payload``; the core serializes and signs it. Times are seconds
since the epoch (UTC) as floats, so every backend can index and compare them natively.
"""

from __future__ import annotations

import msgspec

from omniq.models.schedule import ScheduleStatus
from omniq.models.task import TaskError, TaskStatus

__all__ = ["CLAIMABLE_STATUSES", "ResultRecord", "ScheduleRecord", "TaskRecord"]

#: Statuses a worker may claim once ``run_at`` has passed.
CLAIMABLE_STATUSES = (TaskStatus.ENQUEUED, TaskStatus.RETRYING)


class TaskRecord(msgspec.Struct, kw_only=True):
    """One stored task.

    Attributes:
        id: Unique task id.
        func_name: Readable reference of the callable (``module:qualname``).
        payload: Serialized, possibly signed callable and arguments (opaque to backends).
        queue_name: Queue the task waits in.
        priority: Higher is claimed first within a queue.
        status: Lifecycle state.
        created_at: Enqueue time.
        run_at: Earliest claim time.
        expires_at: Latest start time (from ``ttl``), or ``None``.
        name: Optional name.
        description: Optional description.
        tags: Tags.
        max_retries: Retries allowed after the first attempt.
        retry_count: Retries scheduled so far.
        attempts: Attempts started so far (claims), including ones whose worker died.
        retry_delay: Base delay before a retry, in seconds.
        retry_backoff: Multiplier applied to the delay per retry (1.0 = constant delay).
        retry_max_delay: Upper bound on a computed retry delay, in seconds.
        result_ttl: Seconds a stored result is kept, or ``None`` for ever.
        store_result: Whether the result is written to the result store.
        started_at: Start of the latest attempt.
        finished_at: Time a final state was reached.
        worker_id: Worker holding (or last holding) the task.
        lease_expires_at: End of the current lease while ``executing``.
        error: Latest error.
        schedule_id: The schedule that created this task (one of its runs), or ``None``.
        timeout: Seconds an attempt may run before it fails with a timeout, or ``None``.
        callback: Serialized callback call run after the task completes, or ``None``.
        depends_on: Ids of the tasks that must complete before this one runs.
        cancel_requested: A cancellation was requested while the task was executing.
    """

    id: str
    func_name: str
    payload: bytes
    queue_name: str = "default"
    priority: int = 0
    status: TaskStatus = TaskStatus.ENQUEUED
    created_at: float
    run_at: float
    expires_at: float | None = None
    name: str | None = None
    description: str | None = None
    tags: list[str] = msgspec.field(default_factory=list)
    max_retries: int = 3
    retry_count: int = 0
    attempts: int = 0
    retry_delay: float = 0.0
    retry_backoff: float = 1.0
    retry_max_delay: float | None = None
    result_ttl: float | None = None
    store_result: bool = True
    started_at: float | None = None
    finished_at: float | None = None
    worker_id: str | None = None
    lease_expires_at: float | None = None
    error: TaskError | None = None
    schedule_id: str | None = None
    timeout: float | None = None
    callback: bytes | None = None
    depends_on: list[str] = msgspec.field(default_factory=list)
    cancel_requested: bool = False


class ResultRecord(msgspec.Struct, kw_only=True):
    """One stored result.

    Attributes:
        task_id: The task that produced it.
        payload: Serialized, possibly signed value (opaque to backends).
        created_at: When it was stored.
        expires_at: When it disappears (from ``result_ttl``), or ``None``.
        attempt: The attempt that produced it (the task's ``attempts`` when it was
            claimed): a result never replaces one of a later attempt.
    """

    task_id: str
    payload: bytes
    created_at: float
    expires_at: float | None = None
    attempt: int = 0


class ScheduleRecord(msgspec.Struct, kw_only=True):
    """One stored schedule.

    Attributes:
        id: Unique schedule id.
        func_name: Readable reference of the callable.
        payload: Serialized call of every run (opaque to backends).
        spec: The definition (timing and task options), encoded by the core (opaque).
        status: ``active``, ``paused``, ``completed`` or ``cancelled``.
        next_run_at: When it fires next, ``None`` once final.
        run_count: Runs fired so far.
        max_runs: Most runs, or ``None``.
        created_at: Creation time.
        last_run_at: Time of the latest run, or ``None``.
    """

    id: str
    func_name: str
    payload: bytes
    spec: bytes
    status: ScheduleStatus = ScheduleStatus.ACTIVE
    next_run_at: float | None
    run_count: int = 0
    max_runs: int | None = None
    created_at: float
    last_run_at: float | None = None
