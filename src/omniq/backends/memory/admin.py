"""Listing, counting, re-queueing and purging verbs of the memory task queue (a mixin)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from omniq.backends.memory.copies import copy_task
from omniq.backends.memory.event_store import MemoryEventStorage
from omniq.exceptions import BackendError
from omniq.models.event import TaskEvent
from omniq.models.task import TaskStatus
from omniq.storage.admin import QueueCounts
from omniq.storage.records import CLAIMABLE_STATUSES, TaskRecord

__all__ = ["AdminVerbs"]

_REQUEUEABLE = (TaskStatus.FAILED, TaskStatus.EXPIRED)


class AdminVerbs:
    """The operating verbs (:class:`omniq.storage.admin.TaskAdmin`) in process memory.

    They scan every stored task: fine for the sizes a memory store holds.
    """

    _lock: threading.Lock
    _tasks: dict[str, TaskRecord]
    event_sink: MemoryEventStorage | None
    _seq: dict[str, int]
    _dependents: dict[str, dict[str, None]]

    def _set_status(self, record: TaskRecord, status: TaskStatus) -> None:  # pragma: no cover
        raise NotImplementedError  # provided by the task queue

    async def queue_counts(self, now: float) -> list[QueueCounts]:
        """Return the counts of every queue holding tasks, by queue name."""
        queues: dict[str, QueueCounts] = {}
        with self._lock:
            for record in self._tasks.values():
                name = record.queue_name
                entry = queues.setdefault(name, QueueCounts(queue_name=name, counts={}))
                entry.counts[record.status.value] = entry.counts.get(record.status.value, 0) + 1
                if record.status not in CLAIMABLE_STATUSES:
                    continue
                if record.run_at <= now:
                    entry.due += 1
                    if entry.oldest_due_at is None or record.run_at < entry.oldest_due_at:
                        entry.oldest_due_at = record.run_at
                else:
                    entry.delayed += 1
        return [queues[name] for name in sorted(queues)]

    async def list_tasks(
        self, statuses: Sequence[TaskStatus] | None, queue_name: str | None, limit: int
    ) -> list[TaskRecord]:
        """Return up to ``limit`` tasks, most recently enqueued first."""
        wanted = None if statuses is None else set(statuses)
        with self._lock:
            found = [
                record
                for record in self._tasks.values()
                if (wanted is None or record.status in wanted)
                and (queue_name is None or record.queue_name == queue_name)
            ]
            found.sort(key=lambda record: self._seq[record.id], reverse=True)
            return [copy_task(record) for record in found[:limit]]

    async def requeue(
        self,
        task_id: str,
        now: float,
        events_for: Callable[[TaskStatus], Sequence[TaskEvent]] | None = None,
    ) -> TaskStatus | None:
        """Make a failed or expired task enqueued again (and log it); return its status before."""
        with self._lock:
            record = self._tasks.get(task_id)
            if record is None:
                return None
            before = record.status
            if before in _REQUEUEABLE:
                record.run_at = now
                record.retry_count = record.attempts = 0
                record.error = None
                record.started_at = record.finished_at = record.expires_at = None
                record.worker_id = None
                record.lease_expires_at = None
                record.cancel_requested = False
                self._set_status(record, TaskStatus.ENQUEUED)
                if events_for is not None:
                    if self.event_sink is None:
                        raise BackendError("events_for was given but there is no event store")
                    self.event_sink.append_now(events_for(before))
            return before

    async def purge_tasks(
        self, statuses: Sequence[TaskStatus], finished_before: float, dry_run: bool = False
    ) -> list[str]:
        """Delete final tasks in ``statuses`` finished before ``finished_before``."""
        final = {status for status in statuses if status.is_final}
        with self._lock:
            doomed = sorted(
                (
                    record
                    for record in self._tasks.values()
                    if record.status in final
                    and record.finished_at is not None
                    and record.finished_at < finished_before
                ),
                key=lambda record: self._seq[record.id],
            )
            if not dry_run:
                for record in doomed:
                    del self._tasks[record.id]
                    del self._seq[record.id]
                    for dependency in record.depends_on:
                        waiting = self._dependents.get(dependency)
                        if waiting is not None:
                            waiting.pop(record.id, None)
                            if not waiting:
                                del self._dependents[dependency]
            return [record.id for record in doomed]
