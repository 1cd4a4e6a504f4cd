"""An in-process result store with an expiry heap for cheap purges."""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Sequence

import msgspec

from omniq.backends.memory.result_admin import ResultAdminVerbs
from omniq.storage.records import ResultRecord

__all__ = ["MemoryResultStorage"]

#: The expiry heap is rebuilt when it exceeds twice the stored results plus this slack.
_COMPACT_SLACK = 64


class MemoryResultStorage(ResultAdminVerbs):
    """A :class:`~omniq.storage.interfaces.ResultStorage` kept in process memory.

    Thread-safe and usable from any event loop (one :class:`threading.Lock`, never held across
    an await). A result counts as expired once ``expires_at < now``. Records are copied on the
    way in and out.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # task_id -> (token, record); the token tells current expiry entries from stale ones.
        self._results: dict[str, tuple[int, ResultRecord]] = {}
        self._expiry: list[tuple[float, int, str]] = []
        self._counter = itertools.count()

    def _compact(self) -> None:
        if len(self._expiry) > 2 * len(self._results) + _COMPACT_SLACK:
            results = self._results
            self._expiry = [
                entry
                for entry in self._expiry
                if (current := results.get(entry[2])) is not None and current[0] == entry[1]
            ]
            heapq.heapify(self._expiry)

    def put_now(self, results: Sequence[ResultRecord]) -> None:
        """Store results synchronously (for writes that must be atomic with another store's)."""
        with self._lock:
            for result in results:
                self._put_locked(msgspec.structs.replace(result))

    def _put_locked(self, record: ResultRecord) -> None:
        current = self._results.get(record.task_id)
        if current is not None and current[1].attempt > record.attempt:
            return  # a late write of an earlier attempt never replaces a later one
        token = next(self._counter)
        self._results[record.task_id] = (token, record)
        if record.expires_at is not None:
            heapq.heappush(self._expiry, (record.expires_at, token, record.task_id))
            self._compact()

    async def put_many(self, results: Sequence[ResultRecord]) -> None:
        """Store results at once (never over one of a later attempt)."""
        self.put_now(results)

    async def get(self, task_id: str, now: float) -> ResultRecord | None:
        """Return the result of a task unless it expired (``expires_at < now``), else ``None``."""
        with self._lock:
            current = self._results.get(task_id)
        if current is None:
            return None
        record = current[1]
        if record.expires_at is not None and record.expires_at < now:
            return None
        return msgspec.structs.replace(record)

    async def delete(self, task_id: str) -> bool:
        """Delete a result; return whether one existed."""
        with self._lock:
            existed = self._results.pop(task_id, None) is not None
            if existed:
                self._compact()
            return existed

    async def delete_many(self, task_ids: Sequence[str]) -> int:
        """Delete the results of these tasks; return how many existed."""
        with self._lock:
            deleted = sum(self._results.pop(task_id, None) is not None for task_id in task_ids)
            if deleted:
                self._compact()
            return deleted

    async def purge_expired(self, now: float) -> int:
        """Delete every result whose ``expires_at`` is before ``now``; return how many."""
        purged = 0
        with self._lock:
            expiry, results = self._expiry, self._results
            while expiry and expiry[0][0] < now:
                _, token, task_id = heapq.heappop(expiry)
                current = results.get(task_id)
                if current is not None and current[0] == token:
                    del results[task_id]
                    purged += 1
        return purged
