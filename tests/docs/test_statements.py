"""Statements in the README and the docs that the code or the project files can contradict."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from omniq.models.config import WorkerConfig

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = ROOT / "docs"


def _requirement_name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9_.-]+", requirement)
    assert match is not None, requirement
    return match.group(0)


def test_the_installation_page_lists_every_runtime_dependency() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    page = (DOCS / "installation.qmd").read_text(encoding="utf-8")
    listed = set(re.findall(r"^\| `([^`]+)` \|", page, re.MULTILINE))
    wanted = {_requirement_name(r) for r in project["dependencies"]}
    assert wanted <= listed, f"missing from installation.qmd's table: {sorted(wanted - listed)}"


def test_the_readme_says_what_make_test_needs_besides_python() -> None:
    commands = README.read_text(encoding="utf-8").split("## A first program")[0]
    assert "Node.js ≥ 18" in commands
    assert "npm" in commands


def test_the_readmes_preview_steps_install_the_docs_extra() -> None:
    readme = README.read_text(encoding="utf-8")
    preview = readme[readme.index("## Documentation") :].split("\n## ")[0]
    assert "quartodoc build" in preview
    assert ".[docs]" in preview


def test_no_page_says_events_are_kept_for_ever() -> None:
    said = [
        str(page.relative_to(ROOT))
        for page in [README, *DOCS.rglob("*.qmd")]
        if "_site" not in page.parts
        and re.search(r"for\s+ever\s+\(events", page.read_text(encoding="utf-8"))
    ]
    assert said == []


def test_worker_config_calls_no_worker_type_planned() -> None:
    assert "planned" not in (WorkerConfig.__doc__ or "")
