"""The Redis event storage: one stream per project, read in commit order.

Every event is an entry of the project's stream ``P:log``; ``P:e:<task id>`` lists the
entry ids of one task. A script appends with ``XADD *``, and scripts run one at a time, so
stream ids are assigned in commit order: the cursor of an event is its stream id, and a
reader following it never misses a later commit. The stream is not capped by length:
events leave it with their task (``delete_events``, called by ``omniq purge``), so a
task's history is never cut short while the task exists.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from omniq.backends.redis.codec import Arg, decode_event, event_args
from omniq.backends.redis.connection import RedisConnection
from omniq.backends.redis.keys import Keys
from omniq.exceptions import ConfigurationError
from omniq.models.event import TaskEvent

__all__ = ["RedisEventStorage"]

_CURSOR = re.compile(r"\d{1,20}-\d{1,20}")


def _entries(rows: Sequence[Any]) -> list[tuple[str, TaskEvent]]:
    out = []
    for stream_id, fields in rows:
        out.append((bytes(stream_id).decode(), decode_event(fields[b"e"])))
    return out


class RedisEventStorage:
    """Event storage in Redis; see :class:`omniq.storage.EventStorage`.

    Args:
        conn: The backend's client and its bridge.
        keys: The project's key layout.
    """

    def __init__(self, conn: RedisConnection, keys: Keys) -> None:
        self._conn = conn
        self._keys = keys

    async def append(self, events: Sequence[TaskEvent]) -> None:
        """Append events in one script, keeping their order."""
        if events:
            args: list[Arg] = ["append", *event_args(events)]
            await self._conn.script("events", args)

    async def for_task(self, task_id: str) -> list[TaskEvent]:
        """Return a task's events in append order."""
        blobs = await self._conn.script("events", ["for_task", task_id])
        return [decode_event(blob) for blob in blobs]

    async def recent_events(self, after: str | None, limit: int) -> list[tuple[str, TaskEvent]]:
        """Return events after cursor ``after`` (or the last ``limit``), oldest first.

        Raises:
            ConfigurationError: ``after`` is not a stream id (``<ms>-<seq>``).
        """
        log = self._keys.log
        if after is None:
            rows = await self._conn.command("XREVRANGE", log, "+", "-", "COUNT", limit)
            return _entries(list(reversed(rows)))
        if not _CURSOR.fullmatch(after):
            raise ConfigurationError(
                f"after {after!r} is not an event cursor of this store (a stream id '<ms>-<seq>')"
            )
        rows = await self._conn.command("XRANGE", log, f"({after}", "+", "COUNT", limit)
        return _entries(rows)

    async def delete_events(self, task_ids: Sequence[str]) -> int:
        """Delete the events of these tasks; return how many."""
        ids = list(dict.fromkeys(task_ids))
        if not ids:
            return 0
        return int(await self._conn.script("events", ["delete", len(ids), *ids]))
