"""The PostgreSQL event storage, and reading the log across tasks in commit order.

Event ``seq`` numbers come from a sequence, which hands them out in insert order, not commit
order: a transaction that took seq 10 may commit after one that took seq 11. A reader that
had passed 11 would then never see 10. So each event also records its transaction id
(``xid8``), and readers only return events of transactions older than the oldest one still
running (``pg_snapshot_xmin``), ordered by ``(xid, seq)``: every later commit sorts after
them. The cursor is ``"<xid>:<seq>"``. An event becomes readable once every transaction that
started before its own has ended, so a long transaction elsewhere in the database holds the
log back (never loses it).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from psycopg import AsyncConnection

from omniq.backends.postgres.connection import Database
from omniq.backends.postgres.queries import Queries
from omniq.backends.postgres.rows import event_arrays, event_from_row
from omniq.exceptions import ConfigurationError
from omniq.models.event import EventType, TaskEvent

__all__ = ["PostgresEventStorage"]

#: One number of a cursor: ASCII digits, few enough for a 64-bit int.
_NUMBER = re.compile(r"[0-9]{1,18}")


def _cursor(xid: object, seq: int) -> str:
    return f"{xid}:{seq}"


def _parse(cursor: str) -> tuple[int, int]:
    xid, _, seq = cursor.partition(":")
    if not (_NUMBER.fullmatch(xid) and _NUMBER.fullmatch(seq)):
        raise ConfigurationError(
            f"after {cursor!r} is not an event cursor of this store (expected '<xid>:<seq>')"
        )
    return int(xid), int(seq)


class PostgresEventStorage:
    """Event storage in a PostgreSQL schema; see :class:`omniq.storage.EventStorage`.

    Args:
        db: The backend's pool and its bridge.
        queries: The statements, bound to the project's schema.
    """

    def __init__(self, db: Database, queries: Queries) -> None:
        self._db = db
        self._q = queries

    async def _rows(self, statement: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        async def run(conn: AsyncConnection[Any]) -> list[tuple[Any, ...]]:
            cursor = await conn.execute(statement, params)
            return await cursor.fetchall()

        return await self._db.run(run)

    async def append(self, events: Sequence[TaskEvent]) -> None:
        """Append events in one statement, keeping their order."""
        if not events:
            return

        async def append(conn: AsyncConnection[Any]) -> None:
            await conn.execute(self._q.append_events, event_arrays(events))

        await self._db.run(append)

    async def for_task(self, task_id: str) -> list[TaskEvent]:
        """Return a task's events in append order."""
        rows = await self._rows(self._q.events_for_task, {"id": task_id})
        return [event_from_row(task_id, row) for row in rows]

    async def recent_events(self, after: str | None, limit: int) -> list[tuple[str, TaskEvent]]:
        """Return events after cursor ``after`` (or the last ``limit``), oldest first."""
        if after is None:
            rows = await self._rows(self._q.events_latest, {"limit": limit})
        else:
            xid, seq = _parse(after)
            rows = await self._rows(self._q.events_after, {"xid": str(xid), "seq": seq,
                                                            "limit": limit})  # fmt: skip
        return [
            (_cursor(row[0], row[1]),
             TaskEvent(task_id=row[2], type=EventType(row[3]), timestamp=row[4],
                       worker_id=row[5], error=row[6], detail=row[7]))
            for row in rows
        ]  # fmt: skip

    async def delete_events(self, task_ids: Sequence[str]) -> int:
        """Delete the events of these tasks; return how many."""
        ids = list(dict.fromkeys(task_ids))
        if not ids:
            return 0

        async def delete(conn: AsyncConnection[Any]) -> int:
            cursor = await conn.execute(self._q.delete_events, {"ids": ids})
            return cursor.rowcount

        return await self._db.run(delete)
