"""Checking the site's navigation and internal links, with Quarto's anchor rules."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import unquote

import yaml

from .qmd import Page, pages, relative

_EXTERNAL = ("http://", "https://", "mailto:", "ftp://")


def load_quarto(root: Path) -> dict[str, Any]:
    """The parsed ``_quarto.yml`` of the site at ``root``."""
    data = yaml.safe_load((root / "_quarto.yml").read_text(encoding="utf-8"))
    assert isinstance(data, dict), "_quarto.yml is not a mapping"
    return data


def nav_targets(config: dict[str, Any]) -> list[tuple[str, str]]:
    """``(where, href)`` of every navbar and sidebar entry."""
    found: list[tuple[str, str]] = []

    def walk(item: Any, where: str) -> None:
        if isinstance(item, str):
            found.append((where, item))
        elif isinstance(item, list):
            for index, child in enumerate(item):
                walk(child, f"{where}[{index}]")
        elif isinstance(item, dict):
            if "href" in item:
                found.append((f"{where} {item.get('text', '')!r}".strip(), item["href"]))
            for key in ("menu", "contents", "left", "right"):
                if key in item:
                    walk(item[key], f"{where}.{key}")

    website = config.get("website", {})
    walk(website.get("navbar", {}), "website.navbar")
    sidebar = website.get("sidebar", {})
    for index, bar in enumerate(sidebar if isinstance(sidebar, list) else [sidebar]):
        walk(bar.get("contents", []), f"website.sidebar[{index}].contents")
    return found


def check_target(root: Path, source: Path, target: str, by_path: dict[Path, Page]) -> str | None:
    """Why ``target`` (a link written in ``source``) is broken, or ``None`` if it is fine."""
    if target.startswith(_EXTERNAL) or target.startswith("{{"):
        return None
    path_part, _, anchor = target.partition("#")
    path_part = unquote(path_part.split("?", 1)[0])
    if path_part:
        base = root if path_part.startswith("/") else source.parent
        file = (base / path_part.lstrip("/")).resolve()
        if not file.exists():
            return f"{target!r}: no file {relative(file, root)}"
        if not anchor:
            return None
    else:
        file = source.resolve()
    if anchor:
        page = by_path.get(file)
        if page is None:
            return f"{target!r}: an anchor into {relative(file, root)}, which is not a page"
        if anchor not in page.anchors:
            return (
                f"{target!r}: {relative(file, root)} has no anchor #{anchor} "
                f"(it has: {', '.join(sorted(page.anchors))})"
            )
    return None


def problems(root: Path) -> list[str]:
    """Every broken navbar/sidebar entry and internal link of the site at ``root``."""
    site = pages(root)
    by_path = {page.path.resolve(): page for page in site}
    found: list[str] = []
    for where, href in nav_targets(load_quarto(root)):
        why = check_target(root, root / "_quarto.yml", href, by_path)
        if why:
            found.append(f"_quarto.yml {where}: {why}")
    for page in site:
        for line, target in page.links:
            why = check_target(root, page.path, target, by_path)
            if why:
                found.append(f"{relative(page.path, root)}:{line}: {why}")
    return found
