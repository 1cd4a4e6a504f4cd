"""Reading and trimming the SQLite event log across tasks (mixed into the event storage)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from omniq.backends.sqlite.threads import ReaderThread, WriterThread
from omniq.models.event import EventType, TaskEvent

__all__ = ["EventLogVerbs"]

_SELECT = "SELECT seq, task_id, type, timestamp, worker_id, error, detail FROM events"
_CHUNK = 500  # SQL variable limit


class EventLogVerbs:
    """The :class:`omniq.storage.admin.EventLog` verbs; positions are the ``seq`` column."""

    _writer: WriterThread
    _reader: ReaderThread

    async def recent_events(self, after: int | None, limit: int) -> list[tuple[int, TaskEvent]]:
        """Return events after position ``after`` (or the last ``limit``), oldest first."""

        def select(conn: sqlite3.Connection) -> list[tuple[int, TaskEvent]]:
            if after is None:
                rows = conn.execute(f"{_SELECT} ORDER BY seq DESC LIMIT ?", (limit,)).fetchall()
                rows.reverse()
            else:
                rows = conn.execute(
                    f"{_SELECT} WHERE seq > ? ORDER BY seq LIMIT ?", (after, limit)
                ).fetchall()
            return [
                (row[0], TaskEvent(task_id=row[1], type=EventType(row[2]), timestamp=row[3],
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
