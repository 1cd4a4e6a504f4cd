"""Worker-registry verbs of the PostgreSQL task queue (a mixin)."""

from __future__ import annotations

from omniq.backends.postgres.verbs import Verbs
from omniq.storage.admin import WorkerRecord

__all__ = ["RegistryVerbs"]


class RegistryVerbs(Verbs):
    """Which workers run against the schema, with their heartbeats."""

    async def register_worker(self, worker: WorkerRecord) -> None:
        """Store (or replace) a worker's row."""
        w = worker
        await self._rows(self._q.register_worker, {
            "id": w.id, "hostname": w.hostname, "pid": w.pid, "queues": list(w.queues),
            "concurrency": w.concurrency, "lease_duration": w.lease_duration,
            "started_at": w.started_at, "heartbeat_at": w.heartbeat_at,
        })  # fmt: skip

    async def heartbeat_worker(self, worker_id: str, now: float) -> bool:
        """Set a worker's ``heartbeat_at``; return whether it is registered."""
        return bool(await self._rows(self._q.heartbeat_worker, {"id": worker_id, "now": now}))

    async def unregister_worker(self, worker_id: str) -> bool:
        """Delete a worker's row; return whether it existed."""
        return bool(await self._rows(self._q.unregister_worker, {"id": worker_id}))

    async def list_workers(self, alive_since: float | None = None) -> list[WorkerRecord]:
        """Return workers whose heartbeat is at or after ``alive_since``, oldest first."""
        since = float("-inf") if alive_since is None else alive_since
        rows = await self._rows(self._q.list_workers, {"since": since})
        return [
            WorkerRecord(
                id=row[0],
                hostname=row[1],
                pid=row[2],
                queues=list(row[3]),
                concurrency=row[4],
                lease_duration=row[5],
                started_at=row[6],
                heartbeat_at=row[7],
            )
            for row in rows
        ]
