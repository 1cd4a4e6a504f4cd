"""Fixtures of the docs checks: a copy of the site with its API reference built."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .qmd import DOCS

#: What ``quartodoc build`` writes (git-ignored in docs/.gitignore; CI builds it).
GENERATED = ("api/reference", "objects.json")


@pytest.fixture(scope="session")
def built_docs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of ``docs/`` in which ``quartodoc build`` has written the API reference."""
    root = tmp_path_factory.mktemp("site") / "docs"
    shutil.copytree(
        DOCS, root, ignore=shutil.ignore_patterns("_site", ".quarto", "reference", "objects.json")
    )
    build = subprocess.run(
        [sys.executable, "-m", "quartodoc", "build", "--config", "_quarto.yml"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert build.returncode == 0, f"quartodoc build failed:\n{build.stdout}\n{build.stderr}"
    return root
