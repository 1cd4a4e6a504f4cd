"""The PostgreSQL backend: task queue, results and events in one schema per project."""

from __future__ import annotations

import itertools
from typing import Any

from omniq.backends.postgres.connection import Database, describe_server, mask_dsn
from omniq.backends.postgres.event_store import PostgresEventStorage
from omniq.backends.postgres.notifications import PostgresNotifier
from omniq.backends.postgres.queries import Queries
from omniq.backends.postgres.result_store import PostgresResultStorage
from omniq.backends.postgres.schema import ensure_schema, schema_name
from omniq.backends.postgres.task_queue import PostgresTaskQueue
from omniq.exceptions import ConfigurationError
from omniq.storage.bridge import BridgedBackend, LoopBridge
from omniq.storage.capabilities import Capabilities
from omniq.storage.names import validate_project_name

__all__ = ["PostgresBackend"]

_instances = itertools.count(1)


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


class PostgresBackend(BridgedBackend):
    """Task queue, result storage and event storage in PostgreSQL, one schema per project.

    Many worker processes on many hosts share one database: claims take rows with
    ``FOR UPDATE SKIP LOCKED``, leases use the server's clock, and LISTEN/NOTIFY wakes idle
    workers and waiting ``get_result`` calls in other processes. Durability follows the
    server's ``synchronous_commit``.

    Args:
        project_name: Names the schema, ``omniq_<project_name>``.
        dsn: A libpq connection string or URL (``postgresql://user:pass@host:5432/db``).
            ``None`` uses libpq's environment (``PGHOST``, ``PGUSER``, ``PGDATABASE``...),
            as every PostgreSQL tool does.
        schema: Use this schema instead of ``omniq_<project_name>``.
        pool_size: Most connections the pool opens (one more is held for LISTEN).
        connect_timeout: Seconds to wait for the server before failing with a
            :class:`~omniq.exceptions.BackendError` that names it.

    Attributes:
        task_queue: The task queue.
        result_store: The result storage.
        event_store: The event storage (also the event log across tasks).
        channel: In-process wake-up key (server and schema).
        capabilities: Events and results fused with the state changes (one statement or
            transaction); no ordered writes (a pool); shared across processes and hosts.
        notifier: The LISTEN/NOTIFY listener.
        schema: The project's schema.

    Example:
        >>> backend = PostgresBackend(project_name="shop", dsn="postgresql://localhost/test")
        >>> backend.initialize()
        >>> backend.close()
    """

    capabilities = Capabilities(
        fused_events=True, fused_results=True, ordered_writes=False, shared=True
    )

    def __init__(
        self,
        project_name: str,
        dsn: str | None = None,
        *,
        schema: str | None = None,
        pool_size: int = 10,
        connect_timeout: float = 5.0,
    ) -> None:
        self.project_name = validate_project_name(project_name)
        if dsn is not None and not isinstance(dsn, str):
            raise ConfigurationError(f"dsn {dsn!r} is not a connection string or URL")
        if isinstance(pool_size, bool) or not isinstance(pool_size, int) or pool_size < 1:
            raise ConfigurationError(f"pool_size {pool_size!r} is not a positive integer")
        if (
            isinstance(connect_timeout, bool)
            or not isinstance(connect_timeout, int | float)
            or connect_timeout <= 0
        ):
            raise ConfigurationError(
                f"connect_timeout {connect_timeout!r} is not a positive number of seconds"
            )
        self.dsn = dsn
        self.schema = schema_name(project_name, schema)
        self.pool_size = pool_size
        self.connect_timeout = float(connect_timeout)
        server = describe_server(dsn)
        self.channel = f"postgres:{server}/{self.schema}"
        self._bridge = LoopBridge(
            f"omniq-postgres-{next(_instances)}",
            closed_message=f"the PostgreSQL backend for {server} ({self.schema}) is closed",
        )
        self._db = Database(self._bridge, dsn, pool_size, self.connect_timeout)
        queries = Queries(_quote(self.schema))
        self._queries = queries
        self.task_queue = PostgresTaskQueue(self._db, queries, self.schema)
        self.result_store = PostgresResultStorage(self._db, queries)
        self.event_store = PostgresEventStorage(self._db, queries)
        self.notifier = PostgresNotifier(
            self._bridge, self._db.conninfo, self.schema, server,
            on_tasks=self.task_queue.tasks_announced,
        )  # fmt: skip
        self.clock = self

    async def _open(self) -> None:
        await self._db.open()
        try:
            await self._db.attempt(lambda conn: ensure_schema(conn, self.schema))
        except BaseException:
            await self._db.close()
            raise

    async def _close(self) -> None:
        try:
            await self.notifier.stop_here()
        finally:
            await self._db.close()

    async def server_time(self) -> float:
        """The server's clock (``clock_timestamp()``), in seconds since the epoch."""

        async def read(conn: Any) -> float:
            cursor = await conn.execute(self._queries.server_time)
            row = await cursor.fetchone()
            return float(row[0])

        return await self._db.run(read)

    def store_exists(self) -> bool:
        """Whether the project's schema exists (see :class:`omniq.storage.StoreProbe`).

        Raises:
            BackendError: The server cannot be reached.
        """
        return self._db.schema_exists(self.schema)

    def __repr__(self) -> str:
        return (
            f"PostgresBackend(project_name={self.project_name!r}, "
            f"dsn={mask_dsn(self.dsn)!r}, schema={self.schema!r})"
        )
