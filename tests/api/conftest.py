"""Fixtures running every API test against the memory and the SQLite backend."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from omniq import OmniQ

from . import flow_tasks, tasks

BACKEND_NAMES = ["memory", "sqlite"]

MakeOmniQ = Callable[..., OmniQ]


@pytest.fixture(autouse=True)
def omniq_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Keep every default database path inside the test's tmp dir."""
    home = tmp_path / "omniq_home"
    monkeypatch.setenv("OMNIQ_HOME", str(home))
    return home


@pytest.fixture(autouse=True)
def _reset_tasks() -> Iterator[None]:
    tasks.reset()
    flow_tasks.reset()  # never leave a body blocked on a gate
    yield
    tasks.reset()
    flow_tasks.reset()


@pytest.fixture(params=BACKEND_NAMES)
def backend_name(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def backend_options(backend_name: str, tmp_path: Path) -> dict[str, Any]:
    if backend_name == "sqlite":
        return {"db_path": tmp_path / "q.db"}
    return {}


@pytest.fixture
def make_oq(backend_name: str, backend_options: dict[str, Any]) -> Iterator[MakeOmniQ]:
    """Build OmniQ instances on the test's backend; each is closed (sync) at teardown.

    Instances used with the async API must be closed by the test itself (``async with``).
    """
    created: list[OmniQ] = []

    def factory(**kwargs: Any) -> OmniQ:
        options = {"project_name": f"api_{uuid.uuid4().hex[:12]}", "backend_type": backend_name}
        if "backend" not in kwargs:
            options.update(backend_options)
        else:
            del options["backend_type"]
        options.update(kwargs)
        instance = OmniQ(**options)
        created.append(instance)
        return instance

    yield factory
    for instance in reversed(created):
        instance.close()


@pytest.fixture
def oq(make_oq: MakeOmniQ) -> OmniQ:
    """An opened OmniQ (no worker running) on the test's backend."""
    return make_oq().open()


@pytest.fixture
def same_store(
    backend_name: str, backend_options: dict[str, Any], make_oq: MakeOmniQ
) -> Callable[..., OmniQ]:
    """Build a second OmniQ on the storage of a first one (same file / same memory store)."""

    def factory(first: OmniQ, **kwargs: Any) -> OmniQ:
        if backend_name == "memory":
            return make_oq(backend=first.backend, **kwargs).open()
        return make_oq(project_name=first.project_name, **kwargs).open()

    return factory
