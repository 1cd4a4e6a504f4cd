"""Reading and trimming the SQLite event log across tasks (mixed into the event storage)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from omniq.backends.sqlite.threads import ReaderThread, WriterThread
from omniq.models.event import EventType, TaskEvent
from omniq.storage.cursors import parse_position

__all__ = ["EventLogVerbs"]

_SELECT = "SELECT seq, task_id, type, timestamp, worker_id, error, detail FROM events"
_CHUNK = 500  # SQL variable limit


class EventLogVerbs:
    """The :class:`omniq.storage.admin.EventLog` verbs; cursors are the ``seq`` column.

    One writer commits at a time, so ``seq`` order is commit order: a reader past a cursor
    never misses a later commit.
    """

    _writer: WriterThread
    _reader: ReaderThread

    async def recent_events(self, after: str | None, limit: int) -> list[tuple[str, TaskEvent]]:
        """Return events after cursor ``after`` (or the last ``limit``), oldest first."""
        position = None if after is None else parse_position(after)

        def select(conn: sqlite3.Connection) -> list[tuple[str, TaskEvent]]:
            if position is None:
                rows = conn.execute(f"{_SELECT} ORDER BY seq DESC LIMIT ?", (limit,)).fetchall()
                rows.reverse()
            else:
                rows = conn.execute(
                    f"{_SELECT} WHERE seq > ? ORDER BY seq LIMIT ?", (position, limit)
                ).fetchall()
            return [
                (str(row[0]), TaskEvent(task_id=row[1], type=EventType(row[2]), timestamp=row[3],
                                   worker_id=row[4], error=row[5], detail=row[6]))
                for row in rows
            ]  # fmt: skip

        return await self._reader.run(select)

    async def delete_events(self, task_ids: Sequence[str]) -> int:
        """Delete the events of these tasks; return how many."""
        ids = list(task_ids)

        def delete(conn: sqlite3.Connection) -> int:
            deleted = 0
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start : start + _CHUNK]
                marks = ", ".join("?" * len(chunk))
                deleted += conn.execute(
                    f"DELETE FROM events WHERE task_id IN ({marks})", chunk
                ).rowcount
            return deleted

        return await self._writer.run(delete)
