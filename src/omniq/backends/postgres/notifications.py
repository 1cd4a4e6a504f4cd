"""LISTEN/NOTIFY: what the verbs tell other processes, and the listener that hears it.

The verbs notify in their own transaction, so a notification is delivered when (and only
if) the change commits. Payloads are short text:

* ``t`` or ``t:<epoch>``: tasks became claimable (the earliest due at ``<epoch>``);
* ``r:<id>,<id>...``: these tasks reached an outcome (at most 150 ids per notification,
  which keeps it under PostgreSQL's 8,000-byte limit);
* ``s`` or ``s:<epoch>``: a schedule was added or resumed;
* ``c``: the cancellation of an executing task was requested.

The listener holds one connection of its own in autocommit mode (LISTEN on a pooled
connection would be lost when the pool recycles it). If the connection drops it reconnects
with a growing delay and then reports tasks, schedules and cancellations as possibly
missed: notifications are hints, and polling stays the backstop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import AsyncConnection, sql

from omniq.storage import wakeups
from omniq.storage.bridge import LoopBridge
from omniq.storage.listener import WakeupListener
from omniq.storage.wakeups import CANCEL_PAYLOAD, deliver, schedules_payload, tasks_payload

__all__ = [
    "CANCEL_PAYLOAD",
    "PostgresNotifier",
    "deliver",
    "result_payload",
    "schedules_payload",
    "tasks_payload",
]

_log = logging.getLogger("omniq.backends.postgres")

#: Ids per result notification (36-character ids: well under the 8,000-byte payload limit).
_IDS_PER_NOTIFICATION = 150
_RECONNECT_FIRST = 0.05
_RECONNECT_MAX = 2.0


def result_payload(task_ids: list[str]) -> list[str]:
    """Payloads telling that ``task_ids`` reached an outcome (several if many)."""
    return wakeups.result_payloads(task_ids, _IDS_PER_NOTIFICATION)


class PostgresNotifier(WakeupListener):
    """Listens to the project's channel on a connection of its own; feeds a sink.

    The listening task and its connection live on the backend's bridge loop; ``start`` and
    ``stop`` may be awaited from any loop.

    Args:
        bridge: The backend's bridge.
        conninfo: Returns how to connect (the backend's connection string).
        channel: The project's channel name.
        server: ``host:port/db``, for log messages.
        on_tasks: Called (on the bridge's loop) when tasks are announced, before the sinks.
    """

    def __init__(
        self,
        bridge: LoopBridge,
        conninfo: Callable[[], str],
        channel: str,
        server: str,
        on_tasks: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(bridge, channel, ready_timeout=5.0, log=_log)
        self._on_tasks = on_tasks
        self._conninfo = conninfo
        self._server = server

    async def _listen(self) -> None:
        delay = _RECONNECT_FIRST
        missed = False
        while True:
            try:
                conn: AsyncConnection[Any] = await AsyncConnection.connect(
                    self._conninfo(), autocommit=True
                )
            except psycopg.Error as exc:
                _log.warning("LISTEN on %s: cannot connect (%s); retrying in %.2fs",
                             self._server, str(exc).strip().splitlines()[0], delay)  # fmt: skip
                await asyncio.sleep(delay)
                delay = min(delay * 2, _RECONNECT_MAX)
                missed = True
                continue
            try:
                await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._channel)))
                self._subscribed(missed)
                delay = _RECONNECT_FIRST
                missed = False
                async for notification in conn.notifies():
                    self._broadcast(notification.payload)
            except psycopg.Error as exc:
                _log.warning("LISTEN on %s lost its connection (%s); reconnecting",
                             self._server, str(exc).strip().splitlines()[0])  # fmt: skip
                missed = True
            finally:
                with contextlib.suppress(psycopg.Error):
                    await conn.close()

    def _broadcast(self, payload: str) -> None:
        if payload.startswith("t") and self._on_tasks is not None:
            self._on_tasks()
        super()._broadcast(payload)
