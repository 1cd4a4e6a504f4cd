"""The Redis backend: task queue, results and events under one hash-tagged key prefix."""

from __future__ import annotations

import itertools
import time

from redis.asyncio import Redis

from omniq.backends.redis.connection import RedisConnection, describe_server, execute, mask_url
from omniq.backends.redis.durability import Durability, read_durability
from omniq.backends.redis.event_store import RedisEventStorage
from omniq.backends.redis.keys import Keys
from omniq.backends.redis.notifications import RedisNotifier
from omniq.backends.redis.result_store import RedisResultStorage
from omniq.backends.redis.task_queue import RedisTaskQueue
from omniq.exceptions import ConfigurationError
from omniq.storage.bridge import BridgedBackend, LoopBridge
from omniq.storage.capabilities import Capabilities
from omniq.storage.names import validate_project_name

__all__ = ["RedisBackend"]

_instances = itertools.count(1)

DEFAULT_URL = "redis://localhost:6379/0"


def _seconds(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ConfigurationError(f"{name} {value!r} is not a positive number of seconds")
    return float(value)


async def _clock_offset(client: Redis) -> float:
    """The server's clock minus the local one, from the tightest of three ``TIME`` calls."""
    best: tuple[float, float] | None = None
    for _ in range(3):
        before = time.time()
        seconds, micros = await execute(client, "TIME")
        after = time.time()
        sample = (after - before, int(seconds) + int(micros) / 1_000_000 - (before + after) / 2)
        best = sample if best is None or sample < best else best
    assert best is not None
    return best[1]


class RedisBackend(BridgedBackend):
    """Task queue, result storage and event storage in Redis, one key prefix per project.

    Many worker processes on many hosts share one server: every step that changes state
    (enqueue, claim, lease extension, completion, lease recovery, dependency release,
    schedule firing...) is one Lua script, run atomically by the server. Leases use the
    server's clock (``TIME``), results expire with Redis's own TTL, and pub/sub wakes idle
    workers and waiting ``get_result`` calls in other processes. Every key starts with
    ``{omniq:<project_name>}``, a Cluster hash tag (see :mod:`omniq.backends.redis.keys`).
    Durability follows the server's persistence settings, read at start
    (:attr:`durability`).

    Args:
        project_name: Names the key prefix, ``{omniq:<project_name>}``.
        url: redis-py's URL: ``redis://[[user]:password@]host[:port][/db]``, ``rediss://``
            for TLS, ``unix:///path/to/socket?db=0``.
        connect_timeout: Seconds to wait for the server before failing with a
            :class:`~omniq.exceptions.BackendError` that names it.
        command_timeout: Seconds a command may wait for its reply before its connection is
            given up (a server that stopped answering).

    Attributes:
        task_queue: The task queue.
        result_store: The result storage.
        event_store: The event storage (also the event log across tasks).
        channel: In-process wake-up key (server, database and project).
        capabilities: Events and results written by the same script as the state change;
            no ordered writes (a pool of connections); shared across processes and hosts.
        notifier: The pub/sub listener.
        clock: The server's clock (``TIME``).
        prefix: The project's key prefix.
        durability: What the server's persistence settings keep (after opening).

    Example:
        >>> backend = RedisBackend(project_name="shop", url="redis://localhost:6379/0")
        >>> backend.initialize()
        >>> backend.close()
    """

    capabilities = Capabilities(
        fused_events=True, fused_results=True, ordered_writes=False, shared=True
    )

    def __init__(
        self,
        project_name: str,
        url: str = DEFAULT_URL,
        *,
        connect_timeout: float = 5.0,
        command_timeout: float = 30.0,
    ) -> None:
        self.project_name = validate_project_name(project_name)
        self.connect_timeout = _seconds("connect_timeout", connect_timeout)
        self.command_timeout = _seconds("command_timeout", command_timeout)
        keys = Keys(self.project_name)
        self.prefix = keys.prefix
        self.url = url
        server = describe_server(url)  # also validates the URL
        self._bridge = LoopBridge(
            f"omniq-redis-{next(_instances)}",
            closed_message=f"the Redis backend for {server} ({self.prefix}) is closed",
        )
        self._conn = RedisConnection(
            self._bridge, url, keys.prefix, self.connect_timeout, self.command_timeout
        )
        self.channel = f"redis:{server}/{self.prefix}"
        self.task_queue = RedisTaskQueue(self._conn, keys)
        self.result_store = RedisResultStorage(self._conn, keys)
        self.event_store = RedisEventStorage(self._conn, keys)
        self.notifier = RedisNotifier(self._bridge, self._conn, keys.channel)
        self.clock = self
        self.durability: Durability | None = None

    async def _open(self) -> None:
        client = await self._conn.open()
        try:
            self.durability = await read_durability(client, self._conn.server)
        except BaseException:
            await self._conn.close()
            raise

    async def _close(self) -> None:
        try:
            await self.notifier.stop_here()
        finally:
            await self._conn.close()

    async def server_time(self) -> float:
        """The server's clock (``TIME``), in seconds since the epoch.

        The offset to the local clock is measured on the bridge's thread, right around the
        command (the best of three), and applied to the middle of this call: the hops
        between the caller's loop and the bridge do not skew it.
        """
        start = time.time()
        offset = await self._conn.run(_clock_offset)
        return (start + time.time()) / 2 + offset

    def store_exists(self) -> bool:
        """Whether the project has keys (see :class:`omniq.storage.StoreProbe`).

        A project exists once it stored a task, a schedule, an event or a worker: Redis
        keeps nothing for a project that never wrote.

        Raises:
            BackendError: The server cannot be reached.
        """
        return self._conn.project_exists()

    def __repr__(self) -> str:
        return f"RedisBackend(project_name={self.project_name!r}, url={mask_url(self.url)!r})"
