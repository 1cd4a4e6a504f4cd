"""The dashboard on every backend target: it reads and acts through the storage interfaces."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from backend_targets import TARGETS, new_project
from omniq import OmniQ
from omniq.dashboard import create_app
from omniq.models.task import TaskStatus

from . import jobs
from .conftest import TOKEN, settings


@pytest.fixture
def pair(backend_name: str, tmp_path: Path) -> Iterator[tuple[OmniQ, OmniQ]]:
    """A writer and a display reader (pickles not loaded) on one store of the target."""
    target = TARGETS[backend_name]
    target.check_service()
    project = new_project("dash")
    writer = OmniQ(project_name=project, **target.omniq_options(project, tmp_path)).open()
    if target.shares_instances:
        reader = OmniQ(project_name=project, backend=writer.backend)
    else:
        reader = OmniQ(project_name=project, **target.omniq_options(project, tmp_path))
    reader.serializer = reader.serializer.for_display()
    reader.open()
    try:
        yield writer, reader
    finally:
        reader.close()
        writer.close()
        target.remove(project)


def test_pages_and_actions(pair: tuple[OmniQ, OmniQ], tmp_path: Path) -> None:
    writer, reader = pair
    marker = tmp_path / "unpickled.marker"
    plain = writer.enqueue(jobs.add, {"a": 20, "b": 22}, queue_name="alpha", name="answer",
                           tags=["t1"])  # fmt: skip
    pickled = writer.enqueue(jobs.echo, {"value": jobs.Tripwire(marker)}, queue_name="beta")
    with TestClient(create_app(reader, settings()), base_url="http://127.0.0.1") as client:
        client.headers["authorization"] = f"Bearer {TOKEN}"
        overview = client.get("/").text
        assert 'data-queue="alpha"' in overview
        assert 'data-queue="beta"' in overview
        listed = client.get("/tasks", params={"queue": "alpha"}).text
        assert re.findall(r'<tr data-task="([^"]+)"', listed) == [plain]
        named = client.get("/tasks", params={"name": "answer", "tag": "t1"}).text
        assert re.findall(r'<tr data-task="([^"]+)"', named) == [plain]
        page = client.get(f"/tasks/{plain[:10]}")
        assert page.url.path == f"/tasks/{plain}"
        assert "answer" in page.text
        shown = client.get(f"/tasks/{pickled}").text
        assert "pickled, not loaded" in shown
        assert client.post(f"/tasks/{plain}/cancel").status_code == 200
        assert writer.get_task(plain).status is TaskStatus.CANCELLED  # type: ignore[union-attr]
    assert not marker.exists()


def test_pages_follow_one_another(pair: tuple[OmniQ, OmniQ]) -> None:
    writer, reader = pair
    ids = writer.enqueue_many(jobs.add, [{"a": i, "b": 0} for i in range(55)], queue_name="many")
    writer.enqueue(jobs.add, {"a": 0, "b": 0}, queue_name="other")
    with TestClient(create_app(reader, settings()), base_url="http://127.0.0.1") as client:
        client.headers["authorization"] = f"Bearer {TOKEN}"
        first = client.get("/tasks", params={"queue": "many", "status": "enqueued"}).text
        link = re.search(r'href="(/tasks\?[^"]*before=[^"]+)" id="next-page"', first)
        assert link is not None
        second = client.get(link.group(1).replace("&amp;", "&")).text
        assert 'id="next-page"' not in second
        shown = [re.findall(r'<tr data-task="([^"]+)"', page) for page in (first, second)]
    assert [len(page) for page in shown] == [50, 5]
    assert sorted(shown[0] + shown[1]) == sorted(ids)
