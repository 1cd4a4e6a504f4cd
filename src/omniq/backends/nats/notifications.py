"""Wake-ups between processes: a plain NATS subject per project, and the listener.

The verbs publish on ``omniq.<p>.wake`` once the server has stored their change; each
message is short text:

* ``t`` or ``t:<epoch>``: tasks became claimable (the earliest due at ``<epoch>``);
* ``r:<id>,<id>...``: these tasks reached an outcome;
* ``s`` or ``s:<epoch>``: a schedule was added or resumed;
* ``c``: the cancellation of an executing task was requested.

Plain NATS delivers at most once, to whoever listens at that moment, so these are hints:
workers and result waiters keep polling as a backstop, and after a reconnection the
listener reports tasks, schedules and cancellations as possibly missed.
"""

from __future__ import annotations

import contextlib
import logging

import nats.errors
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from omniq.backends.nats.connection import Connection
from omniq.exceptions import BackendError
from omniq.storage import wakeups
from omniq.storage.bridge import LoopBridge
from omniq.storage.interfaces import NotificationSink
from omniq.storage.wakeups import (
    CANCEL_PAYLOAD,
    MISSED_PAYLOADS,
    deliver,
    deliver_to_all,
    schedules_payload,
    tasks_payload,
)

__all__ = [
    "CANCEL_PAYLOAD",
    "NATSNotifier",
    "deliver",
    "result_payloads",
    "schedules_payload",
    "tasks_payload",
]

_log = logging.getLogger("omniq.backends.nats")

#: Ids per result message (keeps it small).
_IDS_PER_MESSAGE = 200


def result_payloads(task_ids: list[str]) -> list[str]:
    """Messages telling that ``task_ids`` reached an outcome."""
    return wakeups.result_payloads(task_ids, _IDS_PER_MESSAGE)


class NATSNotifier:
    """Subscribes to the project's wake subject on the backend's connection; feeds sinks.

    Args:
        bridge: The backend's bridge.
        conn: The backend's connection.
        subject: The project's wake subject.
    """

    def __init__(self, bridge: LoopBridge, conn: Connection, subject: str) -> None:
        self._bridge = bridge
        self._conn = conn
        self._subject = subject
        self._sinks: list[NotificationSink] = []
        self._sub: Subscription | None = None
        conn.on_reconnect(self._missed)

    async def start(self, sink: NotificationSink) -> None:
        """Start listening for ``sink`` (once per sink); returns once subscribed."""
        await self._bridge.run(lambda: self._conn.guard(lambda: self._start(sink)))

    async def stop(self) -> None:
        """Stop listening (idempotent)."""
        if self._bridge.running:
            await self._bridge.run(self.stop_here)

    async def _start(self, sink: NotificationSink) -> None:
        if sink not in self._sinks:
            self._sinks.append(sink)
        if self._sub is None:
            nc = self._conn.client
            self._sub = await nc.subscribe(self._subject, cb=self._receive)
            await nc.flush(timeout=max(1, round(self._conn.options.request_timeout)))

    async def stop_here(self) -> None:
        """:meth:`stop`, on the bridge's loop (also when the backend closes)."""
        sub, self._sub = self._sub, None
        self._sinks.clear()
        if sub is not None:
            with contextlib.suppress(nats.errors.Error, BackendError):
                await sub.unsubscribe()

    async def _receive(self, msg: Msg) -> None:
        self._broadcast(msg.data.decode("utf-8", "replace"))

    def _missed(self) -> None:
        if self._sub is not None:
            for payload in MISSED_PAYLOADS:
                self._broadcast(payload)

    def _broadcast(self, payload: str) -> None:
        deliver_to_all(payload, self._sinks, _log)
