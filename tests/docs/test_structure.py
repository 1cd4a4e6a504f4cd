"""The site has the spec's structure (5.1, 5.2) and its pages keep to what OmniQ really does."""

from __future__ import annotations

import re
import tomllib

import pytest
import yaml

from .links import load_quarto, nav_targets
from .qmd import DOCS, pages

PAGES_5_1 = [
    "index.qmd", "installation.qmd", "quickstart.qmd", "contributing.qmd",
    "user_guide/index.qmd", "user_guide/getting_started.qmd", "user_guide/core_concepts.qmd",
    "user_guide/task_queues.qmd", "user_guide/scheduling.qmd", "user_guide/workers.qmd",
    "user_guide/backends.qmd", "user_guide/configuration.qmd",
    "user_guide/advanced_features.qmd",
    "api/index.qmd", "api/core.qmd", "api/models.qmd", "api/backends.qmd", "api/storage.qmd",
    "api/workers.qmd", "api/serialization.qmd",
    "examples/index.qmd", "examples/basic_usage.qmd", "examples/sqlite_backend.qmd",
    "examples/scheduling.qmd", "examples/workers.qmd", "examples/advanced.qmd",
    "examples/real_world.qmd",
]  # fmt: skip
#: Pages beyond the spec's, each after the page it follows in the navigation.
EXTRA_PAGES = {
    "user_guide/writing_a_backend.qmd": "user_guide/backends.qmd",
    "user_guide/dashboard.qmd": "user_guide/advanced_features.qmd",
}
OTHER_FILES_5_1 = [
    "_quarto.yml", "styles/custom.css", "references.bib", "images/architecture.png",
    "images/data_flow.png", "images/logo.png",
]  # fmt: skip
#: Words a page must have at least (without code): no stubs.
MIN_WORDS = 150

PYPROJECT = tomllib.loads((DOCS.parent / "pyproject.toml").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", [*PAGES_5_1, *EXTRA_PAGES])
def test_page_exists_with_real_content(name: str) -> None:
    path = DOCS / name
    assert path.is_file(), f"docs/{name} is missing"
    page = next(page for page in pages() if page.path == path)
    assert page.title, f"docs/{name} has no title in its YAML header"
    words = sum(len(line.split()) for _number, line in page.prose_lines)
    assert words >= MIN_WORDS, f"docs/{name} has only {words} words of text"


@pytest.mark.parametrize("name", OTHER_FILES_5_1)
def test_other_files_exist(name: str) -> None:
    path = DOCS / name
    assert path.is_file(), f"docs/{name} is missing"
    assert path.stat().st_size > 200, f"docs/{name} is nearly empty"
    assert (DOCS / "_freeze").is_dir()
    assert (DOCS / "_extensions").is_dir()


def test_navigation_is_the_specs() -> None:
    config = load_quarto(DOCS)
    hrefs = [href for _where, href in nav_targets(config) if not href.startswith("http")]
    sidebar = [href for where, href in nav_targets(config) if "sidebar" in where]
    expected = [name for name in PAGES_5_1 if name not in (
        "index.qmd", "installation.qmd", "quickstart.qmd", "contributing.qmd",
        "user_guide/index.qmd",
    )] + ["contributing.qmd"]  # fmt: skip
    for extra, after in EXTRA_PAGES.items():
        expected.insert(expected.index(after) + 1, extra)
    assert sidebar == expected
    assert set(hrefs) == (set(PAGES_5_1) | set(EXTRA_PAGES)) - {
        "installation.qmd",
        "quickstart.qmd",
        "user_guide/index.qmd",
    }
    html = config["format"]["html"]
    assert html["theme"] == "cosmo"
    assert html["toc"] is True
    assert config["bibliography"] == "references.bib"
    assert "mermaid.min.js" not in (DOCS / "_quarto.yml").read_text(), (
        "Quarto has built-in mermaid: a CDN <script> would load it twice and fail offline"
    )


def test_yaml_blocks_parse() -> None:
    for page in pages():
        for block in page.blocks:
            if block.language == "yaml":
                try:
                    yaml.safe_load(block.code)
                except yaml.YAMLError as exc:
                    pytest.fail(f"{block.where}: YAML does not parse: {exc}")


def test_install_commands_name_real_extras_and_never_the_pypi_name() -> None:
    extras = set(PYPROJECT["project"]["optional-dependencies"])
    for page in pages():
        for block in page.blocks:
            if block.language not in {"bash", "sh", "shell", "console"}:
                continue
            for line in block.code.splitlines():
                if re.search(r"\b(pip|uv pip|pixi)\s+(install|add)\s+['\"]?omniq\b", line):
                    pytest.fail(
                        f"{block.where}: {line.strip()!r} installs the unrelated 'omniq' "
                        "project from PyPI"
                    )
                for group in re.findall(r"(?:omniq|\.|\.whl)\[([\w,\s-]+)\]", line):
                    for extra in (name.strip() for name in group.split(",")):
                        assert extra in extras, f"{block.where}: no extra [{extra}] in pyproject"
