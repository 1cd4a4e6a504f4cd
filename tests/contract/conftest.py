"""Fixtures running the contract suite against every backend target.

``backend`` is one initialized backend per target of ``backend_targets.TARGETS`` (see the
root ``conftest.py`` for how targets are chosen); ``make_backend`` builds a second handle on
the same store, as another process would.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from backend_targets import TARGETS, Target, new_project
from omniq.storage.interfaces import Backend

from .records import MakeBackend


@pytest.fixture
def backend_target(backend_name: str) -> Target:
    found = TARGETS[backend_name]
    found.check_service()
    return found


@pytest.fixture
def project_name() -> str:
    return new_project("contract")


@pytest.fixture
async def backend(
    backend_target: Target, project_name: str, tmp_path: Path
) -> AsyncIterator[Backend]:
    instance = backend_target.make(project_name, tmp_path)
    await instance.initialize_async()
    try:
        yield instance
    finally:
        await instance.close_async()
        backend_target.remove(project_name)


@pytest.fixture
async def make_backend(
    backend: Backend, backend_target: Target, project_name: str, tmp_path: Path
) -> AsyncIterator[MakeBackend]:
    """Build another, initialized backend on the same store as ``backend``."""
    created: list[Backend] = []

    async def factory() -> Backend:
        if backend_target.shares_instances:
            return backend  # one instance is one store
        other = backend_target.make(project_name, tmp_path)
        await other.initialize_async()
        created.append(other)
        return other

    try:
        yield factory
    finally:
        for other in reversed(created):
            await other.close_async()
