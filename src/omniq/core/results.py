"""Reading a task's outcome: its result, or the error that explains why there is none."""

from __future__ import annotations

import time
from typing import Any

from omniq.exceptions import (
    ResultExpiredError,
    TaskCancelledError,
    TaskExpiredError,
    TaskFailedError,
    TaskNotFoundError,
)
from omniq.models.task import TaskStatus
from omniq.serialization import Serializer
from omniq.storage.interfaces import ResultStorage, TaskQueue

__all__ = ["PENDING", "read_outcome"]

#: Returned by :func:`read_outcome` while the task has no final outcome yet.
PENDING: Any = object()


async def read_outcome(
    task_id: str, task_queue: TaskQueue, result_store: ResultStorage, serializer: Serializer
) -> Any:
    """Return the task's result, :data:`PENDING`, or raise why there is none.

    Raises:
        TaskNotFoundError: No such task.
        TaskFailedError: The task failed for good.
        TaskExpiredError: Its ttl passed before it started.
        TaskCancelledError: It was cancelled.
        ResultExpiredError: It completed, but the result was deleted after ``result_ttl``.
    """
    result = await result_store.get(task_id, time.time())
    if result is not None:
        return serializer.load_value(result.payload)
    record = await task_queue.get(task_id)
    if record is None:
        raise TaskNotFoundError(task_id)
    status = record.status
    if status is TaskStatus.COMPLETED:
        if not record.store_result:
            return None
        # The result is written before the task is marked completed: look once more, in case
        # it landed between the two reads above.
        result = await result_store.get(task_id, time.time())
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
