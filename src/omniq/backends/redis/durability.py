"""What survives a Redis restart: read from the server's persistence settings at start.

Redis keeps everything in memory; whether an enqueued task survives a restart depends on
``appendonly`` (the append-only file), ``appendfsync`` (how often it reaches the disk) and
``save`` (periodic snapshots). OmniQ reads them once when the backend opens, keeps the
verdict in :attr:`RedisBackend.durability`, and logs one warning when tasks could be lost.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from redis import exceptions as redis_errors
from redis.asyncio import Redis

from omniq.backends.redis.connection import execute

__all__ = ["Durability", "read_durability"]

_log = logging.getLogger("omniq.backends.redis")


@dataclass(frozen=True, slots=True)
class Durability:
    """The server's persistence settings and what they mean for enqueued tasks.

    Attributes:
        appendonly: ``appendonly`` (``None`` when it could not be read).
        appendfsync: ``appendfsync``.
        save: ``save`` (``""``: no snapshots).
        survives_restart: Whether an enqueued task survives a restart of the server.
        summary: One sentence for people.
    """

    appendonly: str | None
    appendfsync: str | None
    save: str | None
    survives_restart: bool | None
    summary: str


def judge(appendonly: str | None, appendfsync: str | None, save: str | None) -> Durability:
    """The verdict for these settings."""
    if appendonly is None:
        summary = "unknown (the server does not allow CONFIG GET): check its persistence"
        return Durability(appendonly, appendfsync, save, None, summary)
    if appendonly == "yes":
        loss = {"always": "nothing", "everysec": "up to the last second of writes"}.get(
            appendfsync or "", "the writes not yet flushed by the operating system"
        )
        summary = (f"append-only file on (appendfsync {appendfsync}): a restart keeps every "
                   f"task; a crash of the host loses {loss}")  # fmt: skip
        return Durability(appendonly, appendfsync, save, True, summary)
    if save:
        summary = (f"snapshots only (save {save!r}, appendonly no): tasks enqueued since the "
                   "last snapshot are lost if Redis restarts")  # fmt: skip
        return Durability(appendonly, appendfsync, save, False, summary)
    summary = ("the server keeps nothing on disk (appendonly no, save ''): every enqueued "
               "task and result is lost if Redis restarts")  # fmt: skip
    return Durability(appendonly, appendfsync, save, False, summary)


def _text(value: str | bytes) -> str:
    return value if isinstance(value, str) else value.decode()


async def read_durability(client: Redis, server: str) -> Durability:
    """Read the settings with ``CONFIG GET`` and log a warning when tasks could be lost."""
    try:
        found = await execute(client, "CONFIG", "GET", "appendonly", "appendfsync", "save")
    except redis_errors.ResponseError:  # CONFIG renamed or refused (managed services)
        found = []
    pairs = found.items() if isinstance(found, dict) else zip(found[::2], found[1::2], strict=True)
    values = {_text(key): _text(value) for key, value in pairs}
    verdict = judge(values.get("appendonly"), values.get("appendfsync"), values.get("save"))
    if verdict.survives_restart is False:
        _log.warning("Redis at %s: %s", server, verdict.summary)
    elif verdict.survives_restart is None:
        _log.info("Redis at %s: durability %s", server, verdict.summary)
    return verdict
