"""Worker-registry verbs of the file task queue (a mixin): ``workers/<id>.json``.

On a store that cannot make claims exclusive (an object store without conditional writes),
registering a second live worker is refused: one worker cannot claim a task twice, two
could.
"""

from __future__ import annotations

import msgspec

from omniq.backends.file.documents import WorkerDoc, decode, encode
from omniq.backends.file.layout import id_of, worker_key
from omniq.backends.file.store import ObjectStore, Writes
from omniq.backends.file.task_files import TaskFiles
from omniq.exceptions import BackendError
from omniq.storage.admin import WorkerRecord

__all__ = ["RegistryVerbs"]


class RegistryVerbs(TaskFiles):
    """Which workers run against the store, with their heartbeats, on files."""

    def _worker(self, store: ObjectStore, worker_id: str) -> tuple[WorkerDoc, object] | None:
        key = worker_key(worker_id)
        found = store.read(key)
        if found is None:
            return None
        doc = decode(WorkerDoc, found.data, f"{store.location}/{key}")
        return None if doc is None else (doc, found.token)

    def _workers(self, store: ObjectStore) -> list[WorkerRecord]:
        found = []
        for name in store.list("workers"):
            if name.endswith(".json"):
                worker = self._worker(store, id_of(name[: -len(".json")]))
                if worker is not None:
                    found.append(worker[0].worker)
        return found

    async def register_worker(self, worker: WorkerRecord) -> None:
        """Store (or replace) a worker's row.

        Raises:
            BackendError: The store cannot make claims exclusive and another worker is alive.
        """
        await self._state.run(
            self._register, msgspec.structs.replace(worker, queues=list(worker.queues))
        )

    def _only_worker(self, store: ObjectStore, worker_id: str, now: float) -> None:
        """On a store without exclusive claims, refuse every worker but the first live one.

        Raises:
            BackendError: Another worker registered earlier is alive.
        """
        if store.guarantees.exclusive:
            return
        workers = sorted(self._workers(store), key=lambda w: (w.started_at, w.id))
        for other in workers:
            if other.id == worker_id:
                return  # the first live one: this worker
            if other.heartbeat_at >= now - 2 * other.lease_duration:
                raise BackendError(
                    f"{store.location} cannot make claims exclusive (its writes are not "
                    f"conditional), and worker {other.id!r} already runs on it: run one "
                    "worker on this store, or use a store that supports conditional writes "
                    "(a local directory, S3 with If-None-Match/If-Match)"
                )

    def _register(self, worker: WorkerRecord) -> None:
        store, _ = self._open()
        self._only_worker(store, worker.id, worker.started_at)
        writes = Writes(store)
        writes.put(worker_key(worker.id), encode(WorkerDoc(worker=worker)))
        writes.commit()

    async def heartbeat_worker(self, worker_id: str, now: float) -> bool:
        """Set a worker's ``heartbeat_at``; return whether it is registered."""
        return await self._state.run(self._heartbeat, worker_id, now)

    def _heartbeat(self, worker_id: str, now: float) -> bool:
        store, _ = self._open()
        writes = Writes(store)
        while True:
            found = self._worker(store, worker_id)
            if found is None:
                return False
            doc, token = found
            record = msgspec.structs.replace(doc.worker, heartbeat_at=now)
            if writes.swap(
                worker_key(worker_id), encode(WorkerDoc(rev=doc.rev + 1, worker=record)), token
            ):
                writes.commit()
                return True

    async def unregister_worker(self, worker_id: str) -> bool:
        """Delete a worker's row; return whether it existed."""
        return await self._state.run(self._unregister, worker_id)

    def _unregister(self, worker_id: str) -> bool:
        store, _ = self._open()
        writes = Writes(store)
        existed = writes.delete(worker_key(worker_id))
        writes.commit()
        return existed

    async def list_workers(self, alive_since: float | None = None) -> list[WorkerRecord]:
        """Return workers whose heartbeat is at or after ``alive_since``, oldest first."""
        return await self._state.read(self._list_workers, alive_since)

    def _list_workers(self, alive_since: float | None) -> list[WorkerRecord]:
        store, _ = self._open()
        found = [
            w for w in self._workers(store) if alive_since is None or w.heartbeat_at >= alive_since
        ]
        return sorted(found, key=lambda w: (w.started_at, w.id))
