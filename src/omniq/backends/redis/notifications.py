"""Pub/sub wake-ups: what the scripts publish, and the listener that hears it.

The scripts publish on the project's channel (``{omniq:<project>}:wake``) inside the same
atomic step as the change, so a message means the change is there. Payloads are short
text:

* ``t`` or ``t:<epoch>``: tasks became claimable (the earliest due at ``<epoch>``);
* ``r:<id>,<id>...``: these tasks reached an outcome (at most 150 ids per message);
* ``s`` or ``s:<epoch>``: a schedule was added or resumed;
* ``c``: the cancellation of an executing task was requested.

The listener holds one connection of its own (a subscribed connection can do nothing
else). It costs the server nothing while idle: Redis pushes each message to it. If the
connection drops it reconnects with a growing delay and then reports tasks, schedules and
cancellations as possibly missed: notifications are hints, polling stays the backstop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from redis import exceptions as redis_errors

from omniq.backends.redis.connection import RedisConnection, mask_url
from omniq.storage.bridge import LoopBridge
from omniq.storage.listener import WakeupListener
from omniq.storage.wakeups import deliver

__all__ = ["RedisNotifier", "deliver"]

_log = logging.getLogger("omniq.backends.redis")

_RECONNECT_FIRST = 0.05
_RECONNECT_MAX = 2.0
#: Seconds between the listener's checks that its connection is alive (a PING).
_HEALTH_CHECK = 10


class RedisNotifier(WakeupListener):
    """Subscribes to the project's channel on a connection of its own; feeds sinks.

    The listening task and its connection live on the backend's bridge loop; ``start``
    and ``stop`` may be awaited from any loop.

    Args:
        bridge: The backend's bridge.
        conn: The backend's connection (for its URL and timeouts).
        channel: The project's channel name.
    """

    def __init__(self, bridge: LoopBridge, conn: RedisConnection, channel: str) -> None:
        super().__init__(bridge, channel, ready_timeout=conn.connect_timeout, log=_log)
        self._conn = conn

    async def _listen(self) -> None:
        delay = _RECONNECT_FIRST
        missed = False
        while True:
            client = self._conn.new_client(socket_timeout=None,
                                           health_check_interval=_HEALTH_CHECK)  # fmt: skip
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self._channel)
                self._subscribed(missed)
                delay = _RECONNECT_FIRST
                missed = False
                while True:
                    message = await pubsub.get_message(timeout=_HEALTH_CHECK)
                    if message is not None and message.get("type") == "message":
                        self._broadcast(bytes(message["data"]).decode())
            except (redis_errors.RedisError, OSError) as exc:
                _log.warning("pub/sub on %s lost its connection (%s); reconnecting in %.2fs",
                             self._conn.server, mask_url(str(exc)), delay)  # fmt: skip
                missed = True
            finally:
                try:
                    with contextlib.suppress(Exception):
                        closing: Any = pubsub  # typed differently across redis-py versions
                        await closing.aclose()
                finally:  # even if a second cancellation interrupts the first close
                    with contextlib.suppress(Exception):
                        await client.aclose()
            await asyncio.sleep(delay)
            delay = min(delay * 2, _RECONNECT_MAX)
