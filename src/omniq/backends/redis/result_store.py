"""The Redis result storage: results expire with Redis's own TTL.

A result with an ``expires_at`` gets a TTL of its lifetime (``expires_at - created_at``)
plus a few seconds of grace, so Redis drops it by itself without any sweep; ``get``
still compares ``expires_at`` with the caller's ``now`` exactly. The expiry index
``P:rexp`` serves ``purge_expired`` and ``count_expired``: they act on results still
stored, and drop the index entries of those Redis has already expired (not counted).
"""

from __future__ import annotations

from collections.abc import Sequence

from omniq.backends.redis.codec import Arg, decode_result, result_args, time_arg
from omniq.backends.redis.connection import RedisConnection
from omniq.backends.redis.keys import Keys
from omniq.storage.records import ResultRecord

__all__ = ["RedisResultStorage"]


class RedisResultStorage:
    """Result storage in Redis; see :class:`omniq.storage.ResultStorage`.

    Args:
        conn: The backend's client and its bridge.
        keys: The project's key layout.
    """

    def __init__(self, conn: RedisConnection, keys: Keys) -> None:
        self._conn = conn
        self._keys = keys

    async def put_many(self, results: Sequence[ResultRecord]) -> None:
        """Store results in one script (never over one of a later attempt)."""
        if not results:
            return
        args: list[Arg] = ["put", len(results)]
        for result in results:
            args += result_args(result)
        await self._conn.script("results", args)

    async def get(self, task_id: str, now: float) -> ResultRecord | None:
        """Return the unexpired result of a task (``expires_at >= now``), or ``None``."""
        key = self._keys.result(task_id)
        found = await self._conn.command("HGETALL", key)
        if not found:
            return None
        result = decode_result(task_id, found)
        if result.expires_at is not None and result.expires_at < now:
            return None
        return result

    async def delete(self, task_id: str) -> bool:
        """Delete a result; return whether one existed."""
        return bool(await self._conn.script("results", ["delete", 1, task_id]))

    async def delete_many(self, task_ids: Sequence[str]) -> int:
        """Delete the results of these tasks in one script; return how many existed."""
        ids = list(dict.fromkeys(task_ids))
        if not ids:
            return 0
        return int(await self._conn.script("results", ["delete", len(ids), *ids]))

    async def purge_expired(self, now: float) -> int:
        """Delete the stored results that expired before ``now``; return how many."""
        return int(await self._conn.script("results", ["purge", time_arg(now)]))

    async def count_expired(self, now: float) -> int:
        """Return how many stored results have ``expires_at`` before ``now``."""
        return int(await self._conn.script("results", ["count", time_arg(now)]))
