"""Listing, counting, re-queueing and purging verbs of the SQLite task queue (a mixin)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence

from omniq.backends.sqlite.event_store import INSERT_EVENT, event_row
from omniq.backends.sqlite.rows import TASK_COLUMNS, record_from_row
from omniq.backends.sqlite.threads import ReaderThread, WriterThread
from omniq.models.event import TaskEvent
from omniq.models.task import TaskStatus
from omniq.storage.admin import QueueCounts
from omniq.storage.records import TaskRecord

__all__ = ["AdminVerbs"]

_COLUMNS = ", ".join(TASK_COLUMNS)
_COUNTS = "SELECT queue_name, status, COUNT(*) FROM tasks GROUP BY queue_name, status"
_DUE = """
SELECT queue_name, SUM(run_at <= :now), SUM(run_at > :now), MIN(CASE WHEN run_at <= :now
       THEN run_at END)
  FROM tasks WHERE status IN ('enqueued', 'retrying') GROUP BY queue_name
"""
_REQUEUE = """
UPDATE tasks
   SET status = 'enqueued', run_at = ?, retry_count = 0, attempts = 0, error = NULL,
       started_at = NULL, finished_at = NULL, expires_at = NULL, worker_id = NULL,
       lease_expires_at = NULL, cancel_requested = 0
 WHERE id = ? AND status IN ('failed', 'expired')
"""
_CHUNK = 500  # SQL variable limit


def _marks(count: int) -> str:
    return ", ".join("?" * count)


class AdminVerbs:
    """The operating verbs (:class:`omniq.storage.admin.TaskAdmin`) on SQLite."""

    _writer: WriterThread
    _reader: ReaderThread

    async def queue_counts(self, now: float) -> list[QueueCounts]:
        """Return the counts of every queue holding tasks, by queue name."""

        def select(conn: sqlite3.Connection) -> list[QueueCounts]:
            queues: dict[str, QueueCounts] = {}
            for queue_name, status, count in conn.execute(_COUNTS):
                entry = queues.setdefault(queue_name, QueueCounts(queue_name=queue_name, counts={}))
                entry.counts[status] = count
            for queue_name, due, delayed, oldest in conn.execute(_DUE, {"now": now}):
                entry = queues[queue_name]
                entry.due, entry.delayed, entry.oldest_due_at = due or 0, delayed or 0, oldest
            return [queues[name] for name in sorted(queues)]

        return await self._reader.run(select)

    async def list_tasks(
        self, statuses: Sequence[TaskStatus] | None, queue_name: str | None, limit: int
    ) -> list[TaskRecord]:
        """Return up to ``limit`` tasks, most recently enqueued first."""
        where: list[str] = []
        params: list[object] = []
        if statuses is not None:
            where.append(f"status IN ({_marks(len(statuses))})")
            params.extend(status.value for status in statuses)
        if queue_name is not None:
            where.append("queue_name = ?")
            params.append(queue_name)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        sql = f"SELECT {_COLUMNS} FROM tasks{clause} ORDER BY seq DESC LIMIT ?"
        params.append(limit)

        def select(conn: sqlite3.Connection) -> list[TaskRecord]:
            return [record_from_row(row) for row in conn.execute(sql, params)]

        return await self._reader.run(select)

    async def requeue(
        self,
        task_id: str,
        now: float,
        events_for: Callable[[TaskStatus], Sequence[TaskEvent]] | None = None,
    ) -> TaskStatus | None:
        """Make a failed or expired task enqueued again (and log it); return its status before."""

        def requeue(conn: sqlite3.Connection) -> TaskStatus | None:
            row = conn.execute("SELECT status FROM tasks WHERE id = ?", (task_id,)).fetchone()
            if row is None:
                return None
            before = TaskStatus(row[0])
            changed = conn.execute(_REQUEUE, (now, task_id)).rowcount
            if changed and events_for is not None:
                conn.executemany(INSERT_EVENT, [event_row(e) for e in events_for(before)])
            return before

        return await self._writer.run(requeue)

    async def purge_tasks(
        self, statuses: Sequence[TaskStatus], finished_before: float, dry_run: bool = False
    ) -> list[str]:
        """Delete final tasks in ``statuses`` finished before ``finished_before``."""
        final = [status.value for status in statuses if status.is_final]
        if not final:
            return []
        select_sql = (
            f"SELECT id FROM tasks WHERE status IN ({_marks(len(final))}) "
            "AND finished_at < ? ORDER BY seq"
        )
        params = (*final, finished_before)
        if dry_run:
            return await self._reader.run(
                lambda conn: [row[0] for row in conn.execute(select_sql, params)]
            )

        def purge(conn: sqlite3.Connection) -> list[str]:
            ids = [row[0] for row in conn.execute(select_sql, params)]
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start : start + _CHUNK]
                conn.execute(f"DELETE FROM tasks WHERE id IN ({_marks(len(chunk))})", chunk)
                conn.execute(
                    f"DELETE FROM task_dependencies WHERE task_id IN ({_marks(len(chunk))})",
                    chunk,
                )
            return ids

        return await self._writer.run(purge)
