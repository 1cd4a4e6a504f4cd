"""Listing, counting, re-queueing and purging verbs of the NATS task queue (a mixin).

The state bucket has no secondary index, so these operator verbs read every task's last
value (one pass over the bucket, through a short-lived consumer): their cost grows with the
number of stored tasks, which ``omniq purge`` keeps in check.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import msgspec

from omniq.backends.nats.codec import StoredTask, decode_task
from omniq.backends.nats.connection import Conflict
from omniq.backends.nats.notifications import tasks_payload
from omniq.backends.nats.verbs import Verbs, gather_map
from omniq.exceptions import BackendError
from omniq.models.event import TaskEvent
from omniq.models.task import TaskStatus
from omniq.storage.admin import QueueCounts
from omniq.storage.records import CLAIMABLE_STATUSES, TaskRecord

__all__ = ["AdminVerbs"]

_replace = msgspec.structs.replace
_REQUEUEABLE = (TaskStatus.FAILED, TaskStatus.EXPIRED)


class AdminVerbs(Verbs):
    """The operating verbs (:class:`omniq.storage.admin.TaskAdmin`) on NATS."""

    async def _all_tasks(self) -> list[tuple[int, StoredTask]]:
        """Every stored task with its revision (on the bridge loop), in key-write order."""
        messages = await self._conn.scan(
            self._names.state_stream, self._names.state_filter("t"), last_per_subject=True
        )
        return [(m.seq, decode_task(m.data, m.seq)) for m in messages if not m.deleted and m.data]

    async def queue_counts(self, now: float) -> list[QueueCounts]:
        """Return the counts of every queue holding tasks, by queue name."""

        async def count() -> list[QueueCounts]:
            queues: dict[str, QueueCounts] = {}
            for _, stored in await self._all_tasks():
                task = stored.task
                name = task.queue_name
                entry = queues.setdefault(name, QueueCounts(queue_name=name, counts={}))
                entry.counts[task.status.value] = entry.counts.get(task.status.value, 0) + 1
                if task.status not in CLAIMABLE_STATUSES:
                    continue
                if task.run_at <= now:
                    entry.due += 1
                    if entry.oldest_due_at is None or task.run_at < entry.oldest_due_at:
                        entry.oldest_due_at = task.run_at
                else:
                    entry.delayed += 1
            return [queues[name] for name in sorted(queues)]

        return await self._conn.run(count)

    async def list_tasks(
        self, statuses: Sequence[TaskStatus] | None, queue_name: str | None, limit: int
    ) -> list[TaskRecord]:
        """Return up to ``limit`` tasks, most recently enqueued first."""
        wanted = None if statuses is None else set(statuses)

        async def select() -> list[TaskRecord]:
            found = [
                stored
                for _, stored in await self._all_tasks()
                if (wanted is None or stored.task.status in wanted)
                and (queue_name is None or stored.task.queue_name == queue_name)
            ]
            found.sort(key=lambda stored: stored.seq, reverse=True)
            return [stored.task for stored in found[:limit]]

        return await self._conn.run(select)

    async def requeue(
        self,
        task_id: str,
        now: float,
        events_for: Callable[[TaskStatus], Sequence[TaskEvent]] | None = None,
    ) -> TaskStatus | None:
        """Make a failed or expired task enqueued again; return its status before."""
        if events_for is not None:
            raise BackendError("the NATS backend does not write events with a requeue")
        before: list[TaskStatus] = []

        def requeue(task: TaskRecord) -> TaskRecord | None:
            before.append(task.status)
            if task.status not in _REQUEUEABLE:
                return None
            return _replace(task, status=TaskStatus.ENQUEUED, run_at=now, retry_count=0,
                            attempts=0, error=None, started_at=None, finished_at=None,
                            expires_at=None, worker_id=None, lease_expires_at=None,
                            cancel_requested=False)  # fmt: skip

        async def run() -> TaskStatus | None:
            done = await self._change(task_id, requeue)
            if done is not None:
                await self._wake(tasks_payload(None))
            return before[-1] if before else None

        return await self._conn.run(run)

    async def purge_tasks(
        self, statuses: Sequence[TaskStatus], finished_before: float, dry_run: bool = False
    ) -> list[str]:
        """Delete final tasks in ``statuses`` finished before ``finished_before``."""
        final = {status for status in statuses if status.is_final}
        if not final:
            return []

        async def purge() -> list[str]:
            doomed = sorted(
                (
                    (rev, stored)
                    for rev, stored in await self._all_tasks()
                    if stored.task.status in final
                    and stored.task.finished_at is not None
                    and stored.task.finished_at < finished_before
                ),
                key=lambda item: item[1].seq,
            )
            if dry_run:
                return [stored.task.id for _, stored in doomed]
            done = await gather_map(self._purge_one, doomed)
            return [stored.task.id for (_, stored), ok in zip(doomed, done, strict=True) if ok]

        return await self._conn.run(purge)

    async def _purge_one(self, found: tuple[int, StoredTask]) -> bool:
        rev, task = found[0], found[1].task
        try:
            await self._conn.delete(self._names.task_subject(task.id), last=rev, purge=True)
        except Conflict:
            return False  # changed meanwhile (re-queued): kept
        if task.schedule_id is not None:
            subject = self._names.run_subject(task.schedule_id, task.id)
            await self._conn.delete(subject, purge=True)
        return True
