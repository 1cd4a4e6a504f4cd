"""Every navbar/sidebar entry and internal link points at a file (and anchor) that exists.

Checked on a copy of the site where ``quartodoc build`` has run, so links into the generated
API reference (``api/reference/``) are checked too.
"""

from __future__ import annotations

from pathlib import Path

from .links import problems


def test_navigation_and_internal_links_resolve(built_docs: Path) -> None:
    found = problems(built_docs)
    assert not found, "\n".join(found)
