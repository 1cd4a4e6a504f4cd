"""The SQLite event storage: an append-only table."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from omniq.backends.sqlite.threads import ReaderThread, WriterThread
from omniq.models.event import EventType, TaskEvent

__all__ = ["SQLiteEventStorage"]


class SQLiteEventStorage:
    """Event storage on a SQLite file; see :class:`omniq.storage.EventStorage`.

    Args:
        writer: The backend's group-committing writer thread.
        reader: The backend's reader thread.
    """

    def __init__(self, writer: WriterThread, reader: ReaderThread) -> None:
        self._writer = writer
        self._reader = reader
        #: Stores with the same ``write_order`` apply writes in the order they are issued
        #: (one writer thread), even when the caller does not await each one in between.
        self.write_order: object = writer

    async def append(self, events: Sequence[TaskEvent]) -> None:
        """Append events, keeping their order."""
        rows = [
            (e.task_id, e.type.value, e.timestamp, e.worker_id, e.error, e.detail) for e in events
        ]

        def append(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "INSERT INTO events (task_id, type, timestamp, worker_id, error, detail) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )

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
