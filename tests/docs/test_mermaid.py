"""Every ```{mermaid} diagram of the docs parses with mermaid itself.

PyPI has no mermaid parser, so ``tests/docs/mermaid/parse.mjs`` runs mermaid's own
``mermaid.parse`` in Node on a jsdom window (no browser is downloaded). Its npm packages are
pinned in ``package-lock.json`` and installed with ``npm ci`` on first use. Node is required:
without it these tests fail, they do not skip.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from .qmd import pages

MERMAID = Path(__file__).with_name("mermaid")


@pytest.fixture(scope="session")
def node() -> str:
    found = shutil.which("node")
    assert found, "node (>= 18) is required to check the docs' mermaid diagrams: install Node.js"
    if not (MERMAID / "node_modules" / "mermaid").is_dir():
        npm = shutil.which("npm")
        assert npm, "npm is required to install the mermaid checker (tests/docs/mermaid)"
        install = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=MERMAID,
            capture_output=True,
            text=True,
            timeout=110,
            check=False,
        )
        assert install.returncode == 0, f"npm ci failed:\n{install.stdout}\n{install.stderr}"
    return found


def parse(node: str, diagrams: list[dict[str, str]]) -> list[dict[str, object]]:
    done = subprocess.run(
        [node, "parse.mjs"],
        cwd=MERMAID,
        input=json.dumps(diagrams),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, f"parse.mjs failed:\n{done.stderr}"
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_the_docs_have_the_three_diagrams() -> None:
    diagrams = [block for page in pages() for block in page.blocks if block.language == "mermaid"]
    kinds = {block.code.split()[0] for block in diagrams}
    assert {"flowchart", "sequenceDiagram", "stateDiagram-v2"} <= kinds, kinds


def test_every_mermaid_diagram_parses(node: str) -> None:
    diagrams = [
        {"where": block.where, "code": block.code}
        for page in pages()
        for block in page.blocks
        if block.language == "mermaid"
    ]
    failed = [
        f"{result['where']}: {result['error']}"
        for result in parse(node, diagrams)
        if not result["ok"]
    ]
    assert not failed, "\n\n".join(failed)


def test_the_checker_rejects_broken_diagrams(node: str) -> None:
    results = parse(
        node,
        [
            {"where": "good", "code": "flowchart LR\n    A[Client] --> B[OmniQ]\n"},
            {"where": "dangling arrow", "code": "flowchart LR\n    A[Client] -->\n"},
            {"where": "unknown type", "code": "flowchartz LR\n    A --> B\n"},
            {"where": "bad sequence", "code": "sequenceDiagram\n    A->>: no target\n"},
        ],
    )
    assert [result["ok"] for result in results] == [True, False, False, False], results
