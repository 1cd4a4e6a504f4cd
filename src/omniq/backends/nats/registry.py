"""Worker-registry verbs of the NATS task queue (a mixin): one key ``w.<id>`` per worker."""

from __future__ import annotations

import msgspec

from omniq.backends.nats.codec import decode_worker, encode_worker
from omniq.backends.nats.connection import Conflict
from omniq.backends.nats.verbs import Verbs
from omniq.storage.admin import WorkerRecord

__all__ = ["RegistryVerbs"]

_ATTEMPTS = 20


class RegistryVerbs(Verbs):
    """Which workers run against the project, with their heartbeats."""

    async def register_worker(self, worker: WorkerRecord) -> None:
        """Store (or replace) a worker's registration."""
        subject = self._names.worker_subject(worker.id)
        await self._conn.run(lambda: self._conn.publish(subject, encode_worker(worker)))

    async def heartbeat_worker(self, worker_id: str, now: float) -> bool:
        """Set a worker's ``heartbeat_at``; return whether it is registered."""
        subject = self._names.worker_subject(worker_id)

        async def beat() -> bool:
            for _ in range(_ATTEMPTS):
                found = await self._conn.last(self._names.state_stream, subject)
                if found is None or found.deleted or not found.data:
                    return False
                worker = msgspec.structs.replace(decode_worker(found.data), heartbeat_at=now)
                try:
                    await self._conn.publish(subject, encode_worker(worker), last=found.seq)
                except Conflict:
                    continue
                return True
            return True  # others keep writing it: it is registered

        return await self._conn.run(beat)

    async def unregister_worker(self, worker_id: str) -> bool:
        """Delete a worker's registration; return whether it existed."""
        subject = self._names.worker_subject(worker_id)

        async def drop() -> bool:
            found = await self._conn.last(self._names.state_stream, subject)
            if found is None or found.deleted:
                return False
            await self._conn.delete(subject, purge=True)
            return True

        return await self._conn.run(drop)

    async def list_workers(self, alive_since: float | None = None) -> list[WorkerRecord]:
        """Return workers whose heartbeat is at or after ``alive_since``, oldest first."""
        since = float("-inf") if alive_since is None else alive_since

        async def scan() -> list[WorkerRecord]:
            messages = await self._conn.scan(
                self._names.state_stream, self._names.state_filter("w"), last_per_subject=True
            )
            workers = [decode_worker(m.data) for m in messages if not m.deleted and m.data]
            alive = [w for w in workers if w.heartbeat_at >= since]
            return sorted(alive, key=lambda w: (w.started_at, w.id))

        return await self._conn.run(scan)
