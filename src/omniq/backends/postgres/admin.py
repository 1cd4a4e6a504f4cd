"""Listing, counting, re-queueing and purging verbs of the PostgreSQL task queue (a mixin)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from psycopg import AsyncConnection

from omniq.backends.postgres.notifications import tasks_payload
from omniq.backends.postgres.rows import event_arrays, task_from_row
from omniq.backends.postgres.verbs import Verbs
from omniq.models.event import TaskEvent
from omniq.models.task import TaskStatus
from omniq.storage.admin import QueueCounts
from omniq.storage.records import TaskRecord

__all__ = ["AdminVerbs"]


class AdminVerbs(Verbs):
    """The operating verbs (:class:`omniq.storage.admin.TaskAdmin`) on PostgreSQL."""

    async def queue_counts(self, now: float) -> list[QueueCounts]:
        """Return the counts of every queue holding tasks, by queue name."""

        async def select(conn: AsyncConnection[Any]) -> list[QueueCounts]:
            queues: dict[str, QueueCounts] = {}
            cursor = await conn.execute(self._q.queue_counts, {})
            for queue_name, status, count in await cursor.fetchall():
                entry = queues.setdefault(queue_name, QueueCounts(queue_name=queue_name, counts={}))
                entry.counts[status] = count
            cursor = await conn.execute(self._q.queue_due, {"now": now})
            for queue_name, due, delayed, oldest in await cursor.fetchall():
                # Two statements, two snapshots: a queue's first task may arrive in between.
                entry = queues.setdefault(queue_name, QueueCounts(queue_name=queue_name, counts={}))
                entry.due, entry.delayed, entry.oldest_due_at = due, delayed, oldest
            return [queues[name] for name in sorted(queues)]

        return await self._db.run(select)

    async def list_tasks(
        self, statuses: Sequence[TaskStatus] | None, queue_name: str | None, limit: int
    ) -> list[TaskRecord]:
        """Return up to ``limit`` tasks, most recently enqueued first."""
        params = {
            "statuses": None if statuses is None else [status.value for status in statuses],
            "queue": queue_name,
            "limit": limit,
        }
        return [task_from_row(row) for row in await self._rows(self._q.list_tasks, params)]

    async def requeue(
        self,
        task_id: str,
        now: float,
        events_for: Callable[[TaskStatus], Sequence[TaskEvent]] | None = None,
    ) -> TaskStatus | None:
        """Make a failed or expired task enqueued again (and log it); return its status before."""

        async def requeue(conn: AsyncConnection[Any]) -> TaskStatus | None:
            async with conn.transaction():
                cursor = await conn.execute(self._q.lock_status, {"id": task_id})
                row = await cursor.fetchone()
                if row is None:
                    return None
                before = TaskStatus(row[0])
                cursor = await conn.execute(self._q.requeue, {"id": task_id, "now": now})
                if cursor.rowcount:
                    if events_for is not None:
                        await conn.execute(self._q.append_events, event_arrays(events_for(before)))
                    await self._notify(conn, tasks_payload(None))
            return before

        return await self._db.run(requeue)

    async def purge_tasks(
        self, statuses: Sequence[TaskStatus], finished_before: float, dry_run: bool = False
    ) -> list[str]:
        """Delete final tasks in ``statuses`` finished before ``finished_before``."""
        final = [status.value for status in statuses if status.is_final]
        if not final:
            return []
        params = {"statuses": final, "before": finished_before}
        statement = self._q.purgeable if dry_run else self._q.purge_tasks
        return [row[0] for row in await self._rows(statement, params)]
