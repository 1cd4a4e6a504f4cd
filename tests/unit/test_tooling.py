"""The tools ``make test`` depends on: pinned linters, and what ``.ci/run`` checks up front."""

from __future__ import annotations

import importlib.metadata
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: Tools whose new releases can fail ``make test`` without a code change (``types-*`` too:
#: new stubs change what mypy reports).
PINNED = ("ruff", "mypy", "types-croniter", "types-PyYAML")


def _dev_requirements() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    found: dict[str, str] = {}
    for requirement in project["optional-dependencies"]["dev"]:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?\s*(.*)", requirement)
        assert match is not None, requirement
        found[match.group(1)] = match.group(2)
    return found


@pytest.mark.parametrize("tool", PINNED)
def test_the_linters_and_type_checker_are_pinned_to_the_installed_version(tool: str) -> None:
    requirements = _dev_requirements()
    assert tool in requirements, f"{tool} is not in the dev extra"
    installed = importlib.metadata.version(tool)
    assert requirements[tool] == f"=={installed}", (tool, requirements[tool], installed)


def _ci_run(tmp_path: Path, *, node_version: str | None, npm: bool) -> tuple[int, str]:
    """Run a copy of ``.ci/run`` with only the given tools on PATH; its exit code and stderr.

    The copy lives in ``tmp_path`` (so it could only ever act on the copy's directory), and
    without ``pg_isready`` nor ``pg_ctlcluster`` on PATH it stops at the PostgreSQL check at
    the latest, before it installs or runs anything.
    """
    (tmp_path / ".ci").mkdir()
    script = tmp_path / ".ci" / "run"
    shutil.copy(ROOT / ".ci" / "run", script)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("dirname", "python3", "make"):
        found = shutil.which(tool)
        assert found is not None, tool
        (bin_dir / tool).symlink_to(found)
    if node_version is not None:
        node = bin_dir / "node"
        major = node_version.split(".")[0]
        node.write_text(
            f'#!/bin/sh\nif [ "$1" = -p ]; then echo {major}; else echo v{node_version}; fi\n'
        )
        node.chmod(0o755)
    if npm:
        (bin_dir / "npm").symlink_to("/bin/true")
    done = subprocess.run(
        ["/bin/bash", str(script)],
        env={"PATH": str(bin_dir)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return done.returncode, done.stderr


@pytest.mark.parametrize(
    ("node_version", "npm", "message"),
    [
        (None, True, "node is missing: tests/docs needs Node.js >= 18 and npm"),
        ("16.20.2", True, "node v16.20.2 is too old: tests/docs needs Node.js >= 18 and npm"),
        ("20.11.0", False, "npm is missing: tests/docs needs Node.js >= 18 and npm"),
    ],
)
def test_ci_run_checks_node_and_npm_first(
    tmp_path: Path, node_version: str | None, npm: bool, message: str
) -> None:
    code, stderr = _ci_run(tmp_path, node_version=node_version, npm=npm)
    assert code == 1
    assert (
        stderr.strip() == message + " (mermaid diagrams are parsed in Node): install them, "
        "e.g. apt-get install nodejs npm"
    )


def test_ci_run_goes_on_with_node_18_and_npm(tmp_path: Path) -> None:
    code, stderr = _ci_run(tmp_path, node_version="18.0.0", npm=True)
    assert code == 1
    assert stderr.strip() == "PostgreSQL (pg_ctlcluster) is required"  # the next check
