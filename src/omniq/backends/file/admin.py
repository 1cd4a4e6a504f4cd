"""Listing, counting, re-queueing and purging verbs of the file task queue (a mixin).

These read every task file (``tasks/*/*.json``): an operator's command, not a worker's
path, so their cost grows with the store (purge old tasks to keep it small).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from omniq.backends.file.documents import TaskDoc, report, stored_events
from omniq.backends.file.layout import id_of, task_key
from omniq.backends.file.store import ObjectStore, Writes
from omniq.backends.file.task_files import TaskFiles
from omniq.models.event import TaskEvent
from omniq.models.task import TaskStatus
from omniq.storage.admin import QueueCounts
from omniq.storage.records import CLAIMABLE_STATUSES, TaskRecord

__all__ = ["AdminVerbs"]

_REQUEUEABLE = (TaskStatus.FAILED, TaskStatus.EXPIRED)


class AdminVerbs(TaskFiles):
    """The operating verbs (:class:`omniq.storage.admin.TaskAdmin`) on files."""

    def _dependent_key(self, dependency: str, task_id: str) -> str:  # pragma: no cover
        raise NotImplementedError  # provided by the dependency verbs

    def _scan(self, store: ObjectStore) -> Iterator[tuple[TaskDoc, object]]:
        """Every readable task file."""
        for name in store.list("tasks"):
            key = f"tasks/{name}"
            if not name.endswith(".json") or key != task_key(id_of(name[: -len(".json")])):
                report(f"{store.location}/{key}", "it is not a task file")
                continue
            found = self._read(store, id_of(name[: -len(".json")]))
            if found is not None:
                yield found

    async def queue_counts(self, now: float) -> list[QueueCounts]:
        """Return the counts of every queue holding tasks, by queue name."""
        return await self._state.read(self._queue_counts, now)

    def _queue_counts(self, now: float) -> list[QueueCounts]:
        store, _ = self._open()
        queues: dict[str, QueueCounts] = {}
        for doc, _ in self._scan(store):
            record = doc.task
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
        return await self._state.read(
            self._list_tasks, None if statuses is None else set(statuses), queue_name, limit
        )

    def _list_tasks(
        self, statuses: set[TaskStatus] | None, queue_name: str | None, limit: int
    ) -> list[TaskRecord]:
        store, _ = self._open()
        found = [
            (doc.stamp, doc.task.id, doc.task)
            for doc, _ in self._scan(store)
            if (statuses is None or doc.task.status in statuses)
            and (queue_name is None or doc.task.queue_name == queue_name)
        ]
        found.sort(key=lambda item: (item[0], item[1]), reverse=True)
        return [record for _, _, record in found[:limit]]

    async def requeue(
        self,
        task_id: str,
        now: float,
        events_for: Callable[[TaskStatus], Sequence[TaskEvent]] | None = None,
    ) -> TaskStatus | None:
        """Make a failed or expired task enqueued again (and log it); return its status before."""
        return await self._state.run(self._requeue, task_id, now, events_for)

    def _requeue(
        self,
        task_id: str,
        now: float,
        events_for: Callable[[TaskStatus], Sequence[TaskEvent]] | None,
    ) -> TaskStatus | None:
        store, log = self._open()
        writes = Writes(store)
        found = self._read(store, task_id)
        if found is None:
            return None
        before = found[0].task.status
        if before not in _REQUEUEABLE:
            return before
        events = list(events_for(before)) if events_for is not None else []
        position, _ = log.append(writes, events)

        def change(current: TaskDoc) -> TaskDoc | None:
            if current.task.status not in _REQUEUEABLE:
                return None
            record = self._copy(current.task)
            record.run_at = now
            record.retry_count = record.attempts = 0
            record.error = None
            record.started_at = record.finished_at = record.expires_at = None
            record.worker_id = None
            record.lease_expires_at = None
            record.cancel_requested = False
            record.status = TaskStatus.ENQUEUED
            new = self._enter_queue(writes, current, record, stored_events(events, position))
            new.result = None
            return new

        if self._change(writes, task_id, change) is None:
            log.retract(writes, position, [task_id])
        writes.commit()
        return before

    async def purge_tasks(
        self, statuses: Sequence[TaskStatus], finished_before: float, dry_run: bool = False
    ) -> list[str]:
        """Delete final tasks in ``statuses`` finished before ``finished_before``."""
        final = {status for status in statuses if status.is_final}
        return await self._state.run(self._purge, final, finished_before, dry_run)

    def _purge(self, final: set[TaskStatus], finished_before: float, dry_run: bool) -> list[str]:
        store, _ = self._open()
        writes = Writes(store)
        doomed = sorted(
            (
                (doc.stamp, doc.task.id, doc, token)
                for doc, token in self._scan(store)
                if doc.task.status in final
                and doc.task.finished_at is not None
                and doc.task.finished_at < finished_before
            ),
            key=lambda item: (item[0], item[1]),
        )
        if dry_run:
            return [task_id for _, task_id, _, _ in doomed]
        deleted = []
        for _, task_id, doc, token in doomed:
            if writes.delete(task_key(task_id), token):
                deleted.append(task_id)
                for dependency in doc.task.depends_on:
                    writes.delete(self._dependent_key(dependency, task_id))
        writes.commit()
        return deleted
