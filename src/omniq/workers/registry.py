"""A worker's row in the store's worker registry: registered, kept alive, removed.

Only stores implementing :class:`omniq.storage.admin.WorkerRegistry` keep one; for others
these calls do nothing. A failing registry write is logged, never fatal: it only affects
what ``omniq status`` shows.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Sequence

from omniq.storage.admin import WorkerRecord, WorkerRegistry
from omniq.storage.interfaces import TaskQueue
from omniq.workers.persistence import FailureLog, log_failure

__all__ = ["heartbeat", "register", "unregister"]

_log = logging.getLogger("omniq.worker")


async def register(
    task_queue: TaskQueue,
    worker_id: str,
    queues: Sequence[str],
    concurrency: int,
    lease_duration: float,
    now: float,
) -> None:
    """Add the worker's row (started and last seen ``now``)."""
    if not isinstance(task_queue, WorkerRegistry):
        return
    record = WorkerRecord(
        id=worker_id, hostname=socket.gethostname(), pid=os.getpid(), queues=list(queues),
        concurrency=concurrency, lease_duration=lease_duration, started_at=now,
        heartbeat_at=now,
    )  # fmt: skip
    try:
        await task_queue.register_worker(record)
    except Exception:
        log_failure(_log, f"worker {worker_id}: registering it failed")


async def heartbeat(
    task_queue: TaskQueue, worker_id: str, now: float, failures: FailureLog | None = None
) -> None:
    """Record that the worker is alive at ``now``.

    Args:
        task_queue: The worker's queue (a registry, or nothing is done).
        worker_id: The worker.
        now: Its heartbeat time.
        failures: Logs a heartbeat failing again and again once (else each failure is).
    """
    if not isinstance(task_queue, WorkerRegistry):
        return
    try:
        await task_queue.heartbeat_worker(worker_id, now)
    except Exception:
        if failures is None:
            log_failure(_log, f"worker {worker_id}: its heartbeat failed")
        else:
            failures.failed()
        return
    if failures is not None:
        failures.succeeded()


async def unregister(task_queue: TaskQueue, worker_id: str) -> None:
    """Remove the worker's row."""
    if not isinstance(task_queue, WorkerRegistry):
        return
    try:
        await task_queue.unregister_worker(worker_id)
    except Exception:
        log_failure(_log, f"worker {worker_id}: unregistering it failed")
