"""Listing, counting, re-queueing and purging verbs of the SQLite task queue (a mixin)."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from omniq.backends.sqlite.connection import is_busy
from omniq.backends.sqlite.event_store import INSERT_EVENT, event_row
from omniq.backends.sqlite.rows import TASK_COLUMNS, record_from_row
from omniq.backends.sqlite.threads import ReaderThread, WriterThread
from omniq.models.event import TaskEvent
from omniq.models.task import TaskStatus
from omniq.storage.admin import QueueCounts, TaskFilter
from omniq.storage.cursors import parse_position
from omniq.storage.records import TaskRecord

__all__ = ["AdminVerbs"]

_COLUMNS = ", ".join(TASK_COLUMNS)
#: The counts the triggers of schema v5 keep (a few rows, whatever the number of tasks).
_COUNTS = "SELECT queue_name, status, n FROM task_counts WHERE n > 0"
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
#: Below this many tasks in the filtered statuses, browsing reads them by index and sorts.
_FEW = 5_000
_VACUUM_BUSY_LIMIT = 600.0  # seconds VACUUM keeps waiting for other writers' locks


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
                # Two statements, two snapshots: a queue's first task may arrive in between.
                entry = queues.setdefault(queue_name, QueueCounts(queue_name=queue_name, counts={}))
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

    async def browse_tasks(
        self, where: TaskFilter, before: str | None, limit: int
    ) -> tuple[list[TaskRecord], str | None]:
        """A page of filtered tasks, newest first; keyset paging on ``seq`` (no OFFSET).

        A status filter that few tasks match (``executing``, ``failed`` among millions of
        ``completed``) reads them through the ``(status, finished_at)`` index and sorts
        them, instead of walking the table from its newest row until enough match.
        """
        clauses, params = _filter_clauses(where)
        if before is not None:
            clauses.append("seq < ?")
            params.append(parse_position(before))
        clause = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        tail = f"{clause} ORDER BY seq DESC LIMIT ?"
        params.append(limit + 1)
        statuses = [status.value for status in where.statuses or ()]
        probe = (
            "SELECT COUNT(*) FROM (SELECT 1 FROM tasks INDEXED BY tasks_finished "
            f"WHERE status IN ({_marks(len(statuses))}) LIMIT {_FEW})"
        )

        def select(conn: sqlite3.Connection) -> tuple[list[TaskRecord], str | None]:
            few = bool(statuses) and conn.execute(probe, statuses).fetchone()[0] < _FEW
            index = " INDEXED BY tasks_finished" if few else ""
            rows = conn.execute(f"SELECT seq, {_COLUMNS} FROM tasks{index}{tail}", params)
            found = rows.fetchall()
            more = len(found) > limit
            found = found[:limit]
            cursor = str(found[-1][0]) if more else None
            return [record_from_row(row[1:]) for row in found], cursor

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

    async def sweep_orphans(self) -> int:
        """Delete results and events whose task is no longer in the file; return how many."""

        def sweep(conn: sqlite3.Connection) -> int:
            gone = "task_id NOT IN (SELECT id FROM tasks)"
            results = conn.execute(f"DELETE FROM results WHERE {gone}").rowcount
            return results + conn.execute(f"DELETE FROM events WHERE {gone}").rowcount

        return await self._writer.run(sweep)

    async def reclaim_space(self) -> int:
        """Rewrite the file without its free pages (``VACUUM``); return the bytes freed.

        ``VACUUM`` copies every live row into a new file: it needs free disk space up to the
        database's size, and holds the write lock until it is done, so workers' writes (claims,
        outcomes, enqueues) wait meanwhile (they retry through a busy timeout). It waits in
        turn while other connections write (retrying for up to 10 minutes), so it never fails
        with ``database is locked``.
        """

        def vacuum(conn: sqlite3.Connection) -> int:
            path = Path(conn.execute("PRAGMA database_list").fetchone()[2])
            before = _file_size(path)
            deadline = time.monotonic() + _VACUUM_BUSY_LIMIT
            while True:  # other processes' writes hold the lock now and then: wait for a gap
                try:
                    conn.execute("VACUUM")
                    break
                except sqlite3.OperationalError as exc:
                    if not is_busy(exc) or time.monotonic() > deadline:
                        raise
                time.sleep(0.01)
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the file shrinks at checkpoint
            return max(0, before - _file_size(path))

        return await self._reader.run(vacuum)


def _filter_clauses(where: TaskFilter) -> tuple[list[str], list[object]]:
    """The SQL conditions of a filter, and their parameters."""
    clauses: list[str] = []
    params: list[object] = []
    if where.statuses is not None:
        clauses.append(f"status IN ({_marks(len(where.statuses))})")
        params.extend(status.value for status in where.statuses)
    if where.queue_name is not None:
        clauses.append("queue_name = ?")
        params.append(where.queue_name)
    if where.name is not None:
        clauses.append("name = ?")
        params.append(where.name)
    if where.tag is not None:  # tags is a JSON array of strings: match one element exactly
        clauses.append("EXISTS (SELECT 1 FROM json_each(tasks.tags) WHERE json_each.value = ?)")
        params.append(where.tag)
    if where.id_prefix:  # a range on the unique index of id, not a LIKE scan
        clauses.append("id >= ? AND id < ?")
        params.extend((where.id_prefix, where.id_prefix + "\U0010ffff"))
    return clauses, params


def _file_size(path: Path) -> int:
    """Bytes of the database file and its write-ahead log."""
    total = 0
    for name in (str(path), f"{path}-wal"):
        with contextlib.suppress(FileNotFoundError):
            total += os.path.getsize(name)
    return total
