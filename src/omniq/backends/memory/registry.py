"""Worker-registry verbs of the memory task queue (mixed into :class:`MemoryTaskQueue`)."""

from __future__ import annotations

import threading

import msgspec

from omniq.storage.admin import WorkerRecord

__all__ = ["RegistryVerbs"]


class RegistryVerbs:
    """Which workers run against the store, with their heartbeats, in process memory."""

    _lock: threading.Lock

    def _init_registry(self) -> None:
        self._workers: dict[str, WorkerRecord] = {}

    async def register_worker(self, worker: WorkerRecord) -> None:
        """Store (or replace) a worker's row."""
        record = msgspec.structs.replace(worker, queues=list(worker.queues))
        with self._lock:
            self._workers[record.id] = record

    async def heartbeat_worker(self, worker_id: str, now: float) -> bool:
        """Set a worker's ``heartbeat_at``; return whether it is registered."""
        with self._lock:
            record = self._workers.get(worker_id)
            if record is None:
                return False
            record.heartbeat_at = now
            return True

    async def unregister_worker(self, worker_id: str) -> bool:
        """Delete a worker's row; return whether it existed."""
        with self._lock:
            return self._workers.pop(worker_id, None) is not None

    async def list_workers(self, alive_since: float | None = None) -> list[WorkerRecord]:
        """Return workers whose heartbeat is at or after ``alive_since``, oldest first."""
        with self._lock:
            found = [
                msgspec.structs.replace(w, queues=list(w.queues))
                for w in self._workers.values()
                if alive_since is None or w.heartbeat_at >= alive_since
            ]
        return sorted(found, key=lambda w: (w.started_at, w.id))
