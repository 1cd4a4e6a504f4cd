"""What every suite shares: the backend targets (``backend_name``) and their selection.

A test that takes ``backend_name`` runs once per target of ``backend_targets.TARGETS``,
narrowed by its marks:

* ``@pytest.mark.capability("fused_events", ...)``: only targets declaring all of them
  (a target without a capability never sees the test: deselected, not skipped);
* ``@pytest.mark.without("notifies", ...)``: only targets with none of these capabilities
  or traits;
* ``@pytest.mark.targets("sqlite", ...)``: only these targets.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from backend_targets import SESSION, TARGETS, targets_with


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "capability(*names): run only on backends declaring these capabilities"
    )
    config.addinivalue_line("markers", "targets(*names): run only on these backend targets")
    config.addinivalue_line(
        "markers", "without(*names): run only on backends without these capabilities or traits"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend_name" not in metafunc.fixturenames:
        return
    required = frozenset(
        name for mark in metafunc.definition.iter_markers("capability") for name in mark.args
    )
    excluded = frozenset(
        name for mark in metafunc.definition.iter_markers("without") for name in mark.args
    )
    names = targets_with(required, excluded)
    for mark in metafunc.definition.iter_markers("targets"):
        unknown = set(mark.args) - set(TARGETS)
        if unknown:
            raise pytest.UsageError(f"targets mark names unknown targets: {sorted(unknown)}")
        names = [name for name in names if name in mark.args]
    metafunc.parametrize("backend_name", names, ids=names)


@pytest.fixture(scope="session", autouse=True)
def _nothing_left_behind() -> Iterator[None]:
    """After the session: no server holds anything of a project this session made."""
    yield
    left = {
        target.name: found
        for target in TARGETS.values()
        if target.leftovers is not None
        and (target.service is None or target.service.reachable())
        and (found := target.leftovers(SESSION))
    }
    assert not left, f"tests left these behind on the servers: {left}"
