"""The file result store: results in their task's file, or in ``results/<id>.json``.

A worker's completion writes the result *into the task file*, with the ``completed``
status (one atomic write: ``fused_results``). Results stored on their own (``put_many``:
a queue in another backend, or a direct call) go to ``results/<id>.json``, replaced only
by one of the same or a later attempt (compare-and-swap). A read looks at both and keeps
the later attempt. A result with an ``expires_at`` also gets an empty entry
``expiry/<bucket>/<expires_at>-<id>``: a purge lists the buckets that have passed, not
every result.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from omniq.backends.file.documents import ResultDoc, TaskDoc, decode, encode
from omniq.backends.file.layout import expiry_key, float_key, id_of, result_key, task_key
from omniq.backends.file.state import FileState
from omniq.backends.file.store import ObjectStore, Writes
from omniq.storage.records import ResultRecord

__all__ = ["FileResultStorage"]


class FileResultStorage:
    """A :class:`~omniq.storage.interfaces.ResultStorage` on files.

    Args:
        state: The backend's open store.
    """

    def __init__(self, state: FileState) -> None:
        self._state = state

    def _read(self, store: ObjectStore, task_id: str) -> tuple[ResultRecord, object] | None:
        key = result_key(task_id)
        found = store.read(key)
        if found is None:
            return None
        doc = decode(ResultDoc, found.data, f"{store.location}/{key}")
        return None if doc is None else (doc.result, found.token)

    def _in_task(self, store: ObjectStore, task_id: str) -> ResultRecord | None:
        """The result written into the task's own file, if any."""
        key = task_key(task_id)
        found = store.read(key)
        if found is None:
            return None
        doc = decode(TaskDoc, found.data, f"{store.location}/{key}")
        return None if doc is None else doc.result

    def _current(self, store: ObjectStore, task_id: str) -> ResultRecord | None:
        """The stored result of the latest attempt, wherever it is."""
        alone = self._read(store, task_id)
        embedded = self._in_task(store, task_id)
        if alone is None:
            return embedded
        if embedded is None or alone[0].attempt >= embedded.attempt:
            return alone[0]
        return embedded

    def _strip(self, writes: Writes, task_id: str, only_expired_before: float | None) -> bool:
        """Remove the result from its task's file; return whether there was one."""
        store = writes.store
        key = task_key(task_id)
        while True:
            found = store.read(key)
            if found is None:
                return False
            doc = decode(TaskDoc, found.data, f"{store.location}/{key}")
            if doc is None or doc.result is None:
                return False
            expires = doc.result.expires_at
            if only_expired_before is not None and (
                expires is None or expires >= only_expired_before
            ):
                return False
            new = msgspec.structs.replace(doc, rev=doc.rev + 1, result=None)
            if writes.swap(key, encode(new), found.token):
                return True

    def put_blocking(self, writes: Writes, results: Sequence[ResultRecord]) -> dict[str, bytes]:
        """Store results (never over one of a later attempt); return the bytes written by id."""
        store = writes.store
        written: dict[str, bytes] = {}

        def put(result: ResultRecord) -> None:
            data = encode(ResultDoc(result=result))
            key = result_key(result.task_id)
            if result.expires_at is not None:
                writes.touch(expiry_key(result.expires_at, result.task_id))
            while True:
                found = self._read(store, result.task_id)
                if found is None:
                    if writes.create(key, data):
                        break
                    continue
                current, token = found
                if current.attempt > result.attempt:
                    return  # a late write of an earlier attempt never replaces a later one
                if writes.swap(key, data, token):
                    break
            written[result.task_id] = data

        store.parallel(put, list(results))
        return written

    def unput(self, writes: Writes, task_id: str, data: bytes | None) -> None:
        """Delete a result this backend just wrote, if it is still that one."""
        if data is not None:
            writes.delete(result_key(task_id), data)

    async def put_many(self, results: Sequence[ResultRecord]) -> None:
        """Store results (each never over one of a later attempt)."""
        await self._state.run(self._put_many, [msgspec.structs.replace(r) for r in results])

    def _put_many(self, results: list[ResultRecord]) -> None:
        store, _ = self._state.opened()
        writes = Writes(store)
        self.put_blocking(writes, results)
        writes.commit()

    async def get(self, task_id: str, now: float) -> ResultRecord | None:
        """Return the unexpired result (``expires_at >= now``), or ``None``."""
        return await self._state.read(self._get, task_id, now)

    def _get(self, task_id: str, now: float) -> ResultRecord | None:
        store, _ = self._state.opened()
        record = self._current(store, task_id)
        if record is None:
            return None
        if record.expires_at is not None and record.expires_at < now:
            return None
        return record

    async def delete(self, task_id: str) -> bool:
        """Delete a result; return whether one existed."""
        return await self._state.run(self._delete_many, [task_id]) > 0

    async def delete_many(self, task_ids: Sequence[str]) -> int:
        """Delete the results of these tasks; return how many existed."""
        return await self._state.run(self._delete_many, list(dict.fromkeys(task_ids)))

    def _delete_many(self, task_ids: list[str]) -> int:
        store, _ = self._state.opened()
        writes = Writes(store)
        deleted = 0
        for task_id in task_ids:
            alone = writes.delete(result_key(task_id))
            embedded = self._strip(writes, task_id, None)
            deleted += alone or embedded
        writes.commit()
        return deleted

    async def purge_expired(self, now: float) -> int:
        """Delete every result whose ``expires_at`` is before ``now``; return how many."""
        return await self._state.run(self._expired, now, True)

    async def count_expired(self, now: float) -> int:
        """Return how many results have ``expires_at`` before ``now``."""
        return await self._state.read(self._expired, now, False)

    def _expired(self, now: float, delete: bool) -> int:
        store, _ = self._state.opened()
        writes = Writes(store)
        now_key = float_key(now)
        count = 0
        seen: set[str] = set()
        for bucket in store.list("expiry"):
            if bucket > now_key[:7]:
                break
            names = store.list(f"expiry/{bucket}")
            for name in names:
                if name[:16] >= now_key:
                    break
                entry = f"expiry/{bucket}/{name}"
                task_id = id_of(name[17:])
                if task_id in seen:  # an older expiry entry of a replaced result
                    if delete:
                        writes.delete(entry)
                    continue
                seen.add(task_id)
                if not delete:
                    current = self._current(store, task_id)
                    expires = None if current is None else current.expires_at
                    count += expires is not None and expires < now
                    continue
                found = self._read(store, task_id)
                purged = False
                if found is not None:
                    record, token = found
                    if record.expires_at is not None and record.expires_at < now:
                        purged = writes.delete(result_key(task_id), token)
                purged = self._strip(writes, task_id, now) or purged
                count += purged
                writes.delete(entry)
            if delete:
                store.prune(f"expiry/{bucket}")
        writes.commit()
        return count
