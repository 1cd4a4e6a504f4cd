"""Counting expired memory results, for dry runs of a purge (mixed into the result storage)."""

from __future__ import annotations

import threading

from omniq.storage.records import ResultRecord

__all__ = ["ResultAdminVerbs"]


class ResultAdminVerbs:
    """The :class:`omniq.storage.admin.ResultAdmin` verb in process memory."""

    _lock: threading.Lock
    _results: dict[str, tuple[int, ResultRecord]]

    async def count_expired(self, now: float) -> int:
        """Return how many results have ``expires_at`` before ``now``."""
        with self._lock:
            return sum(
                1
                for _, record in self._results.values()
                if record.expires_at is not None and record.expires_at < now
            )
