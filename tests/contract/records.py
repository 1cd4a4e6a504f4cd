"""Builders for the records the contract tests store."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from omniq.storage.admin import TaskAdmin
from omniq.storage.interfaces import Backend, TaskQueue
from omniq.storage.records import CLAIMABLE_STATUSES, ResultRecord, TaskRecord

#: The ``make_backend`` fixture: builds another initialized backend on the same store.
MakeBackend = Callable[[], Awaitable[Backend]]

#: A fixed "now" for the tests; backends must use the times they are given, not the clock.
NOW = 1_700_000_000.0

_counter = itertools.count()


def new_id(prefix: str = "t") -> str:
    return f"{prefix}-{next(_counter):06d}-{uuid.uuid4().hex[:8]}"


def make_task(
    task_id: str | None = None,
    *,
    queue: str = "default",
    priority: int = 0,
    run_at: float = NOW,
    created_at: float | None = None,
    **fields: Any,
) -> TaskRecord:
    """A fresh ``enqueued`` task; extra keyword arguments set any other field."""
    return TaskRecord(
        id=task_id or new_id(),
        func_name="tests.contract:func",
        payload=b"\x00payload\xff",
        queue_name=queue,
        priority=priority,
        created_at=NOW if created_at is None else created_at,
        run_at=run_at,
        **fields,
    )


def make_result(
    task_id: str | None = None, *, expires_at: float | None = None, payload: bytes = b"\x01r"
) -> ResultRecord:
    return ResultRecord(
        task_id=task_id or new_id("r"), payload=payload, created_at=NOW, expires_at=expires_at
    )


async def next_due(queue: TaskQueue, queues: list[str]) -> float | None:
    """Earliest ``run_at`` of a claimable task in ``queues`` (``None``: nothing claimable)."""
    assert isinstance(queue, TaskAdmin)
    run_ats = [
        task.run_at
        for name in queues
        for task in await queue.list_tasks(list(CLAIMABLE_STATUSES), name, 100_000)
    ]
    return min(run_ats, default=None)
