"""Every Python example of every page runs, and prints what the page says it prints.

The rules are in :mod:`tests.docs.examples` (and in ``docs/contributing.qmd``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .examples import MAX_FRAGMENTS, MAX_NOT_RUN, check, plan, run_page
from .qmd import pages, relative

PAGES = pages()


def test_the_site_has_pages() -> None:
    assert len(PAGES) >= 25


@pytest.mark.parametrize("page", PAGES, ids=[relative(page.path) for page in PAGES])
def test_page_examples_run_and_print_what_the_page_says(page, tmp_path: Path) -> None:
    page_plan = plan(page)
    assert not page_plan.problems, "\n".join(page_plan.problems)
    if not page_plan.run:
        return
    problems = check(page_plan, run_page(page_plan, tmp_path))
    assert not problems, "\n\n".join(problems)


def test_few_blocks_are_exempt_from_running() -> None:
    not_run = [block.where for page in PAGES for block in plan(page).not_run]
    fragments = [block.where for page in PAGES for block in plan(page).fragments]
    assert len(not_run) <= MAX_NOT_RUN, f"too many '#| eval: false' cells: {not_run}"
    assert len(fragments) <= MAX_FRAGMENTS, f"too many '# fragment:' blocks: {fragments}"
