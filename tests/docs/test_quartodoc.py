"""The API reference: quartodoc lists every public symbol, builds, and documents each one.

Public symbols are the ``__all__`` of ``omniq``, ``omniq.exceptions``, ``omniq.config``,
``omniq.models.config`` and of every package under ``omniq.api``, ``omniq.core``, ``omniq.models``,
``omniq.backends``, ``omniq.storage``, ``omniq.workers`` and ``omniq.serialization``. A symbol
added to one of them fails this test until it is listed in ``docs/_quarto.yml``.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from pathlib import Path
from typing import Any

import pytest

from .links import load_quarto
from .qmd import DOCS

API_PACKAGES = ("api", "core", "models", "backends", "storage", "workers", "serialization")
EXTRA_MODULES = ("omniq", "omniq.exceptions", "omniq.config", "omniq.models.config")


def public_modules() -> list[str]:
    names = list(EXTRA_MODULES)
    for base in API_PACKAGES:
        package = importlib.import_module(f"omniq.{base}")
        names.append(package.__name__)
        for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            if info.ispkg and hasattr(importlib.import_module(info.name), "__all__"):
                names.append(info.name)
    return names


def public_symbols() -> list[tuple[str, str, Any]]:
    """``(module, name, object)`` of every name in a public ``__all__``."""
    found = []
    for module_name in public_modules():
        module = importlib.import_module(module_name)
        for name in module.__all__:
            if name.startswith("__"):  # __version__: no page (Quarto skips _-files)
                continue
            found.append((module_name, name, getattr(module, name)))
    return found


def quartodoc_entries() -> list[str]:
    config = load_quarto(DOCS)["quartodoc"]
    entries = []
    for section in config["sections"]:
        for item in section["contents"]:
            entries.append(item if isinstance(item, str) else item["name"])
    return entries


def resolve(entry: str, package: str = "omniq") -> Any:
    """The object a quartodoc entry (relative to ``package``) names."""
    parts = f"{package}.{entry}".split(".")
    for split in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for attribute in parts[split:]:
            obj = getattr(obj, attribute)
        return obj
    raise ImportError(entry)


def test_quartodoc_lists_every_public_symbol() -> None:
    listed = [(entry.rsplit(".", 1)[-1], resolve(entry)) for entry in quartodoc_entries()]
    missing = [
        f"{module}.{name}"
        for module, name, obj in public_symbols()
        if not any(short == name and value is obj for short, value in listed)
    ]
    assert not missing, (
        "public symbols missing from the quartodoc section of docs/_quarto.yml: "
        + ", ".join(missing)
    )


def test_quartodoc_lists_only_public_symbols_once() -> None:
    entries = quartodoc_entries()
    assert len(entries) == len(set(entries)), "an entry is listed twice"
    public = {(name, id(obj)) for _module, name, obj in public_symbols()}
    stale = [
        entry for entry in entries if (entry.rsplit(".", 1)[-1], id(resolve(entry))) not in public
    ]
    assert not stale, f"entries that are not public symbols (any more): {stale}"


@pytest.mark.parametrize("entry", quartodoc_entries())
def test_every_documented_class_and_function_has_a_docstring(entry: str) -> None:
    obj = resolve(entry)
    if inspect.isclass(obj) or inspect.isfunction(obj):
        assert (obj.__doc__ or "").strip(), f"{entry} has no docstring"


def test_quartodoc_builds_a_page_per_entry(built_docs: Path) -> None:
    reference = built_docs / "api" / "reference"
    assert (reference / "index.qmd").is_file()
    for entry in quartodoc_entries():
        page = reference / f"{entry}.qmd"
        assert page.is_file(), f"quartodoc wrote no page for {entry}"
        text = page.read_text(encoding="utf-8")
        obj = resolve(entry)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            summary = inspect.getdoc(obj).splitlines()[0]  # type: ignore[union-attr]
            assert summary.split("``")[0].strip()[:30] in text, f"{entry}: docstring not rendered"
