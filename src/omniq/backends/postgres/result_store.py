"""The PostgreSQL result storage (with the expired-result count of dry-run purges)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg import AsyncConnection

from omniq.backends.postgres.connection import Database
from omniq.backends.postgres.queries import Queries
from omniq.backends.postgres.rows import result_arrays
from omniq.storage.records import ResultRecord

__all__ = ["PostgresResultStorage"]


class PostgresResultStorage:
    """Result storage in a PostgreSQL schema; see :class:`omniq.storage.ResultStorage`.

    Args:
        db: The backend's pool and its bridge.
        queries: The statements, bound to the project's schema.
    """

    def __init__(self, db: Database, queries: Queries) -> None:
        self._db = db
        self._q = queries

    async def _run(self, statement: str, params: dict[str, Any]) -> Any:
        async def run(conn: AsyncConnection[Any]) -> Any:
            cursor = await conn.execute(statement, params)
            if cursor.description is None:
                return cursor.rowcount
            return await cursor.fetchall()

        return await self._db.run(run)

    async def put_many(self, results: Sequence[ResultRecord]) -> None:
        """Store results in one statement (never over one of a later attempt)."""
        if results:
            await self._run(self._q.put_results, result_arrays(results))

    async def get(self, task_id: str, now: float) -> ResultRecord | None:
        """Return the unexpired result of a task, or ``None``."""
        rows = await self._run(self._q.get_result, {"id": task_id, "now": now})
        if not rows:
            return None
        payload, created_at, expires_at, attempt = rows[0]
        return ResultRecord(task_id=task_id, payload=bytes(payload), created_at=created_at,
                            expires_at=expires_at, attempt=attempt)  # fmt: skip

    async def delete(self, task_id: str) -> bool:
        """Delete a result; return whether one existed."""
        return bool(await self._run(self._q.delete_results, {"ids": [task_id]}))

    async def delete_many(self, task_ids: Sequence[str]) -> int:
        """Delete the results of these tasks in one statement; return how many existed."""
        ids = list(dict.fromkeys(task_ids))
        return int(await self._run(self._q.delete_results, {"ids": ids})) if ids else 0

    async def purge_expired(self, now: float) -> int:
        """Delete every result that expired before ``now``; return how many."""
        return int(await self._run(self._q.purge_results, {"now": now}))

    async def count_expired(self, now: float) -> int:
        """Return how many results have ``expires_at`` before ``now``."""
        rows = await self._run(self._q.count_expired_results, {"now": now})
        return int(rows[0][0])
