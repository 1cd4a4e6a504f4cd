"""Fixtures running every API test against every backend target (``backend_targets``).

Memory, SQLite, ``split-memory`` (each role its own memory store: the paths of mixed
setups, where nothing is fused) and the server backends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from backend_targets import TARGETS, Target, new_project
from omniq import OmniQ

from . import flow_tasks, tasks

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


@pytest.fixture
def backend_target(backend_name: str) -> Target:
    found = TARGETS[backend_name]
    found.check_service()
    return found


@pytest.fixture
def backend_options(backend_target: Target, tmp_path: Path) -> dict[str, Any]:
    """Options of ``create_backend(backend_name, ...)`` (``{}`` for composed targets)."""
    if backend_target.options is None:
        return {}
    return backend_target.options("api", tmp_path)


@pytest.fixture
def make_oq(backend_target: Target, tmp_path: Path) -> Iterator[MakeOmniQ]:
    """Build OmniQ instances on the test's backend; each is closed (sync) at teardown.

    Instances used with the async API must be closed by the test itself (``async with``).
    What a project left on a server is removed at teardown.
    """
    created: list[OmniQ] = []
    projects: set[str] = set()

    def factory(**kwargs: Any) -> OmniQ:
        project = kwargs.pop("project_name", None) or new_project("api")
        projects.add(project)
        options: dict[str, Any] = {"project_name": project}
        if "backend" not in kwargs:
            options.update(backend_target.omniq_options(project, tmp_path))
        options.update(kwargs)
        instance = OmniQ(**options)
        created.append(instance)
        return instance

    yield factory
    for instance in reversed(created):
        instance.close()
    for project in projects:
        backend_target.remove(project)


@pytest.fixture
def oq(make_oq: MakeOmniQ) -> OmniQ:
    """An opened OmniQ (no worker running) on the test's backend."""
    return make_oq().open()


@pytest.fixture
def same_store(backend_target: Target, make_oq: MakeOmniQ) -> Callable[..., OmniQ]:
    """Build a second OmniQ on the storage of a first one (same file / same memory store)."""

    def factory(first: OmniQ, **kwargs: Any) -> OmniQ:
        if backend_target.shares_instances:
            return make_oq(backend=first.backend, **kwargs).open()
        return make_oq(project_name=first.project_name, **kwargs).open()

    return factory
