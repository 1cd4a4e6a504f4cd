"""The rules for the Python examples of the docs, and the machinery that checks them.

Conventions (written for contributors in ``docs/contributing.qmd``, "Writing documentation"):

* Every ```` ```{python} ```` cell and every plain ```` ```python ```` block runs, in page
  order, in one namespace per page (as Quarto's Jupyter kernel runs a page's cells), in a
  fresh working directory with ``OMNIQ_HOME`` pointing at a fresh directory.
* A cell that cannot run here carries ``#| eval: false`` **and** a visible reason in the
  text just before it: a line with ``**Not run:**`` followed by the reason. At most
  :data:`MAX_NOT_RUN` such cells in the whole site.
* A plain block that is not a complete program (e.g. the shape of a file) starts with the
  comment ``# fragment: <reason>``. At most :data:`MAX_FRAGMENTS` in the whole site.
* Output claims are checked against what the block really printed:
  ``print(x)  # Output: <text>`` -- some line of the block's output is ``<text>`` (claims of
  one block match lines in order); and a ```` ```{.text .output} ```` block right after a
  Python block is that block's whole output. ``...`` in a claim matches any text (doctest's
  ELLIPSIS), for ids and timings.
* A page's examples finish within :data:`PAGE_TIMEOUT` seconds.
"""

from __future__ import annotations

import doctest
import json
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from child_env import child_environment

from .qmd import Block, Page

#: Most ``#| eval: false`` cells in the whole site.
MAX_NOT_RUN = 5
#: Most ``# fragment:`` blocks in the whole site.
MAX_FRAGMENTS = 5
#: Seconds a page's examples may take, all together.
PAGE_TIMEOUT = 60.0

RUNNER = Path(__file__).with_name("page_runner.py")
_OUTPUT_CLAIM = re.compile(r"#\s*Output:\s?(?P<text>.*?)\s*$")
_FRAGMENT = re.compile(r"^#\s*fragment:\s*(?P<reason>.*?)\s*$", re.IGNORECASE)
_NOT_RUN = re.compile(r"\*\*Not run:\*\*\s*(?P<reason>.+)")
_CHECKER = doctest.OutputChecker()


@dataclass
class PagePlan:
    """What to run on a page, what it must print, and the convention errors found."""

    page: Page
    run: list[Block] = field(default_factory=list)
    claims: dict[int, list[str]] = field(default_factory=dict)  # block line -> claims
    outputs: dict[int, Block] = field(default_factory=dict)  # block line -> output block
    not_run: list[Block] = field(default_factory=list)
    fragments: list[Block] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def is_python(block: Block) -> bool:
    """Whether the block holds Python (a cell, ```` ```python ```` or ```` ```{.python} ````)."""
    return block.language == "python" and not block.is_output


def fragment_reason(block: Block) -> str | None:
    """The reason of a ``# fragment:`` first line, or ``None`` if it is not a fragment."""
    first = next((line for line in block.code.splitlines() if line.strip()), "")
    match = _FRAGMENT.match(first.strip())
    return None if match is None else match["reason"]


def not_run_reason(page: Page, block: Block, previous_end: int) -> str | None:
    """The ``**Not run:**`` reason written in the prose just before ``block``."""
    for number, line in reversed(page.prose_lines):
        if number >= block.line:
            continue
        if number <= previous_end or number < block.line - 8:
            break
        match = _NOT_RUN.search(line)
        if match:
            return match["reason"].strip()
    return None


def plan(page: Page) -> PagePlan:
    """Sort a page's blocks into run / not run / fragment and collect its output claims."""
    result = PagePlan(page)
    previous: Block | None = None
    for block in page.blocks:
        if block.is_output:
            if previous is None or previous not in result.run:
                result.problems.append(
                    f"{block.where}: an output block must directly follow a Python block "
                    "that runs (it shows that block's output)"
                )
            else:
                result.outputs[previous.line] = block
        elif is_python(block):
            if block.is_cell and block.options.get("eval", "true").lower() == "false":
                reason = not_run_reason(page, block, previous.end_line if previous else 0)
                if not reason or len(reason) < 15:
                    result.problems.append(
                        f"{block.where}: '#| eval: false' needs a visible reason just before "
                        "the cell: a line '**Not run:** <why>'"
                    )
                result.not_run.append(block)
            elif not block.is_cell and (reason := fragment_reason(block)) is not None:
                if len(reason) < 15:
                    result.problems.append(
                        f"{block.where}: '# fragment:' needs a reason (what the block is, "
                        "why it cannot run)"
                    )
                result.fragments.append(block)
            else:
                result.run.append(block)
                claims = [
                    match["text"]
                    for line in block.code.splitlines()
                    if (match := _OUTPUT_CLAIM.search(line))
                ]
                if claims:
                    result.claims[block.line] = claims
        previous = block
    return result


def run_page(
    page_plan: PagePlan, workdir: Path, timeout: float = PAGE_TIMEOUT
) -> list[dict[str, Any]]:
    """Run a page's blocks in a fresh process; return one result per block run.

    Raises:
        AssertionError: The page did not finish within ``timeout`` seconds.
    """
    home, cwd, tmp = workdir / "omniq_home", workdir / "cwd", workdir / "tmp"
    for folder in (home, cwd, tmp):
        folder.mkdir(parents=True, exist_ok=True)
    blocks_file, results_file = workdir / "blocks.json", workdir / "results.json"
    blocks_file.write_text(
        json.dumps(
            [
                {"where": block.where, "code": block.code, "cell": block.is_cell}
                for block in page_plan.run
            ]
        ),
        encoding="utf-8",
    )
    # TMPDIR: the pages' own temporary directories (their hidden setup cell makes one for
    # a real render) land in the test's directory, which pytest cleans up.
    env = child_environment(OMNIQ_HOME=str(home), PYTHONUNBUFFERED="1", TMPDIR=str(tmp))
    try:
        subprocess.run(
            [sys.executable, str(RUNNER), str(blocks_file), str(results_file)],
            cwd=cwd,
            env=env,
            timeout=timeout,
            check=False,
            capture_output=True,
        )
    except subprocess.TimeoutExpired:
        results = _read(results_file)
        running = results[-1]["where"] if results else "the first block"
        raise AssertionError(
            f"{page_plan.page}: examples did not finish within {timeout:.0f}s "
            f"(still running {running}); examples must be fast"
        ) from None
    return _read(results_file)


def _read(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def matches(want: str, got: str) -> bool:
    """doctest's comparison with ELLIPSIS: ``...`` in ``want`` matches any text."""
    want = "\n".join(line.rstrip() for line in want.strip("\n").splitlines()) + "\n"
    got = "\n".join(line.rstrip() for line in got.strip("\n").splitlines()) + "\n"
    return _CHECKER.check_output(want, got, doctest.ELLIPSIS)


def check(page_plan: PagePlan, results: list[dict[str, Any]]) -> list[str]:
    """Compare what each block printed with what the page says it prints."""
    problems: list[str] = []
    by_where = {result["where"]: result for result in results}
    for result in results:
        if result["error"] is not None:
            problems.append(f"{result['where']} failed:\n{result['error']}")
    for block in page_plan.run:
        result = by_where.get(block.where)
        if result is None:
            if not problems:
                problems.append(f"{block.where} did not run")
            continue
        if result["error"] is not None:
            continue
        lines = result["stdout"].splitlines()
        position = 0
        for claim in page_plan.claims.get(block.line, []):
            for index in range(position, len(lines)):
                if matches(claim, lines[index]):
                    position = index + 1
                    break
            else:
                problems.append(
                    f"{block.where}: the page says it prints {claim!r}, but it printed "
                    f"(from that point on): {lines[position:]!r}"
                )
        output = page_plan.outputs.get(block.line)
        if output is not None and not matches(output.code, result["stdout"]):
            problems.append(
                f"{output.where}: the output block does not match what the block before it "
                f"printed.\n--- page says:\n{output.code}--- it printed:\n{result['stdout']}"
            )
    return problems
