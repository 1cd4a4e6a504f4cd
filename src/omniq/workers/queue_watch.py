"""Which queues hold tasks, and which of them no live worker serves.

A worker with ``all_queues`` serves, besides its declared queues, every queue that holds
waiting tasks: :meth:`QueueWatch.waiting_queues` finds them. Every worker also looks, on its
maintenance passes, for queues with due tasks that no live worker serves (a producer that
enqueues to a queue nobody consumes would otherwise wait for ever, in silence), and logs
one warning when a queue becomes unserved and one line when it is served again.

Both need the store's admin verbs (:class:`omniq.storage.admin.TaskAdmin`, and the worker
registry for the second); on stores without them they do nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

from omniq.storage.admin import QueueCounts, TaskAdmin, WorkerRecord, WorkerRegistry
from omniq.storage.interfaces import TaskQueue

__all__ = ["ALL_QUEUES", "QueueWatch", "serves", "unserved_queues"]

_log = logging.getLogger("omniq.worker")

#: What a worker with ``all_queues`` shows among its queues in the worker registry.
ALL_QUEUES = "*"


def serves(queues: Iterable[str], queue_name: str) -> bool:
    """Whether a worker registered with ``queues`` serves ``queue_name``."""
    listed = set(queues)
    return queue_name in listed or ALL_QUEUES in listed


def unserved_queues(
    counts: Iterable[QueueCounts], workers: Iterable[WorkerRecord], now: float
) -> dict[str, int]:
    """The queues with due tasks that no live worker serves, with their due counts.

    Args:
        counts: The store's queue counts.
        workers: The registered workers (alive or not).
        now: The store's time (a worker is alive until its heartbeat is a lease old).
    """
    alive = [w for w in workers if w.heartbeat_at + w.lease_duration >= now]
    return {
        entry.queue_name: entry.due
        for entry in counts
        if entry.due and not any(serves(w.queues, entry.queue_name) for w in alive)
    }


class QueueWatch:
    """A worker's view of the store's queues (see the module's docstring).

    Args:
        task_queue: The worker's task queue.
        worker_id: The worker (named in the log lines).
    """

    def __init__(self, task_queue: TaskQueue, worker_id: str) -> None:
        self._task_queue = task_queue
        self._worker_id = worker_id
        self._unserved: dict[str, int] = {}

    async def waiting_queues(self, now: float) -> list[str]:
        """The queues holding tasks that wait to run (due or delayed), by name."""
        if not isinstance(self._task_queue, TaskAdmin):
            return []
        counts = await self._task_queue.queue_counts(now)
        return sorted(entry.queue_name for entry in counts if entry.due or entry.delayed)

    async def check_unserved(self, now: float, serving: Sequence[str]) -> dict[str, int]:
        """Log the queues that became unserved or served again; return the unserved ones.

        Args:
            now: The store's time.
            serving: This worker's queues (named in the warning).
        """
        queue = self._task_queue
        if not isinstance(queue, TaskAdmin) or not isinstance(queue, WorkerRegistry):
            return {}
        unserved = unserved_queues(
            await queue.queue_counts(now), await queue.list_workers(None), now
        )
        for name in sorted(unserved.keys() - self._unserved.keys()):
            _log.warning(
                "queue %r has %d due task(s) and no live worker serves it (this worker "
                "serves %s): start a worker with --queues %s, or one without --queues to "
                "serve every queue",
                name, unserved[name], ",".join(serving), name,
            )  # fmt: skip
        for name in sorted(self._unserved.keys() - unserved.keys()):
            _log.info("queue %r has no unserved due tasks any more", name)
        self._unserved = unserved
        return unserved
