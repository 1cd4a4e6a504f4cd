"""Worker-registry verbs of the SQLite task queue (mixed into :class:`SQLiteTaskQueue`)."""

from __future__ import annotations

import sqlite3
from typing import Any

import msgspec

from omniq.backends.sqlite.threads import ReaderThread, WriterThread
from omniq.storage.admin import WorkerRecord

__all__ = ["RegistryVerbs"]

_COLUMNS = "id, hostname, pid, queues, concurrency, lease_duration, started_at, heartbeat_at"
_decode_queues = msgspec.json.Decoder(list[str]).decode


def _worker(row: tuple[Any, ...]) -> WorkerRecord:
    return WorkerRecord(
        id=row[0], hostname=row[1], pid=row[2], queues=_decode_queues(row[3]),
        concurrency=row[4], lease_duration=row[5], started_at=row[6], heartbeat_at=row[7],
    )  # fmt: skip


class RegistryVerbs:
    """Which workers run against the file, with their heartbeats."""

    _writer: WriterThread
    _reader: ReaderThread

    async def register_worker(self, worker: WorkerRecord) -> None:
        """Store (or replace) a worker's row."""
        w = worker
        params = (
            w.id, w.hostname, w.pid, msgspec.json.encode(w.queues).decode(), w.concurrency,
            w.lease_duration, w.started_at, w.heartbeat_at,
        )  # fmt: skip
        sql = f"INSERT OR REPLACE INTO workers ({_COLUMNS}) VALUES ({'?, ' * 7}?)"

        def insert(conn: sqlite3.Connection) -> None:
            conn.execute(sql, params)

        await self._writer.run(insert, single_statement=True)

    async def heartbeat_worker(self, worker_id: str, now: float) -> bool:
        """Set a worker's ``heartbeat_at``; return whether it is registered."""
        return await self._writer.run(
            lambda conn: (
                conn.execute(
                    "UPDATE workers SET heartbeat_at = ? WHERE id = ?", (now, worker_id)
                ).rowcount
                == 1
            ),
            single_statement=True,
            durable=False,
        )

    async def unregister_worker(self, worker_id: str) -> bool:
        """Delete a worker's row; return whether it existed."""
        return await self._writer.run(
            lambda conn: (
                conn.execute("DELETE FROM workers WHERE id = ?", (worker_id,)).rowcount == 1
            ),
            single_statement=True,
        )

    async def list_workers(self, alive_since: float | None = None) -> list[WorkerRecord]:
        """Return workers whose heartbeat is at or after ``alive_since``, oldest first."""
        since = float("-inf") if alive_since is None else alive_since

        def select(conn: sqlite3.Connection) -> list[WorkerRecord]:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM workers WHERE heartbeat_at >= ? ORDER BY started_at, id",
                (since,),
            )
            return [_worker(row) for row in rows]

        return await self._reader.run(select)
