"""The SQLite result storage."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from omniq.backends.sqlite.result_admin import ResultAdminVerbs
from omniq.backends.sqlite.threads import ReaderThread, WriterThread
from omniq.storage.records import ResultRecord

__all__ = ["PUT_RESULT", "SQLiteResultStorage", "result_row"]

#: Stores one row of :func:`result_row`, replacing a stored one of an attempt not later.
PUT_RESULT = """
INSERT INTO results (task_id, payload, created_at, expires_at, attempt) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (task_id) DO UPDATE
   SET payload = excluded.payload, created_at = excluded.created_at,
       expires_at = excluded.expires_at, attempt = excluded.attempt
 WHERE excluded.attempt >= results.attempt
"""
_CHUNK = 500  # SQL variable limit


def result_row(result: ResultRecord) -> tuple[str, bytes | None, float, float | None, int]:
    """The ``results`` row values of a result."""
    return (result.task_id, result.payload, result.created_at, result.expires_at,
            result.attempt)  # fmt: skip


class SQLiteResultStorage(ResultAdminVerbs):
    """Result storage on a SQLite file; see :class:`omniq.storage.ResultStorage`.

    Args:
        writer: The backend's group-committing writer thread.
        reader: The backend's reader thread.
    """

    def __init__(self, writer: WriterThread, reader: ReaderThread) -> None:
        self._writer = writer
        self._reader = reader

    async def put_many(self, results: Sequence[ResultRecord]) -> None:
        """Store results in one atomic write (never over one of a later attempt)."""
        rows = [result_row(r) for r in results]

        def put_many(conn: sqlite3.Connection) -> None:
            conn.executemany(PUT_RESULT, rows)

        await self._writer.run(put_many, single_statement=len(rows) == 1)

    async def get(self, task_id: str, now: float) -> ResultRecord | None:
        """Return the unexpired result of a task, or ``None``."""

        def get(conn: sqlite3.Connection) -> ResultRecord | None:
            row = conn.execute(
                "SELECT payload, created_at, expires_at, attempt FROM results WHERE task_id = ? "
                "AND (expires_at IS NULL OR expires_at >= ?)",
                (task_id, now),
            ).fetchone()
            if row is None:
                return None
            return ResultRecord(
                task_id=task_id, payload=row[0], created_at=row[1], expires_at=row[2],
                attempt=row[3],
            )  # fmt: skip

        return await self._reader.run(get)

    async def delete(self, task_id: str) -> bool:
        """Delete a result; return whether one existed."""
        return await self._writer.run(
            lambda conn: (
                conn.execute("DELETE FROM results WHERE task_id = ?", (task_id,)).rowcount == 1
            )
        )

    async def delete_many(self, task_ids: Sequence[str]) -> int:
        """Delete the results of these tasks in one write; return how many existed."""
        ids = list(dict.fromkeys(task_ids))

        def delete(conn: sqlite3.Connection) -> int:
            deleted = 0
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start : start + _CHUNK]
                marks = ", ".join("?" * len(chunk))
                sql = f"DELETE FROM results WHERE task_id IN ({marks})"
                deleted += conn.execute(sql, chunk).rowcount
            return deleted

        return await self._writer.run(delete)

    async def purge_expired(self, now: float) -> int:
        """Delete every result that expired before ``now``; return how many."""
        return await self._writer.run(
            lambda conn: (
                conn.execute(
                    "DELETE FROM results WHERE expires_at IS NOT NULL AND expires_at < ?", (now,)
                ).rowcount
            )
        )
