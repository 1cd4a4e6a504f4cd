"""The backend's connection pool, driven from its bridge thread; DSNs shown without passwords.

Every verb is a coroutine ``work(conn)`` handed to :meth:`Database.run`: it runs on the
:class:`~omniq.storage.bridge.LoopBridge` loop that owns the psycopg pool, with a pooled
connection in autocommit mode (a single statement is its own transaction; verbs of several
statements open one). A connection that breaks (the server restarted, the network dropped)
is thrown away by the pool and the verb is tried once more on a fresh one; a second failure
becomes a :class:`~omniq.exceptions.BackendError` that names the server, never the password.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import psycopg
from psycopg import AsyncConnection, Connection
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import AsyncConnectionPool, ConnectionPool, PoolTimeout

from omniq.exceptions import BackendError, StoreUnavailableError
from omniq.models.config import mask_secrets
from omniq.storage.bridge import LoopBridge

__all__ = ["Database", "describe_server", "mask_dsn"]

T = TypeVar("T")

_log = logging.getLogger("omniq.backends.postgres")


def mask_dsn(dsn: str | None) -> str:
    """``dsn`` with any password replaced by ``***`` (URL or ``key=value`` form)."""
    if not dsn:
        return "(libpq's environment)"
    masked: str = mask_secrets(dsn)
    return masked


def describe_server(dsn: str | None) -> str:
    """``host:port/dbname`` that ``dsn`` (or libpq's environment) points at, for messages."""
    try:
        params = conninfo_to_dict(dsn or "")
    except psycopg.ProgrammingError:
        return mask_dsn(dsn)
    host = str(params.get("host") or os.environ.get("PGHOST") or "localhost")
    port = str(params.get("port") or os.environ.get("PGPORT") or "5432")
    dbname = str(params.get("dbname") or os.environ.get("PGDATABASE") or "")
    return f"{host}:{port}/{dbname}" if dbname else f"{host}:{port}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


class Database:
    """A psycopg pool owned by a bridge loop, and the retry rule for broken connections.

    Args:
        bridge: The backend's bridge (the pool lives on its loop).
        dsn: libpq connection string or URL; ``None`` uses libpq's environment.
        pool_size: Most connections held open.
        connect_timeout: Seconds to wait for a connection before failing.
    """

    def __init__(
        self, bridge: LoopBridge, dsn: str | None, pool_size: int, connect_timeout: float
    ) -> None:
        self._bridge = bridge
        self.dsn = dsn
        self.server = describe_server(dsn)
        self._pool_size = pool_size
        self.connect_timeout = connect_timeout
        self._pool: AsyncConnectionPool[AsyncConnection[Any]] | None = None
        self._sync_pool: ConnectionPool[Connection[Any]] | None = None
        self._sync_lock = threading.Lock()

    def conninfo(self) -> str:
        """The connection string with OmniQ's connect timeout added (unless it has one)."""
        params = conninfo_to_dict(self.dsn or "")
        params.setdefault("connect_timeout", max(1, round(self.connect_timeout)))
        params.setdefault("application_name", "omniq")
        return make_conninfo("", **params)

    async def open(self) -> None:
        """Open the pool and wait for its first connection (on the bridge's loop).

        Raises:
            BackendError: The server cannot be reached in ``connect_timeout`` seconds, or
                refuses the connection; the message names it (password masked).
        """
        try:
            conninfo = self.conninfo()
        except psycopg.ProgrammingError as exc:
            raise BackendError(f"dsn {mask_dsn(self.dsn)!r} is not valid: {exc}") from None
        # One connection by hand first: a refused or unknown server fails here at once,
        # with libpq's own reason, instead of the pool retrying (and logging) until timeout.
        try:
            first = await AsyncConnection.connect(conninfo)
        except psycopg.Error as exc:
            raise StoreUnavailableError(
                f"cannot connect to PostgreSQL at {self.server} (dsn {mask_dsn(self.dsn)!r}): "
                f"{mask_dsn(_first_line(exc))}"
            ) from exc
        await first.close()
        pool: AsyncConnectionPool[AsyncConnection[Any]] = AsyncConnectionPool(
            conninfo,
            min_size=1,
            max_size=self._pool_size,
            kwargs={"autocommit": True},
            timeout=self.connect_timeout,
            open=False,
            name="omniq",
        )
        try:
            await pool.open(wait=True, timeout=self.connect_timeout)
        except (PoolTimeout, psycopg.Error) as exc:
            await pool.close(timeout=0)
            raise StoreUnavailableError(
                f"cannot connect to PostgreSQL at {self.server} (dsn {mask_dsn(self.dsn)!r}) "
                f"within {self.connect_timeout:g}s: the pool got no connection in time"
            ) from exc
        self._pool = pool

    def schema_exists(self, schema: str) -> bool:
        """Whether ``schema`` exists, asked on a connection of its own (blocking).

        Raises:
            BackendError: The DSN is not valid, or the server cannot be reached.
        """
        try:
            conninfo = self.conninfo()
        except psycopg.ProgrammingError as exc:
            raise BackendError(f"dsn {mask_dsn(self.dsn)!r} is not valid: {exc}") from None
        try:
            with psycopg.connect(conninfo, autocommit=True) as conn:
                found = conn.execute(
                    "SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)
                ).fetchone()
        except psycopg.Error as exc:
            raise StoreUnavailableError(
                f"cannot connect to PostgreSQL at {self.server} (dsn {mask_dsn(self.dsn)!r}): "
                f"{mask_dsn(_first_line(exc))}"
            ) from exc
        return found is not None

    async def close(self) -> None:
        """Close the pools (on the bridge's loop)."""
        with self._sync_lock:
            sync_pool, self._sync_pool = self._sync_pool, None
        if sync_pool is not None:
            await asyncio.to_thread(sync_pool.close, 5.0)
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close(timeout=5.0)

    async def run(self, work: Callable[[AsyncConnection[Any]], Awaitable[T]]) -> T:
        """Run ``work`` with a pooled connection on the bridge's loop; await it from any loop.

        Raises:
            BackendError: The backend is closed, the server cannot be reached, or the
                statement failed (the driver's error is chained).
        """
        return await self._bridge.run(lambda: self.attempt(work))

    def call(self, work: Callable[[AsyncConnection[Any]], Awaitable[T]]) -> T:
        """Blocking twin of :meth:`run`, for threads without a running loop."""
        return self._bridge.call(lambda: self.attempt(work))

    def run_here(self, work: Callable[[Connection[Any]], T]) -> T:
        """Run ``work`` with a sync connection in the caller's thread (no hop, no loop).

        For the sync ``enqueue`` of a web request handler: a pool of sync connections,
        opened on first use, serves it directly. The same retry and error rules as
        :meth:`attempt` apply.
        """
        pool = self._sync()
        for retry in (False, True):
            try:
                with pool.connection() as conn:
                    return work(conn)
            except PoolTimeout as exc:
                raise StoreUnavailableError(
                    f"no connection to PostgreSQL at {self.server} within {self.connect_timeout:g}s"
                ) from exc
            except psycopg.OperationalError as exc:
                if not retry and _connection_lost(exc):
                    continue
                raise self.error(exc) from exc
            except psycopg.Error as exc:
                raise self.error(exc) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _sync(self) -> ConnectionPool[Connection[Any]]:
        with self._sync_lock:
            if self._pool is None:
                raise BackendError(f"the PostgreSQL backend for {self.server} is closed")
            if self._sync_pool is None:
                self._sync_pool = ConnectionPool(
                    self.conninfo(), min_size=1, max_size=self._pool_size,
                    kwargs={"autocommit": True}, timeout=self.connect_timeout,
                    open=True, name="omniq-sync",
                )  # fmt: skip
            return self._sync_pool

    async def attempt(self, work: Callable[[AsyncConnection[Any]], Awaitable[T]]) -> T:
        """Run ``work`` on the bridge's loop, once more on a fresh connection if one broke."""
        pool = self._pool
        if pool is None:
            raise BackendError(f"the PostgreSQL backend for {self.server} is closed")
        for retry in (False, True):
            try:
                async with pool.connection() as conn:
                    return await work(conn)
            except PoolTimeout as exc:
                raise StoreUnavailableError(
                    f"no connection to PostgreSQL at {self.server} within "
                    f"{self.connect_timeout:g}s (the server is down or unreachable, or all "
                    f"{self._pool_size} connections are busy)"
                ) from exc
            except psycopg.OperationalError as exc:
                if not retry and _connection_lost(exc):
                    _log.warning("PostgreSQL connection to %s lost (%s): retrying once",
                                 self.server, _first_line(exc))  # fmt: skip
                    continue
                raise self.error(exc) from exc
            except psycopg.Error as exc:
                raise self.error(exc) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def error(self, exc: psycopg.Error) -> BackendError:
        """The OmniQ error for a driver error (to be raised ``from exc``)."""
        if isinstance(exc, psycopg.OperationalError):
            return StoreUnavailableError(
                f"lost the connection to PostgreSQL at {self.server}: {_first_line(exc)}"
            )
        return BackendError(f"PostgreSQL error on {self.server}: {_first_line(exc)}")


def _connection_lost(exc: psycopg.OperationalError) -> bool:
    """Whether the connection itself failed (not a statement): worth one retry."""
    sqlstate = getattr(exc, "sqlstate", None)
    return sqlstate is None or sqlstate.startswith(("08", "57P"))
