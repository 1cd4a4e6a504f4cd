"""Dependency and cancellation verbs of the SQLite task queue (mixed into SQLiteTaskQueue).

``task_dependencies (depends_on, task_id)`` is keyed by the task waited for, so a completing
or failing task finds its dependents by its primary key, never by a scan of ``tasks``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence

from omniq.backends.sqlite.event_store import INSERT_EVENT, event_row
from omniq.backends.sqlite.rows import TASK_COLUMNS, encode_error, record_from_row
from omniq.backends.sqlite.threads import ReaderThread, WriterThread
from omniq.models.event import TaskEvent
from omniq.models.task import TaskError, TaskStatus
from omniq.storage.records import TaskRecord

__all__ = ["INSERT_DEPENDENCY", "DependencyVerbs"]

#: Records that ``task_id`` waits for ``depends_on`` (written by ``enqueue``).
INSERT_DEPENDENCY = "INSERT OR IGNORE INTO task_dependencies (depends_on, task_id) VALUES (?, ?)"

_CHUNK = 500  # SQL variable limit

# A waiting dependent of the given tasks is released once every id in its depends_on names
# a completed task (json_each walks that one row's list; each lookup uses the id index).
_RELEASE = """
UPDATE tasks SET status = 'enqueued'
 WHERE id IN (SELECT task_id FROM task_dependencies WHERE depends_on IN ({marks}))
   AND status = 'waiting'
   AND NOT EXISTS (
        SELECT 1 FROM json_each(tasks.depends_on) AS dep
         WHERE NOT EXISTS (
              SELECT 1 FROM tasks AS done WHERE done.id = dep.value AND done.status = 'completed'
         )
   )
RETURNING id
"""

# Every task below ``?`` in the dependency graph, with its distance, nearest first.
_BELOW = """
WITH RECURSIVE below(id, depth) AS (
    SELECT task_id, 1 FROM task_dependencies WHERE depends_on = ?
    UNION
    SELECT d.task_id, below.depth + 1
      FROM task_dependencies AS d JOIN below ON d.depends_on = below.id
)
SELECT id FROM below GROUP BY id ORDER BY MIN(depth), id
"""

# Waiting tasks whose wait is over: every dependency completed, or one never will.
_STUCK = """
SELECT {columns} FROM tasks AS w
 WHERE w.status = 'waiting' AND (
       NOT EXISTS (
            SELECT 1 FROM json_each(w.depends_on) AS dep
             WHERE NOT EXISTS (
                  SELECT 1 FROM tasks AS done
                   WHERE done.id = dep.value AND done.status = 'completed'))
    OR EXISTS (
            SELECT 1 FROM json_each(w.depends_on) AS dep
              JOIN tasks AS done ON done.id = dep.value
             WHERE done.status IN ('failed', 'expired', 'cancelled')))
 LIMIT ?
"""

_CANCEL_WAITING = """
UPDATE tasks SET status = 'cancelled', finished_at = ?, error = ?
 WHERE status = 'waiting' AND id IN ({marks})
RETURNING id
"""


def _chunks(ids: Sequence[str]) -> list[list[str]]:
    unique = list(dict.fromkeys(ids))
    return [unique[i : i + _CHUNK] for i in range(0, len(unique), _CHUNK)]


def _marks(chunk: Sequence[str]) -> str:
    return ", ".join("?" * len(chunk))


class DependencyVerbs:
    """The dependency and cancellation part of the task queue protocol, on SQLite."""

    _writer: WriterThread
    _reader: ReaderThread

    async def stuck_waiting(self, limit: int) -> list[TaskRecord]:
        """Return ``waiting`` tasks whose wait is over (see the protocol); read-only."""
        sql = _STUCK.format(columns=", ".join(f"w.{column}" for column in TASK_COLUMNS))

        def select(conn: sqlite3.Connection) -> list[TaskRecord]:
            return [record_from_row(row) for row in conn.execute(sql, (limit,))]

        return await self._reader.run(select)

    async def release_dependents(
        self,
        task_ids: Sequence[str],
        events_for: Callable[[list[str]], Sequence[TaskEvent]] | None = None,
    ) -> list[str]:
        """Make claimable the ``waiting`` dependents whose dependencies all completed.

        Args:
            task_ids: Tasks that just completed.
            events_for: Builds the released tasks' events, written in the same transaction.

        Returns:
            The ids that became ``enqueued``.
        """
        chunks = _chunks(task_ids)
        if not chunks:
            return []

        def release(conn: sqlite3.Connection) -> list[str]:
            released: list[str] = []
            for chunk in chunks:
                rows = conn.execute(_RELEASE.format(marks=_marks(chunk)), chunk).fetchall()
                released.extend(row[0] for row in rows)
            if events_for is not None and released:
                conn.executemany(INSERT_EVENT, [event_row(e) for e in events_for(released)])
            return released

        single = len(chunks) == 1 and events_for is None
        return await self._writer.run(release, single_statement=single)

    async def cancel_dependents(self, task_id: str, error: TaskError, now: float) -> list[str]:
        """Cancel every ``waiting`` task that depends on ``task_id``, directly or transitively.

        Args:
            task_id: A task that will never complete.
            error: Recorded on each cancelled dependent.
            now: Written as ``finished_at``.

        Returns:
            The ids cancelled, nearest dependents first.
        """
        encoded = encode_error(error)

        def cancel(conn: sqlite3.Connection) -> list[str]:
            below = [row[0] for row in conn.execute(_BELOW, (task_id,))]
            cancelled: set[str] = set()
            for chunk in _chunks(below):
                sql = _CANCEL_WAITING.format(marks=_marks(chunk))
                cancelled.update(row[0] for row in conn.execute(sql, (now, encoded, *chunk)))
            return [dependent for dependent in below if dependent in cancelled]

        return await self._writer.run(cancel)

    async def cancel(self, task_id: str, now: float, error: TaskError) -> TaskStatus | None:
        """Cancel a task not started yet at once, or flag an executing one.

        Args:
            task_id: The task.
            now: Written as ``finished_at``.
            error: Recorded on a task cancelled at once.

        Returns:
            The status the task had before the call, or ``None`` if the task is unknown.
        """
        encoded = encode_error(error)

        def cancel(conn: sqlite3.Connection) -> TaskStatus | None:
            row = conn.execute("SELECT status FROM tasks WHERE id = ?", (task_id,)).fetchone()
            if row is None:
                return None
            before = TaskStatus(row[0])
            if before in (TaskStatus.WAITING, TaskStatus.ENQUEUED, TaskStatus.RETRYING):
                conn.execute(
                    "UPDATE tasks SET status = 'cancelled', finished_at = ?, error = ?, "
                    "lease_expires_at = NULL WHERE id = ?",
                    (now, encoded, task_id),
                )
            elif before is TaskStatus.EXECUTING:
                conn.execute("UPDATE tasks SET cancel_requested = 1 WHERE id = ?", (task_id,))
            return before

        return await self._writer.run(cancel)

    async def requested_cancellations(self, task_ids: Sequence[str]) -> list[str]:
        """Return the ids among ``task_ids`` whose ``cancel_requested`` is set."""
        chunks = _chunks(task_ids)
        if not chunks:
            return []

        def select(conn: sqlite3.Connection) -> list[str]:
            found: list[str] = []
            for chunk in chunks:
                rows = conn.execute(
                    f"SELECT id FROM tasks WHERE id IN ({_marks(chunk)}) AND cancel_requested = 1",
                    chunk,
                )
                found.extend(row[0] for row in rows)
            return found

        return await self._reader.run(select)
