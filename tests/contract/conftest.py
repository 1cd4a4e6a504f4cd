"""Fixtures running the contract suite against every backend.

``backend`` is parametrized over the backend names. SQLite is included as soon as the package
``omniq.backends.sqlite`` exists (has an ``__init__.py``); from then on any failure to import
or build it fails the suite.
"""

from __future__ import annotations

import importlib.util
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from omniq.backends import create_backend
from omniq.storage.interfaces import Backend

from .records import MakeBackend


def _sqlite_exists() -> bool:
    # An empty ``sqlite/`` directory is importable as a namespace package (origin None):
    # only a real package with an ``__init__.py`` counts.
    spec = importlib.util.find_spec("omniq.backends.sqlite")
    return spec is not None and spec.origin is not None


BACKEND_NAMES = ["memory", *(["sqlite"] if _sqlite_exists() else [])]


@pytest.fixture(params=BACKEND_NAMES)
def backend_name(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def project_name() -> str:
    return f"contract_{uuid.uuid4().hex}"


@pytest.fixture
def backend_options(backend_name: str, tmp_path: Path) -> dict[str, Any]:
    if backend_name == "sqlite":
        return {"db_path": tmp_path / "omniq.db"}
    return {}


@pytest.fixture
async def backend(
    backend_name: str, project_name: str, backend_options: dict[str, Any]
) -> AsyncIterator[Backend]:
    instance = create_backend(backend_name, project_name=project_name, **backend_options)
    await instance.initialize_async()
    try:
        yield instance
    finally:
        await instance.close_async()


@pytest.fixture
async def make_backend(
    backend: Backend, backend_name: str, project_name: str, backend_options: dict[str, Any]
) -> AsyncIterator[MakeBackend]:
    """Build another, initialized backend on the same store as ``backend``."""
    created: list[Backend] = []

    async def factory() -> Backend:
        if backend_name == "memory":
            return backend  # one instance is one store
        other = create_backend(backend_name, project_name=project_name, **backend_options)
        await other.initialize_async()
        created.append(other)
        return other

    try:
        yield factory
    finally:
        for other in reversed(created):
            await other.close_async()
