"""Store-level metrics, read from real stores: what the dashboard's ``/metrics`` serves."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.openmetrics.exposition import CONTENT_TYPE_LATEST as OPENMETRICS

from backend_targets import TARGETS, Target, new_project
from omniq import ConfigurationError, OmniQ, TaskFailedError
from omniq.monitoring.prometheus import render_store_metrics, store_collector

from . import jobs
from .scrape import parse, scrape, value


@pytest.fixture
def target(backend_name: str) -> Target:
    found = TARGETS[backend_name]
    found.check_service()
    return found


@pytest.fixture
def project(target: Target) -> Iterator[str]:
    name = new_project("metrics")
    yield name
    target.remove(name)


def fill(target: Target, project: str, tmp_path: Path, q1: str, q2: str) -> OmniQ:
    """A store with a failed task in ``q1`` (served by a live worker), and two due tasks
    and a delayed one in ``q2`` (served by none); returns the worker's instance, running."""
    options = target.omniq_options(project, tmp_path)
    served = OmniQ(project_name=project, queues=[q1], **options)
    served.start_worker(worker_type="thread_pool", max_workers=2)
    failed = served.enqueue(jobs.fails, {"message": "no"}, queue_name=q1, max_retries=0)
    with pytest.raises(TaskFailedError):
        served.get_result(failed, timeout=30)
    with OmniQ(project_name=project, **target.omniq_options(project, tmp_path)) as producer:
        for i in range(2):
            producer.enqueue(jobs.add, {"x": i, "y": 0}, queue_name=q2)
        producer.enqueue(jobs.add, {"x": 9, "y": 0}, queue_name=q2, run_in=3600)
    return served


def check(samples: dict, q1: str, q2: str) -> None:  # type: ignore[type-arg]
    def tasks(queue: str, status: str) -> float | None:
        return value(samples, "omniq_queue_tasks", queue=queue, status=status)

    assert value(samples, "omniq_store_up") == 1
    assert (tasks(q1, "failed"), tasks(q1, "enqueued"), tasks(q1, "completed")) == (1, 0, 0)
    assert (tasks(q2, "enqueued"), tasks(q2, "failed")) == (3, 0)
    assert value(samples, "omniq_queue_due_tasks", queue=q1) == 0
    assert value(samples, "omniq_queue_due_tasks", queue=q2) == 2
    assert value(samples, "omniq_queue_delayed_tasks", queue=q2) == 1
    assert value(samples, "omniq_queue_oldest_due_age_seconds", queue=q1) == 0
    oldest = value(samples, "omniq_queue_oldest_due_age_seconds", queue=q2)
    assert oldest is not None
    assert 0 < oldest < 60
    assert value(samples, "omniq_queue_live_workers", queue=q1) == 1
    assert value(samples, "omniq_queue_live_workers", queue=q2) == 0
    assert value(samples, "omniq_live_workers") == 1
    assert value(samples, "omniq_live_worker_slots") == 2
    read = value(samples, "omniq_store_read_duration_seconds")
    assert read is not None
    assert read > 0


@pytest.mark.targets("sqlite", "postgres", "redis")
async def test_render_store_metrics_reads_the_store(
    target: Target, project: str, tmp_path: Path
) -> None:
    q1, q2 = f"served-{uuid.uuid4().hex[:6]}", f"unserved-{uuid.uuid4().hex[:6]}"
    served = fill(target, project, tmp_path, q1, q2)
    try:
        async with OmniQ(project_name=project, **target.omniq_options(project, tmp_path)) as oq:
            body, content_type = await render_store_metrics(oq)
            assert content_type == "text/plain; version=0.0.4; charset=utf-8"
            check(parse(body.decode()), q1, q2)
            body, content_type = await render_store_metrics(
                oq, accept="application/openmetrics-text; version=1.0.0"
            )
            assert content_type.startswith(OPENMETRICS.split(";")[0])
            assert body.endswith(b"# EOF\n")
    finally:
        served.close()


@pytest.mark.targets("sqlite")
def test_the_store_collector_over_http(target: Target, project: str, tmp_path: Path) -> None:
    q1, q2 = f"served-{uuid.uuid4().hex[:6]}", f"unserved-{uuid.uuid4().hex[:6]}"
    served = fill(target, project, tmp_path, q1, q2)
    registry = CollectorRegistry()
    with OmniQ(project_name=project, **target.omniq_options(project, tmp_path)) as oq:
        registry.register(store_collector(oq))
        server, thread = start_http_server(0, "127.0.0.1", registry)
        try:
            check(scrape(f"http://127.0.0.1:{server.server_port}/metrics"), q1, q2)
            served.close()  # the worker stops: the next scrape reads the store again
            samples = scrape(f"http://127.0.0.1:{server.server_port}/metrics")
            assert value(samples, "omniq_live_workers") == 0
            assert value(samples, "omniq_queue_live_workers", queue=q1) == 0
        finally:
            server.shutdown()
            server.server_close()
            thread.join(10)
            served.close()


async def test_a_store_that_cannot_be_read_is_down(tmp_path: Path) -> None:
    db = tmp_path / "not-a-database.db"
    db.write_bytes(b"this is no SQLite file" * 100)
    oq = OmniQ(project_name="broken", db_path=db)
    body, _ = await render_store_metrics(oq)
    samples = parse(body.decode())
    assert value(samples, "omniq_store_up") == 0
    assert [name for name, _ in samples] == ["omniq_store_up", "omniq_store_read_duration_seconds"]
    await oq.close_async()


def test_the_helpers_want_an_omniq() -> None:
    with pytest.raises(ConfigurationError, match="oq 'store' is not valid: expected an omniq"):
        store_collector("store")  # type: ignore[arg-type]
