"""What the mixins of the Redis task queue share: the connection and the key layout."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from omniq.backends.redis.codec import Arg, decode_task
from omniq.backends.redis.connection import RedisConnection
from omniq.backends.redis.keys import Keys
from omniq.storage.records import TaskRecord

__all__ = ["Verbs", "as_texts"]


def as_texts(values: Sequence[bytes]) -> list[str]:
    """Bulk string replies as text."""
    return [bytes(value).decode() for value in values]


class Verbs:
    """The attributes every verb of the task queue uses, and small helpers over them."""

    _conn: RedisConnection
    _keys: Keys

    async def _script(self, name: str, args: Sequence[Arg]) -> Any:
        """Run one script (one atomic step on the server)."""
        return await self._conn.script(name, args)

    async def _tasks(self, name: str, args: Sequence[Arg]) -> list[TaskRecord]:
        """Run a script that returns task hashes, decoded."""
        return [decode_task(flat) for flat in await self._script(name, args)]
