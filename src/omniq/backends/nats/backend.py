"""The NATS JetStream backend: tasks and results in key-value buckets, events in a stream."""

from __future__ import annotations

import itertools
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import nats.js.errors

from omniq.backends.nats.connection import DUPLICATE_WINDOW, Connection
from omniq.backends.nats.event_store import NATSEventStorage
from omniq.backends.nats.mirror import Mirror
from omniq.backends.nats.names import ProjectNames
from omniq.backends.nats.notifications import NATSNotifier
from omniq.backends.nats.options import ConnectOptions
from omniq.backends.nats.result_store import NATSResultStorage
from omniq.backends.nats.task_queue import NATSTaskQueue
from omniq.exceptions import BackendError, ConfigurationError
from omniq.storage.bridge import BridgedBackend, LoopBridge
from omniq.storage.capabilities import Capabilities
from omniq.storage.names import validate_project_name

__all__ = ["NATSBackend"]

_instances = itertools.count(1)
_NS = 1_000_000_000


def _max_age(name: str, value: object) -> int:
    """A stream ``max_age`` in nanoseconds from seconds (``None``: keep for ever)."""
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ConfigurationError(f"{name} {value!r} is not a positive number of seconds")
    return int(value * _NS)


def _rfc3339(text: str) -> float:
    """Seconds since the epoch of an RFC 3339 time with up to nanoseconds."""
    head, _, fraction = text.rstrip("Z").partition(".")
    seconds = datetime.fromisoformat(head + "+00:00").timestamp()
    return seconds + (float("0." + fraction) if fraction else 0.0)


class NATSBackend(BridgedBackend):
    """Task queue, result storage and event storage on NATS JetStream, streams per project.

    Many worker processes on many hosts share one NATS server (or cluster). Every task is
    one key of the project's key-value bucket and every change of it a compare-and-set on
    the key's revision, so a claim, a completion or a lease renewal is atomic per task.
    Each worker process follows the bucket's stream and keeps the live tasks indexed in
    claim order, so claims keep the order of the storage protocol (queues in order,
    priority, ``run_at``, enqueue order) and delays are judged by OmniQ's clock. Results
    are keys of a second bucket, events a stream with one subject per task, wake-ups a
    plain subject. Durability is JetStream's file storage (``replicas`` copies in a
    cluster). See the user guide's NATS section for what differs from SQL stores.

    Args:
        project_name: Names the project's streams (``KV_omniq_<p>``,
            ``KV_omniq_<p>_results``, ``omniq_<p>_events``).
        servers: A NATS URL or a list of them (``nats://user:pass@host:4222``).
        user: User name (with ``password``).
        password: Password.
        token: Authentication token.
        creds_file: A ``.creds`` file (JWT and NKey seed) for decentralized auth.
        nkeys_seed: An NKey seed file.
        tls: Use TLS with the system's CA bundle (also on with any ``tls_*`` file or a
            ``tls://`` URL).
        tls_ca_file: CA bundle that signed the server's certificate.
        tls_cert_file: Client certificate, for mutual TLS.
        tls_key_file: Its private key.
        tls_hostname: Name to check the server's certificate against.
        connect_timeout: Seconds to reach a server when opening before failing with a
            :class:`~omniq.exceptions.BackendError` that names it.
        request_timeout: Seconds to wait for the answer to each request.
        replicas: Copies of each stream in a JetStream cluster (1 on a single server).
        results_max_age: Seconds after which the server drops any result, whatever its
            own ``result_ttl`` (``None``: only ``result_ttl`` and ``omniq purge`` remove
            results).
        events_max_age: Seconds after which the server drops events (``None``: kept until
            their tasks are purged).

    Attributes:
        task_queue: The task queue.
        result_store: The result storage.
        event_store: The event storage (also the event log across tasks).
        channel: In-process wake-up key (servers and project).
        capabilities: Shared across processes and hosts; nothing fused (each change is
            its own message: the core writes events and results in separate steps).
        notifier: The wake-up listener.
        names: The streams, buckets and subjects of the project.

    Example:
        >>> backend = NATSBackend(project_name="shop", servers="nats://localhost:4222")
        >>> backend.initialize()
        >>> backend.close()
    """

    capabilities = Capabilities(shared=True)

    def __init__(
        self,
        project_name: str,
        servers: str | list[str] = "nats://127.0.0.1:4222",
        *,
        user: str | None = None,
        password: str | None = None,
        token: str | None = None,
        creds_file: str | Path | None = None,
        nkeys_seed: str | Path | None = None,
        tls: bool = False,
        tls_ca_file: str | Path | None = None,
        tls_cert_file: str | Path | None = None,
        tls_key_file: str | Path | None = None,
        tls_hostname: str | None = None,
        connect_timeout: float = 5.0,
        request_timeout: float = 5.0,
        replicas: int = 1,
        results_max_age: float | None = None,
        events_max_age: float | None = None,
    ) -> None:
        self.project_name = validate_project_name(project_name)
        self.options = ConnectOptions.check(
            servers, user=user, password=password, token=token, creds_file=creds_file,
            nkeys_seed=nkeys_seed, tls=tls, tls_ca_file=tls_ca_file,
            tls_cert_file=tls_cert_file, tls_key_file=tls_key_file, tls_hostname=tls_hostname,
            connect_timeout=connect_timeout, request_timeout=request_timeout,
        )  # fmt: skip
        if isinstance(replicas, bool) or not isinstance(replicas, int) or not 1 <= replicas <= 5:
            raise ConfigurationError(f"replicas {replicas!r} is not a whole number from 1 to 5")
        self.replicas = replicas
        self._results_max_age = _max_age("results_max_age", results_max_age)
        self._events_max_age = _max_age("events_max_age", events_max_age)
        self.names = ProjectNames.of(project_name)
        server = self.options.describe()
        self.channel = f"nats:{server}/{self.names.token}"
        self._bridge = LoopBridge(
            f"omniq-nats-{next(_instances)}",
            closed_message=f"the NATS backend for {server} ({self.project_name}) is closed",
        )
        self._conn = Connection(self._bridge, self.options)
        self._mirror = Mirror(self._conn, self.names)
        self.task_queue = NATSTaskQueue(self._conn, self.names, self._mirror)
        self.result_store = NATSResultStorage(self._conn, self.names)
        self.event_store = NATSEventStorage(self._conn, self.names)
        self.notifier = NATSNotifier(self._bridge, self._conn, self.names.wake_subject)
        self.clock = self

    def _stream_configs(self) -> list[dict[str, Any]]:
        names = self.names

        def bucket(stream: str, subject: str, max_age: int) -> dict[str, Any]:
            return {
                "name": stream, "subjects": [subject], "retention": "limits",
                "max_msgs_per_subject": 1, "discard": "new", "storage": "file",
                "num_replicas": self.replicas, "allow_rollup_hdrs": True, "deny_delete": True,
                "deny_purge": False, "allow_direct": False, "max_age": max_age,
                "duplicate_window": int(DUPLICATE_WINDOW * _NS),
            }  # fmt: skip

        return [
            bucket(names.state_stream, names.state_filter(), 0),
            bucket(names.results_stream, names.results_filter, self._results_max_age),
            {
                "name": names.events_stream, "subjects": [names.events_filter],
                "retention": "limits", "discard": "old", "storage": "file",
                "num_replicas": self.replicas, "max_age": self._events_max_age,
                "duplicate_window": int(DUPLICATE_WINDOW * _NS),
            },
        ]  # fmt: skip

    async def _open(self) -> None:
        await self._conn.open()
        try:
            for config in self._stream_configs():
                await self._conn.guard(lambda c=config: self._conn.ensure_stream(c))  # type: ignore[misc]
        except BaseException:
            await self._conn.close()
            raise

    async def _close(self) -> None:
        try:
            await self.notifier.stop_here()
            await self._mirror.stop()
        finally:
            await self._conn.close()

    async def server_time(self) -> float:
        """The server's clock now, in seconds since the epoch.

        The server stamps every message it stores: a probe is published, its stamp read
        back, and the local time elapsed since the middle of the publish's round trip added,
        so the second round trip (and the hops between threads) do not skew the reading.
        """

        async def probe() -> float:
            before = time.time()
            seq = await self._conn.publish(self.names.clock_subject, b"")
            stamped_at = (before + time.time()) / 2
            found = await self._conn.by_seq(self.names.state_stream, seq)
            if found is None or not found.time:
                raise BackendError(f"NATS at {self._conn.server} did not report its time")
            return _rfc3339(found.time) + (time.time() - stamped_at)

        return await self._conn.run(probe)

    def store_exists(self) -> bool:
        """Whether the project's task stream exists (see :class:`omniq.storage.StoreProbe`).

        Asked on a connection of its own, on a bridge of its own (blocking).

        Raises:
            BackendError: No server answered, or the credentials were refused.
        """
        bridge = LoopBridge("omniq-nats-probe", closed_message="the NATS probe is closed")
        stream = self.names.state_stream

        async def probe() -> bool:
            conn = Connection(bridge, self.options)
            await conn.open()
            try:
                await conn.api(f"STREAM.INFO.{stream}")
            except nats.js.errors.NotFoundError:
                return False
            finally:
                await conn.close()
            return True

        bridge.start()
        try:
            return bridge.call(probe)
        finally:
            bridge.stop()

    def __repr__(self) -> str:
        return (
            f"NATSBackend(project_name={self.project_name!r}, "
            f"servers={self.options.masked_servers()!r})"
        )
