"""What the mixins of the PostgreSQL task queue share: the pool, the statements, the channel."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection

from omniq.backends.postgres.connection import Database
from omniq.backends.postgres.queries import Queries

__all__ = ["Verbs"]


class Verbs:
    """The attributes every verb of the task queue uses, and small helpers over them."""

    _db: Database
    _q: Queries
    _channel: str

    async def _rows(self, statement: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        """Run one statement (its own transaction) and return its rows."""

        async def run(conn: AsyncConnection[Any]) -> list[tuple[Any, ...]]:
            cursor = await conn.execute(statement, params)
            return await cursor.fetchall() if cursor.description is not None else []

        return await self._db.run(run)

    async def _notify(self, conn: AsyncConnection[Any], *payloads: str) -> None:
        """Wake other processes when the current transaction commits."""
        for payload in payloads:
            await conn.execute(self._q.notify, {"channel": self._channel, "payload": payload})
