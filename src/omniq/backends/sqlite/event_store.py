"""The SQLite event storage: an append-only table."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from omniq.backends.sqlite.event_log import EventLogVerbs
from omniq.backends.sqlite.threads import ReaderThread, WriterThread
from omniq.models.event import EventType, TaskEvent

__all__ = ["INSERT_EVENT", "SQLiteEventStorage", "event_row"]

#: Inserts one row of :func:`event_row`.
INSERT_EVENT = (
    "INSERT INTO events (task_id, type, timestamp, worker_id, error, detail) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)


def event_row(event: TaskEvent) -> tuple[str, str, float, str | None, str | None, str | None]:
    """The ``events`` row values of an event."""
    return (event.task_id, event.type.value, event.timestamp, event.worker_id, event.error,
            event.detail)  # fmt: skip


class SQLiteEventStorage(EventLogVerbs):
    """Event storage on a SQLite file; see :class:`omniq.storage.EventStorage`.

    Args:
        writer: The backend's group-committing writer thread.
        reader: The backend's reader thread.
    """

    def __init__(self, writer: WriterThread, reader: ReaderThread) -> None:
        self._writer = writer
        self._reader = reader

    async def append(self, events: Sequence[TaskEvent]) -> None:
        """Append events, keeping their order."""
        rows = [event_row(event) for event in events]

        def append(conn: sqlite3.Connection) -> None:
            conn.executemany(INSERT_EVENT, rows)

        await self._writer.run(append, single_statement=len(rows) == 1)

    async def for_task(self, task_id: str) -> list[TaskEvent]:
        """Return a task's events in append order."""

        def select(conn: sqlite3.Connection) -> list[TaskEvent]:
            rows = conn.execute(
                "SELECT type, timestamp, worker_id, error, detail FROM events "
                "WHERE task_id = ? ORDER BY seq",
                (task_id,),
            ).fetchall()
            return [
                TaskEvent(
                    task_id=task_id,
                    type=EventType(row[0]),
                    timestamp=row[1],
                    worker_id=row[2],
                    error=row[3],
                    detail=row[4],
                )
                for row in rows
            ]

        return await self._reader.run(select)
