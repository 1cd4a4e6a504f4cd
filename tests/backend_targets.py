"""Every backend the test suites run against, each one registry entry.

A new backend joins the contract suite and the API suite by adding one :class:`Target` to
:data:`TARGETS`: how to build it (and a second handle on the same store, for cross-process
tests), the options ``OmniQ(backend_type=...)`` takes, how to remove what a test created,
its capabilities and the service it needs.

Server backends need their server: when it is down, their tests are skipped with the
reason, unless ``OMNIQ_REQUIRE_SERVICES=1`` (set by ``.ci/run``), which fails them instead.
"""

from __future__ import annotations

import contextlib
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from omniq.backends import create_backend
from omniq.backends.memory import MemoryBackend
from omniq.backends.mixed import MixedBackend
from omniq.storage.capabilities import Capabilities
from omniq.storage.interfaces import Backend

#: Fails the tests of a server backend whose server is down, instead of skipping them.
REQUIRE_SERVICES = os.environ.get("OMNIQ_REQUIRE_SERVICES") == "1"

#: Runs the whole contract and API suites on S3 too (a moto server): ~7 min for the contract
#: suite alone, so it is opted into; tests/integration/test_file_s3.py always runs.
TEST_S3 = os.environ.get("OMNIQ_TEST_S3") == "1"

#: The PostgreSQL the tests use (trust auth on this machine; CI's .ci/run starts it).
POSTGRES_DSN = os.environ.get(
    "OMNIQ_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test"
)

#: The Redis the tests use (a shared server: tests delete only their own keys, by prefix).
REDIS_URL = os.environ.get("OMNIQ_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@dataclass(frozen=True)
class Service:
    """A server a backend needs, probed with a TCP connection."""

    name: str
    host: str
    port: int

    def reachable(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=2.0):
                return True
        except OSError:
            return False

    def require(self) -> None:
        """Skip the calling test (fail it under ``OMNIQ_REQUIRE_SERVICES=1``) if down."""
        if self.reachable():
            return
        reason = f"{self.name} is not reachable at {self.host}:{self.port}"
        if REQUIRE_SERVICES:
            pytest.fail(f"{reason} and OMNIQ_REQUIRE_SERVICES=1", pytrace=False)
        pytest.skip(reason)


@dataclass(frozen=True)
class Target:
    """One backend setup the suites run against.

    Attributes:
        name: The test id (``memory``, ``sqlite``, ``split-memory``...).
        capabilities: What it declares; capability-marked tests run only where it holds.
        options: ``(project, tmp_path) -> options`` for ``OmniQ(backend_type=...)`` and
            ``create_backend``; ``None`` when it is built by ``build`` only.
        backend_type: The ``backend_type`` name, or ``None`` for a composed setup.
        build: ``(project, tmp_path) -> Backend``, not initialized.
        shares_instances: A second handle on the store is the same instance (memory).
        service: The server it needs, if any.
        cleanup: ``(project) -> None``: remove everything the project left on the server.
        leftovers: ``(token) -> names``: what exists on the server for projects whose
            name contains ``token`` (the no-leftovers checks).
        traits: More selectable names beside the capabilities: ``notifies`` (other
            processes' enqueues, results and cancellations wake this one at once),
            ``transactional`` (``enqueue(connection=...)`` in the application's
            transaction).
    """

    name: str
    capabilities: Capabilities
    options: Callable[[str, Path], dict[str, Any]] | None = None
    backend_type: str | None = None
    build: Callable[[str, Path], Backend] | None = None
    shares_instances: bool = False
    service: Service | None = None
    cleanup: Callable[[str], None] | None = None
    leftovers: Callable[[str], list[str]] | None = None
    traits: frozenset[str] = field(default=frozenset())

    def names(self) -> frozenset[str]:
        """What tests can select it by: its capabilities and traits."""
        return self.capabilities.names() | self.traits

    def make(self, project: str, tmp_path: Path) -> Backend:
        """A new, not initialized backend of this setup for ``project``."""
        if self.build is not None:
            return self.build(project, tmp_path)
        assert self.backend_type is not None
        assert self.options is not None
        return create_backend(self.backend_type, project, **self.options(project, tmp_path))

    def omniq_options(self, project: str, tmp_path: Path) -> dict[str, Any]:
        """Keyword arguments of ``OmniQ(project_name=project, ...)`` on this setup."""
        if self.backend_type is None or self.options is None:
            return {"backend": self.make(project, tmp_path)}
        return {"backend_type": self.backend_type, **self.options(project, tmp_path)}

    def check_service(self) -> None:
        """Skip or fail the calling test if the server is down (see :class:`Service`)."""
        if self.service is not None:
            self.service.require()

    def remove(self, project: str) -> None:
        """Remove what ``project`` left on the server (nothing for embedded backends)."""
        if self.cleanup is not None:
            self.cleanup(project)


#: In every project name this test session makes: what it leaves behind can be found.
SESSION = uuid.uuid4().hex[:8]


def new_project(prefix: str) -> str:
    """A project name no other test (or test run) uses, marked with :data:`SESSION`."""
    return f"{prefix}_{SESSION}{uuid.uuid4().hex[:8]}"


def _postgres_service() -> Service:
    from psycopg.conninfo import conninfo_to_dict

    params = conninfo_to_dict(POSTGRES_DSN)
    return Service(
        "PostgreSQL", str(params.get("host", "127.0.0.1")), int(params.get("port", 5432))
    )


def _postgres_sql(statement: str, *params: object) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(POSTGRES_DSN, autocommit=True, connect_timeout=5) as conn:
        cursor = conn.execute(statement, params or None)
        return cursor.fetchall() if cursor.description is not None else []


def _postgres_cleanup(project: str) -> None:
    import psycopg
    from psycopg import sql

    from omniq.backends.postgres.schema import schema_name

    with psycopg.connect(POSTGRES_DSN, autocommit=True, connect_timeout=5) as conn:
        conn.execute(
            sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema_name(project)))
        )


def _postgres_leftovers(token: str) -> list[str]:
    rows = _postgres_sql(
        "SELECT nspname FROM pg_namespace WHERE starts_with(nspname, 'omniq_') "
        "AND strpos(nspname, %s) > 0",
        token,
    )
    return [row[0] for row in rows]


def _redis_service() -> Service:
    from redis.connection import parse_url

    params = parse_url(REDIS_URL)
    return Service("Redis", str(params.get("host", "127.0.0.1")), int(params.get("port", 6379)))


def _redis_keys(pattern: str) -> list[bytes]:
    import redis

    with redis.Redis.from_url(REDIS_URL, socket_connect_timeout=5) as client:
        return list(client.scan_iter(match=pattern, count=1000))


def _redis_cleanup(project: str) -> None:
    """Delete the project's keys (SCAN by its prefix; never FLUSHDB on a shared server)."""
    import redis

    from omniq.backends.redis.keys import project_prefix

    with redis.Redis.from_url(REDIS_URL, socket_connect_timeout=5) as client:
        batch: list[bytes] = []
        for key in client.scan_iter(match=f"{project_prefix(project)}:*", count=1000):
            batch.append(key)
            if len(batch) >= 500:
                client.unlink(*batch)
                batch.clear()
        if batch:
            client.unlink(*batch)


def _redis_leftovers(prefix: str) -> list[str]:
    keys = _redis_keys("{omniq:" + prefix + "*")
    projects = {key.decode().split("}", 1)[0] + "}" for key in keys}
    return sorted(projects)


#: The NATS server the tests use (JetStream on; CI's .ci/run starts it).
NATS_URL = os.environ.get("OMNIQ_TEST_NATS_URL", "nats://127.0.0.1:4222")


def _nats_service() -> Service:
    from urllib.parse import urlsplit

    parts = urlsplit(NATS_URL)
    return Service("NATS", parts.hostname or "127.0.0.1", parts.port or 4222)


def _nats_run(work: Callable[[Any], Any]) -> Any:
    """Run ``await work(js)`` on a client of its own, in a thread of its own.

    The fixtures that clean up run inside the tests' event loops, where ``asyncio.run``
    cannot be called.
    """
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    import nats

    async def run() -> Any:
        nc = await nats.connect(NATS_URL, connect_timeout=5, max_reconnect_attempts=1)
        try:
            return await work(nc.jetstream())
        finally:
            await nc.close()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, run()).result()


def _nats_streams(match: Callable[[str], bool]) -> list[str]:

    async def names(js: Any) -> list[str]:
        return [info.config.name for info in await js.streams_info() if match(info.config.name)]

    found: list[str] = _nats_run(names)
    return found


def _nats_cleanup(project: str) -> None:
    import nats.js.errors

    from omniq.backends.nats.names import ProjectNames

    names = ProjectNames.of(project)

    async def delete(js: Any) -> None:
        for stream in names.streams:
            with contextlib.suppress(nats.js.errors.NotFoundError):
                await js.delete_stream(stream)

    _nats_run(delete)


def _nats_leftovers(prefix: str) -> list[str]:
    from omniq.backends.nats.names import escape_project

    token = escape_project(prefix)
    return _nats_streams(lambda name: name.startswith((f"KV_omniq_{token}", f"omniq_{token}")))


def _memory_files(project: str) -> None:
    """Remove what a project left in fsspec's (process-global) memory filesystem."""
    import fsspec

    fs = fsspec.filesystem("memory")
    root = f"/omniq-tests/{project}"
    if fs.exists(root):
        fs.rm(root, recursive=True)


def _memory_leftovers(prefix: str) -> list[str]:
    import fsspec

    fs = fsspec.filesystem("memory")
    if not fs.exists("/omniq-tests"):
        return []
    return [name for name in fs.ls("/omniq-tests", detail=False)
            if name.rsplit("/", 1)[-1].startswith(prefix)]  # fmt: skip


_moto: dict[str, Any] = {}
#: The bucket the S3 target's projects live in (on a moto server started by the tests).
S3_BUCKET = "omniq-tests"


def moto_endpoint() -> str:
    """Start (once per process) an S3-compatible moto server on a loopback port; its URL."""
    if "url" not in _moto:
        import boto3
        from moto.server import ThreadedMotoServer

        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        url = f"http://{host}:{port}"
        boto3.client(
            "s3", endpoint_url=url, aws_access_key_id="testing",
            aws_secret_access_key="testing", region_name="us-east-1",
        ).create_bucket(Bucket=S3_BUCKET)  # fmt: skip
        _moto.update(server=server, url=url)
    return str(_moto["url"])


def s3_options(endpoint: str | None = None) -> dict[str, Any]:
    """``storage_options`` reaching the moto server (test credentials, one region)."""
    return {
        "endpoint_url": endpoint or moto_endpoint(),
        "key": "testing",
        "secret": "testing",
        "client_kwargs": {"region_name": "us-east-1"},
    }


def _s3_client() -> Any:
    import boto3

    return boto3.client(
        "s3", endpoint_url=moto_endpoint(), aws_access_key_id="testing",
        aws_secret_access_key="testing", region_name="us-east-1",
    )  # fmt: skip


def _s3_keys(prefix: str) -> list[str]:
    client = _s3_client()
    keys: list[str] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=S3_BUCKET, Prefix=prefix):
        keys.extend(item["Key"] for item in page.get("Contents", []))
    return keys


def _s3_cleanup(project: str) -> None:
    client = _s3_client()
    keys = _s3_keys(f"projects/{project}/")
    for start in range(0, len(keys), 1000):
        client.delete_objects(
            Bucket=S3_BUCKET,
            Delete={"Objects": [{"Key": key} for key in keys[start : start + 1000]]},
        )


def _s3_leftovers(prefix: str) -> list[str]:
    return sorted({key.split("/")[1] for key in _s3_keys(f"projects/{prefix}")})


def _split_memory(project: str, tmp_path: Path) -> Backend:
    """Each role its own memory store: the non-fused paths of mixed setups."""
    return MixedBackend(MemoryBackend(project), MemoryBackend(project), MemoryBackend(project))


TARGETS: dict[str, Target] = {
    target.name: target
    for target in (
        Target(
            name="memory",
            capabilities=MemoryBackend.capabilities,
            backend_type="memory",
            options=lambda project, tmp: {},
            shares_instances=True,
        ),
        Target(
            name="sqlite",
            capabilities=Capabilities(
                fused_events=True, fused_results=True, ordered_writes=True, shared=True
            ),
            backend_type="sqlite",
            options=lambda project, tmp: {"db_path": tmp / f"{project}.db"},
        ),
        Target(
            name="postgres",
            capabilities=Capabilities(fused_events=True, fused_results=True, shared=True),
            backend_type="postgres",
            options=lambda project, tmp: {"dsn": POSTGRES_DSN, "pool_size": 4},
            service=_postgres_service(),
            traits=frozenset({"notifies", "transactional"}),
            cleanup=_postgres_cleanup,
            leftovers=_postgres_leftovers,
        ),
        Target(
            name="redis",
            capabilities=Capabilities(fused_events=True, fused_results=True, shared=True),
            backend_type="redis",
            options=lambda project, tmp: {"url": REDIS_URL},
            service=_redis_service(),
            traits=frozenset({"notifies"}),
            cleanup=_redis_cleanup,
            leftovers=_redis_leftovers,
        ),
        Target(
            name="nats",
            capabilities=Capabilities(shared=True),
            backend_type="nats",
            options=lambda project, tmp: {"servers": NATS_URL},
            service=_nats_service(),
            traits=frozenset({"notifies"}),
            cleanup=_nats_cleanup,
            leftovers=_nats_leftovers,
        ),
        Target(
            name="file",
            capabilities=Capabilities(
                fused_events=True, fused_results=True, ordered_writes=True, shared=True
            ),
            backend_type="file",
            options=lambda project, tmp: {"path": tmp / "files"},
            traits=frozenset({"exclusive_claims", "durable"}),
        ),
        Target(
            name="file-memory",
            capabilities=Capabilities(fused_events=True, fused_results=True, ordered_writes=True),
            backend_type="file",
            options=lambda project, tmp: {"path": "memory://omniq-tests"},
            traits=frozenset({"exclusive_claims"}),
            cleanup=_memory_files,
            leftovers=_memory_leftovers,
        ),
        Target(
            name="file-s3",
            capabilities=Capabilities(
                fused_events=True, fused_results=True, ordered_writes=True, shared=True
            ),
            backend_type="file",
            options=lambda project, tmp: {
                "path": f"s3://{S3_BUCKET}/projects",
                "storage_options": s3_options(),
            },
            traits=frozenset({"exclusive_claims", "object_storage"}),
            cleanup=_s3_cleanup,
            leftovers=_s3_leftovers,
        ),
        Target(
            name="split-memory",
            capabilities=Capabilities(),
            build=_split_memory,
            shares_instances=True,
        ),
    )
    if TEST_S3 or target.name != "file-s3"
}


def targets_with(names: frozenset[str], without: frozenset[str] = frozenset()) -> list[str]:
    """The targets with every capability or trait in ``names`` and none in ``without``."""
    return [
        target.name
        for target in TARGETS.values()
        if names <= target.names() and not without & target.names()
    ]
