"""Reading a task's outcome: its result, or the error that explains why there is none."""

from __future__ import annotations

import asyncio
from typing import Any

from omniq.core.store import Store
from omniq.exceptions import (
    ResultExpiredError,
    TaskCancelledError,
    TaskExpiredError,
    TaskFailedError,
    TaskNotFoundError,
)
from omniq.models.task import TaskStatus
from omniq.serialization import Serializer

__all__ = ["PENDING", "read_outcome"]

#: Returned by :func:`read_outcome` while the task has no final outcome yet.
PENDING: Any = object()


async def read_outcome(task_id: str, store: Store, serializer: Serializer) -> Any:
    """Return the task's result, :data:`PENDING`, or raise why there is none.

    The status decides: a result is returned only for a ``completed`` task. A result left
    behind by an attempt that lost its lease (stored before its completion was refused) is
    therefore never returned for a task that later failed, and it cannot have replaced the
    completing attempt's result (see :meth:`omniq.storage.ResultStorage.put_many`).
    Results are stored before (or with) the status, so a ``completed`` task's result is
    there to read.

    Raises:
        TaskNotFoundError: No such task.
        TaskFailedError: The task failed for good.
        TaskExpiredError: Its ttl passed before it started.
        TaskCancelledError: It was cancelled.
        ResultExpiredError: It completed, but the result was deleted after ``result_ttl``.
    """
    # Both reads at once (one batch on SQLite's reader); the status decides, and a result
    # read before the completing attempt stored its own is read again.
    record, result = await asyncio.gather(
        store.task_queue.get(task_id), store.result_store.get(task_id, store.clock.now())
    )
    if record is None:
        raise TaskNotFoundError(task_id)
    status = record.status
    if status is TaskStatus.COMPLETED:
        if not record.store_result:
            return None
        if result is None or result.attempt < record.attempts:
            result = await store.result_store.get(task_id, store.clock.now())
        if result is None:
            raise ResultExpiredError(task_id)
        return serializer.load_value(result.payload)
    if status is TaskStatus.FAILED:
        error = record.error
        raise TaskFailedError(
            task_id,
            error.type if error else "unknown",
            error.message if error else "no error recorded",
            error.traceback if error else None,
        )
    if status is TaskStatus.EXPIRED:
        raise TaskExpiredError(task_id)
    if status is TaskStatus.CANCELLED:
        raise TaskCancelledError(task_id)
    return PENDING
