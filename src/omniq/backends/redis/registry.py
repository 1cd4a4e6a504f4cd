"""Worker-registry verbs of the Redis task queue (a mixin)."""

from __future__ import annotations

from omniq.backends.redis.codec import decode_worker, time_arg, worker_args
from omniq.backends.redis.verbs import Verbs
from omniq.storage.admin import WorkerRecord

__all__ = ["RegistryVerbs"]


class RegistryVerbs(Verbs):
    """Which workers run against the project, with their heartbeats."""

    async def register_worker(self, worker: WorkerRecord) -> None:
        """Store (or replace) a worker's record."""
        await self._script("workers", ["register", *worker_args(worker)])

    async def heartbeat_worker(self, worker_id: str, now: float) -> bool:
        """Set a worker's ``heartbeat_at``; return whether it is registered."""
        return bool(await self._script("workers", ["heartbeat", worker_id, time_arg(now)]))

    async def unregister_worker(self, worker_id: str) -> bool:
        """Delete a worker's record; return whether it existed."""
        return bool(await self._script("workers", ["unregister", worker_id]))

    async def list_workers(self, alive_since: float | None = None) -> list[WorkerRecord]:
        """Return workers whose heartbeat is at or after ``alive_since``, oldest first."""
        workers = [decode_worker(record, heartbeat)
                   for record, heartbeat in await self._script("workers", ["list"])]  # fmt: skip
        if alive_since is None:
            return workers
        return [worker for worker in workers if worker.heartbeat_at >= alive_since]
