"""The SQLite task queue: claims are one ``UPDATE ... RETURNING`` per queue, in one transaction."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence

from omniq.backends.sqlite.admin import AdminVerbs
from omniq.backends.sqlite.dependencies import INSERT_DEPENDENCY, DependencyVerbs
from omniq.backends.sqlite.event_store import INSERT_EVENT, event_row
from omniq.backends.sqlite.registry import RegistryVerbs
from omniq.backends.sqlite.result_store import PUT_RESULT, result_row
from omniq.backends.sqlite.rows import TASK_COLUMNS, encode_error, record_from_row, row_from_record
from omniq.backends.sqlite.schedules import ScheduleVerbs
from omniq.backends.sqlite.threads import ReaderThread, WriterThread
from omniq.models.event import TaskEvent
from omniq.models.task import TaskError, TaskStatus
from omniq.storage.records import ResultRecord, TaskRecord

__all__ = ["SQLiteTaskQueue"]

_COLUMNS = ", ".join(TASK_COLUMNS)
_CLAIMABLE = "status IN ('enqueued', 'retrying')"
_INSERT = f"INSERT INTO tasks ({_COLUMNS}) VALUES ({', '.join('?' * len(TASK_COLUMNS))})"
_CLAIM = f"""
UPDATE tasks
   SET status = 'executing', attempts = attempts + 1, started_at = :now,
       worker_id = :worker, lease_expires_at = :lease
 WHERE seq IN (SELECT seq FROM tasks
                WHERE queue_name = :queue AND {_CLAIMABLE} AND run_at <= :now
                ORDER BY priority DESC, run_at, seq
                LIMIT :limit)
RETURNING seq, {_COLUMNS}
"""
_HAS_DUE = f"SELECT 1 FROM tasks WHERE queue_name = ? AND {_CLAIMABLE} AND run_at <= ? LIMIT 1"
_FINAL = "('completed', 'failed', 'expired', 'cancelled')"


class SQLiteTaskQueue(ScheduleVerbs, DependencyVerbs, AdminVerbs, RegistryVerbs):
    """Task queue on a SQLite file; see :class:`omniq.storage.TaskQueue` for each verb.

    Args:
        writer: The backend's group-committing writer thread.
        reader: The backend's reader thread.
        due_later: Told the earliest future due time of the tasks stored since the last
            look, when a look finds nothing due (the file watch passes it on to this
            process's idle workers, who would otherwise see a task delayed by another
            process only at their next poll); ``None`` not to look for it.
    """

    def __init__(
        self,
        writer: WriterThread,
        reader: ReaderThread,
        due_later: Callable[[float], None] | None = None,
    ) -> None:
        self._writer = writer
        self._reader = reader
        self._due_later = due_later
        self._idle = True  # last claim found nothing: check with a cheap read first
        self._seen_seq: int | None = None  # tasks up to it were looked at for due times

    async def enqueue(self, tasks: Sequence[TaskRecord], events: Sequence[TaskEvent] = ()) -> None:
        """Store new tasks atomically (all or none), with the dependencies of waiting ones."""
        await self._writer.run(_inserter(tasks, events))

    def enqueue_blocking(
        self, tasks: Sequence[TaskRecord], events: Sequence[TaskEvent] = ()
    ) -> None:
        """Blocking twin of :meth:`enqueue`, callable from any thread without an event loop."""
        self._writer.call(_inserter(tasks, events))

    async def claim(
        self,
        queues: Sequence[str],
        limit: int,
        worker_id: str,
        now: float,
        lease_until: float,
        events_for: Callable[[list[TaskRecord]], Sequence[TaskEvent]] | None = None,
    ) -> list[TaskRecord]:
        """Atomically take up to ``limit`` due tasks, serving ``queues`` in order."""
        if self._idle and not await self._reader.run(lambda conn: self._look(conn, queues, now)):
            return []

        def claim(conn: sqlite3.Connection) -> list[TaskRecord]:
            claimed: list[TaskRecord] = []
            for queue_name in queues:
                remaining = limit - len(claimed)
                if remaining <= 0:
                    break
                params = {
                    "now": now, "worker": worker_id, "lease": lease_until,
                    "queue": queue_name, "limit": remaining,
                }  # fmt: skip
                rows = conn.execute(_CLAIM, params).fetchall()
                rows.sort(key=lambda row: (-row[5], row[8], row[0]))  # priority, run_at, seq
                claimed.extend(record_from_row(row[1:]) for row in rows)
            if events_for is not None and claimed:
                conn.executemany(INSERT_EVENT, [event_row(e) for e in events_for(claimed)])
            return claimed

        result = await self._writer.run(claim, durable=False)  # lost: the task runs again
        self._idle = len(result) < limit  # nothing more was due: look before locking
        return result

    def _look(self, conn: sqlite3.Connection, queues: Sequence[str], now: float) -> bool:
        """Whether a task is due (in the reader thread); else report when one becomes due.

        Only the tasks stored since the previous look are read for their due times (a range
        of the primary key): a look costs the same however many delayed tasks wait.
        """
        if _has_due(conn, queues, now):
            return True
        if self._due_later is None:
            return False
        if self._seen_seq is None:  # first look: every waiting task (the claim index)
            (self._seen_seq,) = conn.execute("SELECT coalesce(max(seq), 0) FROM tasks").fetchone()
            found = [conn.execute(_EARLIEST, (name,)).fetchone()[0] for name in queues]
            earliest = min((when for when in found if when is not None), default=None)
        else:  # the tasks stored since the last look (a range of the primary key)
            last, earliest = conn.execute(_NEXT_DUE, (self._seen_seq,)).fetchone()
            self._seen_seq = max(self._seen_seq, last or 0)
        if earliest is not None and earliest > now:
            self._due_later(earliest)
        return False

    async def extend_leases(
        self, task_ids: Sequence[str], worker_id: str, lease_until: float
    ) -> list[str]:
        """Push the lease of the tasks this worker still holds."""
        ids = list(task_ids)

        def extend(conn: sqlite3.Connection) -> list[str]:
            renewed = []
            for task_id in ids:
                row = conn.execute(
                    "UPDATE tasks SET lease_expires_at = ? WHERE id = ? AND worker_id = ? "
                    "AND status = 'executing' RETURNING id",
                    (lease_until, task_id, worker_id),
                ).fetchone()
                if row is not None:
                    renewed.append(row[0])
            return renewed

        return await self._writer.run(extend, durable=False)

    async def finish(
        self,
        task_id: str,
        status: TaskStatus,
        now: float,
        *,
        worker_id: str | None = None,
        error: TaskError | None = None,
        events: Sequence[TaskEvent] = (),
    ) -> bool:
        """Move a task to a final state (see the protocol for the ownership rule)."""
        sql = (
            "UPDATE tasks SET status = ?, finished_at = ?, error = COALESCE(?, error), "
            "lease_expires_at = NULL WHERE id = ? AND "
        )
        params: tuple[object, ...] = (status.value, now, encode_error(error), task_id)
        if worker_id is None:
            sql += f"status NOT IN {_FINAL}"
        else:
            sql += "status = 'executing' AND worker_id = ?"
            params += (worker_id,)
            if status is not TaskStatus.CANCELLED:
                sql += " AND cancel_requested = 0"
        return await self._update_one(sql, params, events)

    async def _update_one(
        self, sql: str, params: tuple[object, ...], events: Sequence[TaskEvent]
    ) -> bool:
        """Run a guarded one-task ``UPDATE``; if it matched, write ``events`` with it."""
        event_rows = [event_row(event) for event in events]

        def update(conn: sqlite3.Connection) -> bool:
            if conn.execute(sql, params).rowcount != 1:
                return False
            conn.executemany(INSERT_EVENT, event_rows)
            return True

        return await self._writer.run(update, single_statement=not event_rows)

    async def complete_many(
        self,
        task_ids: Sequence[str],
        worker_id: str,
        now: float,
        events_for: Callable[[list[str]], Sequence[TaskEvent]] | None = None,
        results: Sequence[ResultRecord] = (),
    ) -> list[str]:
        """Mark the tasks this worker holds ``completed``, with results and events, in one write."""
        result_rows = {r.task_id: result_row(r) for r in results}
        ids = list(task_ids)
        chunks = [ids[i : i + 500] for i in range(0, len(ids), 500)]  # SQL variable limit

        def complete(conn: sqlite3.Connection) -> list[str]:
            completed: list[str] = []
            for chunk in chunks:
                sql = (
                    "UPDATE tasks SET status = 'completed', finished_at = ?, "
                    f"lease_expires_at = NULL WHERE id IN ({', '.join('?' * len(chunk))}) "
                    "AND status = 'executing' AND worker_id = ? AND cancel_requested = 0 "
                    "RETURNING id"
                )
                rows = conn.execute(sql, (now, *chunk, worker_id)).fetchall()
                completed.extend(row[0] for row in rows)
            if result_rows and completed:
                conn.executemany(
                    PUT_RESULT, [result_rows[i] for i in completed if i in result_rows]
                )
            if events_for is not None and completed:
                conn.executemany(INSERT_EVENT, [event_row(e) for e in events_for(completed)])
            return completed

        single = len(chunks) <= 1 and events_for is None and not result_rows
        return await self._writer.run(complete, single_statement=single)

    async def retry_later(
        self,
        task_id: str,
        worker_id: str,
        run_at: float,
        error: TaskError | None,
        events: Sequence[TaskEvent] = (),
    ) -> bool:
        """Put an executing task back as ``retrying`` until ``run_at``."""
        sql = (
            "UPDATE tasks SET status = 'retrying', retry_count = retry_count + 1, run_at = ?, "
            "error = ?, lease_expires_at = NULL "
            "WHERE id = ? AND status = 'executing' AND worker_id = ? AND cancel_requested = 0"
        )
        params = (run_at, encode_error(error), task_id, worker_id)
        return await self._update_one(sql, params, events)

    async def release(self, task_ids: Sequence[str], worker_id: str) -> list[str]:
        """Give back unfinished tasks of a stopping worker without counting the attempt."""
        ids = list(task_ids)

        def release(conn: sqlite3.Connection) -> list[str]:
            released = []
            for task_id in ids:
                row = conn.execute(
                    "UPDATE tasks SET status = 'enqueued', attempts = MAX(attempts - 1, 0), "
                    "lease_expires_at = NULL, started_at = NULL "
                    "WHERE id = ? AND status = 'executing' AND worker_id = ? RETURNING id",
                    (task_id, worker_id),
                ).fetchone()
                if row is not None:
                    released.append(row[0])
            return released

        return await self._writer.run(release)

    async def recover_expired_leases(
        self, now: float, events_for: Callable[[list[str]], Sequence[TaskEvent]] | None = None
    ) -> list[str]:
        """Make tasks whose lease ended before ``now`` claimable again (and log it)."""

        def recover(conn: sqlite3.Connection) -> list[str]:
            rows = conn.execute(
                "UPDATE tasks SET status = 'enqueued', lease_expires_at = NULL "
                "WHERE status = 'executing' AND lease_expires_at < ? RETURNING id",
                (now,),
            ).fetchall()
            recovered = [row[0] for row in rows]
            if events_for is not None and recovered:
                conn.executemany(INSERT_EVENT, [event_row(e) for e in events_for(recovered)])
            return recovered

        return await self._writer.run(recover)

    async def get(self, task_id: str) -> TaskRecord | None:
        """Return the task, or ``None`` if unknown."""

        def get(conn: sqlite3.Connection) -> TaskRecord | None:
            row = conn.execute(f"SELECT {_COLUMNS} FROM tasks WHERE id = ?", (task_id,)).fetchone()
            return None if row is None else record_from_row(row)

        return await self._reader.run(get)


def _inserter(
    tasks: Sequence[TaskRecord], events: Sequence[TaskEvent]
) -> Callable[[sqlite3.Connection], None]:
    """The write operation storing ``tasks`` (with their dependencies) and ``events``."""
    rows = [row_from_record(task) for task in tasks]
    event_rows = [event_row(event) for event in events]
    dependencies = [
        (dependency, task.id)
        for task in tasks
        if task.status is TaskStatus.WAITING
        for dependency in task.depends_on
    ]

    def insert(conn: sqlite3.Connection) -> None:
        conn.executemany(_INSERT, rows)
        if dependencies:
            conn.executemany(INSERT_DEPENDENCY, dependencies)
        if event_rows:
            conn.executemany(INSERT_EVENT, event_rows)

    return insert


_NEXT_DUE = f"SELECT max(seq), min(CASE WHEN {_CLAIMABLE} THEN run_at END) FROM tasks WHERE seq > ?"
_EARLIEST = f"SELECT min(run_at) FROM tasks WHERE queue_name = ? AND {_CLAIMABLE}"


def _has_due(conn: sqlite3.Connection, queues: Sequence[str], now: float) -> bool:
    return any(conn.execute(_HAS_DUE, (name, now)).fetchone() for name in queues)
