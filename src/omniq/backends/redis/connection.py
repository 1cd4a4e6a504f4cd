"""The backend's Redis client, driven from its bridge thread; URLs shown without passwords.

Every verb is one script call (or one read command) handed to :meth:`RedisConnection.run`:
it runs on the :class:`~omniq.storage.bridge.LoopBridge` loop that owns the
``redis.asyncio`` client and its connection pool. A connection the server or the network
dropped while idle is replaced by the pool before the next command; a command whose
connection breaks while it is in flight fails with a
:class:`~omniq.exceptions.BackendError` (it is never sent twice: it may have run). Errors
name the server, never the password.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import redis as sync_redis
from redis import exceptions as redis_errors
from redis.asyncio import Redis
from redis.asyncio.connection import parse_url
from redis.commands.core import AsyncScript, Script

from omniq.backends.redis.codec import Arg
from omniq.backends.redis.scripts import SCRIPT_NAMES, script_source
from omniq.exceptions import BackendError, ConfigurationError
from omniq.storage.bridge import LoopBridge

__all__ = ["RedisConnection", "describe_server", "execute", "mask_url"]

T = TypeVar("T")

_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*):[^@/\s]*@")
_QUERY_PASSWORD = re.compile(r"(?P<head>[?&]password=)[^&\s]*", re.IGNORECASE)
_SCRIPT_ERROR = re.compile(r"OMNIQ (?P<message>.*?)(?: script: \w+, on @user_script:\d+\.)?$")


def mask_url(url: str) -> str:
    """``url`` with any password replaced by ``***``."""
    return _QUERY_PASSWORD.sub(r"\g<head>***", _URL_PASSWORD.sub(r"\g<head>:***@", url))


def connect_kwargs(url: object) -> dict[str, Any]:
    """redis-py's connection options for ``url``.

    Raises:
        ConfigurationError: ``url`` is not a ``redis://``, ``rediss://`` or ``unix://`` URL.
    """
    if not isinstance(url, str):
        raise ConfigurationError(
            f"url {url!r} is not a Redis URL (redis://[[user]:password@]host[:port][/db])"
        )
    try:
        return dict(parse_url(url))
    except (ValueError, TypeError) as exc:
        raise ConfigurationError(f"url {mask_url(url)!r} is not a valid Redis URL: {exc}") from None


def describe_server(url: str) -> str:
    """``host:port/db`` (or the socket path) that ``url`` points at, for messages."""
    kwargs = connect_kwargs(url)
    db = kwargs.get("db", 0)
    if "path" in kwargs:
        return f"{kwargs['path']}/{db}"
    return f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}/{db}"


async def execute(client: Redis, *args: Arg) -> Any:
    """``client.execute_command(*args)``, typed (redis-py leaves it untyped)."""
    return await client.execute_command(*args)  # type: ignore[no-untyped-call]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return mask_url(text[0]) if text else type(exc).__name__


class RedisConnection:
    """A ``redis.asyncio`` client owned by a bridge loop, with OmniQ's scripts registered.

    Args:
        bridge: The backend's bridge (the client lives on its loop).
        url: redis-py's URL (``redis://``, ``rediss://`` for TLS, ``unix://``).
        prefix: The project's key prefix, passed to every script as its key.
        connect_timeout: Seconds to wait for the server before failing.
        command_timeout: Seconds a command may take before its connection is given up.
    """

    def __init__(
        self,
        bridge: LoopBridge,
        url: str,
        prefix: str,
        connect_timeout: float,
        command_timeout: float,
    ) -> None:
        self._bridge = bridge
        self.url = url
        self.kwargs = connect_kwargs(url)
        self.server = describe_server(url)
        self.prefix = prefix
        self.connect_timeout = connect_timeout
        self.command_timeout = command_timeout
        self._client: Redis | None = None
        self._scripts: dict[str, AsyncScript] = {}
        # Blocking callers (the sync enqueue) use a thread-safe sync client of their own:
        # one round trip from the caller's thread, no hop to the bridge and back.
        self._sync: sync_redis.Redis | None = None
        self._sync_scripts: dict[str, Script] = {}

    def new_client(self, **overrides: Any) -> Redis:
        """A new client for this URL with OmniQ's timeouts (on the bridge's loop)."""
        options: dict[str, Any] = {
            "socket_connect_timeout": self.connect_timeout,
            "socket_timeout": self.command_timeout,
            "client_name": "omniq",
            **overrides,
        }
        client: Redis = Redis.from_url(self.url, **options)
        return client

    async def open(self) -> Redis:
        """Connect and check the server answers (on the bridge's loop).

        Raises:
            BackendError: The server cannot be reached in ``connect_timeout`` seconds,
                refuses the connection or the credentials; the message names it (password
                masked).
        """
        client = self.new_client()
        try:
            async with asyncio.timeout(self.connect_timeout):
                await client.ping()
        except (redis_errors.RedisError, OSError, TimeoutError) as exc:
            await client.aclose()
            raise BackendError(
                f"cannot connect to Redis at {self.server} (url {mask_url(self.url)!r}) "
                f"within {self.connect_timeout:g}s: {_reason(exc)}"
            ) from None
        self._scripts = {name: client.register_script(script_source(name))
                         for name in SCRIPT_NAMES}  # fmt: skip
        sync_client = sync_redis.Redis.from_url(
            self.url, socket_connect_timeout=self.connect_timeout,
            socket_timeout=self.command_timeout, client_name="omniq",
        )  # fmt: skip
        self._sync_scripts = {"enqueue": sync_client.register_script(script_source("enqueue"))}
        self._sync = sync_client
        self._client = client
        return client

    def project_exists(self) -> bool:
        """Whether any of the project's index keys exists, on a client of its own (blocking).

        Raises:
            BackendError: The server cannot be reached or refuses the credentials.
        """
        names = [f"{self.prefix}:{name}" for name in ("all", "sall", "log", "workers")]
        client = sync_redis.Redis.from_url(
            self.url, socket_connect_timeout=self.connect_timeout,
            socket_timeout=self.command_timeout, client_name="omniq",
        )  # fmt: skip
        try:
            return bool(client.exists(*names))
        except (redis_errors.RedisError, OSError) as exc:
            raise BackendError(
                f"cannot connect to Redis at {self.server} (url {mask_url(self.url)!r}): "
                f"{_reason(exc)}"
            ) from None
        finally:
            client.close()

    async def close(self) -> None:
        """Close the clients and their pools (on the bridge's loop)."""
        client, self._client = self._client, None
        sync_client, self._sync = self._sync, None
        if sync_client is not None:
            sync_client.close()
        if client is not None:
            await client.aclose()

    @property
    def client(self) -> Redis:
        """The open client (on the bridge's loop).

        Raises:
            BackendError: The backend is closed.
        """
        if self._client is None:
            raise BackendError(f"the Redis backend for {self.server} is closed")
        return self._client

    async def run(self, work: Callable[[Redis], Awaitable[T]]) -> T:
        """Run ``work(client)`` on the bridge's loop; await it from any loop.

        Raises:
            BackendError: The backend is closed, the server cannot be reached, or the
                command failed (the driver's error is chained).
        """
        return await self._bridge.run(lambda: self.attempt(work))

    def call(self, work: Callable[[Redis], Awaitable[T]]) -> T:
        """Blocking twin of :meth:`run`, for threads without a running loop."""
        return self._bridge.call(lambda: self.attempt(work))

    async def command(self, *args: Arg) -> Any:
        """Run one command (with redis-py's reply parsing), from any loop."""
        return await self.run(lambda client: execute(client, *args))

    async def script(self, name: str, args: Sequence[Arg]) -> Any:
        """Run script ``name`` with the project's prefix as its key, from any loop."""
        return await self.run(lambda client: self.script_here(name, args))

    def script_blocking(self, name: str, args: Sequence[Arg]) -> Any:
        """Blocking twin of :meth:`script`, on the caller's thread with the sync client."""
        sync_client = self._sync
        if sync_client is None:
            raise BackendError(f"the Redis backend for {self.server} is closed")
        try:
            return self._sync_scripts[name](keys=[self.prefix], args=args)
        except redis_errors.RedisError as exc:
            raise self.error(exc) from exc

    async def script_here(self, name: str, args: Sequence[Arg]) -> Any:
        """Run script ``name`` on the bridge's loop (inside :meth:`run` or :meth:`attempt`)."""
        return await self._scripts[name](keys=[self.prefix], args=args)

    async def attempt(self, work: Callable[[Redis], Awaitable[T]]) -> T:
        """Run ``work`` on the bridge's loop, translating the driver's errors."""
        client = self.client
        try:
            return await work(client)
        except (redis_errors.RedisError, OSError) as exc:
            raise self.error(exc) from exc

    def error(self, exc: BaseException) -> BackendError:
        """The OmniQ error for a driver error (to be raised ``from exc``)."""
        if isinstance(exc, redis_errors.ResponseError):
            found = _SCRIPT_ERROR.search(str(exc))
            if found is not None:
                return BackendError(found.group("message"))
            return BackendError(f"Redis error on {self.server}: {_first_line(exc)}")
        if isinstance(exc, redis_errors.ConnectionError | redis_errors.TimeoutError | OSError):
            return BackendError(f"lost the connection to Redis at {self.server}: {_reason(exc)}")
        return BackendError(f"Redis error on {self.server}: {_first_line(exc)}")


def _reason(exc: BaseException) -> str:
    """Why a connection failed, in a few words."""
    if isinstance(exc, redis_errors.AuthenticationError | redis_errors.AuthorizationError):
        return f"authentication failed ({_first_line(exc)})"
    if isinstance(exc, redis_errors.ResponseError) and "NOAUTH" in str(exc):
        return "the server requires a password (none in the URL)"
    if isinstance(exc, TimeoutError | redis_errors.TimeoutError):
        return "no answer in time"
    return _first_line(exc)
