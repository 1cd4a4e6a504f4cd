"""A worker's row in the store's worker registry: registered, kept alive, removed.

Only stores implementing :class:`omniq.storage.admin.WorkerRegistry` keep one; for others
these calls do nothing. A failing registry write is logged, never fatal: it only affects
what ``omniq status`` shows.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Sequence

from omniq.storage.admin import WorkerRecord, WorkerRegistry
from omniq.storage.interfaces import TaskQueue

__all__ = ["heartbeat", "register", "unregister"]

_log = logging.getLogger("omniq.worker")


async def register(
    task_queue: TaskQueue,
    worker_id: str,
    queues: Sequence[str],
    concurrency: int,
    lease_duration: float,
) -> None:
    """Add the worker's row (started and last seen now)."""
    if not isinstance(task_queue, WorkerRegistry):
        return
    now = time.time()
    record = WorkerRecord(
        id=worker_id, hostname=socket.gethostname(), pid=os.getpid(), queues=list(queues),
        concurrency=concurrency, lease_duration=lease_duration, started_at=now,
        heartbeat_at=now,
    )  # fmt: skip
    try:
        await task_queue.register_worker(record)
    except Exception:
        _log.exception("worker %s: registering it failed", worker_id)


async def heartbeat(task_queue: TaskQueue, worker_id: str) -> None:
    """Record that the worker is alive now."""
    if not isinstance(task_queue, WorkerRegistry):
        return
    try:
        await task_queue.heartbeat_worker(worker_id, time.time())
    except Exception:
        _log.exception("worker %s: its heartbeat failed", worker_id)


async def unregister(task_queue: TaskQueue, worker_id: str) -> None:
    """Remove the worker's row."""
    if not isinstance(task_queue, WorkerRegistry):
        return
    try:
        await task_queue.unregister_worker(worker_id)
    except Exception:
        _log.exception("worker %s: unregistering it failed", worker_id)
