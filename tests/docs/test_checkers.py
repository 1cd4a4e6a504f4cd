"""The checkers themselves catch what they are for (a check that passes everything is none)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from .bib import parse
from .examples import check, plan, run_page
from .links import problems
from .qmd import Page, pandoc_identifier

FENCE = "```"


def page(tmp_path: Path, text: str, name: str = "page.qmd") -> Page:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).replace("~~~", FENCE), encoding="utf-8")
    return Page(path, tmp_path)


def run(tmp_path: Path, text: str) -> list[str]:
    checked = page(tmp_path, text)
    page_plan = plan(checked)
    return page_plan.problems or check(page_plan, run_page(page_plan, tmp_path / "run"))


def test_true_claims_pass_and_blocks_share_a_namespace(tmp_path: Path) -> None:
    assert (
        run(
            tmp_path,
            """\
        ~~~{python}
        x = 7
        print(f"x is {x}")  # Output: x is 7
        ~~~

        ~~~python
        print(x * 2, "and an id", "3f2a")
        ~~~

        ~~~{.text .output}
        14 and an id ...
        ~~~
        """,
        )
        == []
    )


def test_a_wrong_output_comment_fails(tmp_path: Path) -> None:
    found = run(
        tmp_path,
        """\
        ~~~{python}
        print(2 + 2)  # Output: 5
        ~~~
        """,
    )
    assert len(found) == 1
    assert "says it prints '5'" in found[0]


def test_a_wrong_output_block_fails(tmp_path: Path) -> None:
    found = run(
        tmp_path,
        """\
        ~~~python
        print("Result: 15")
        ~~~

        ~~~{.text .output}
        Result: 16
        ~~~
        """,
    )
    assert len(found) == 1
    assert "does not match" in found[0]


def test_a_failing_block_fails(tmp_path: Path) -> None:
    found = run(
        tmp_path,
        """\
        ~~~{python}
        raise RuntimeError("boom")
        ~~~
        """,
    )
    assert len(found) == 1
    assert "RuntimeError: boom" in found[0]


def test_cells_run_like_jupyter_and_plain_blocks_like_scripts(tmp_path: Path) -> None:
    assert (
        run(
            tmp_path,
            """\
        ~~~{python}
        import asyncio
        await asyncio.sleep(0)
        ~~~

        ~~~python
        import asyncio
        asyncio.run(asyncio.sleep(0))
        ~~~
        """,
        )
        == []
    )
    found = run(
        tmp_path,
        """\
        ~~~{python}
        import asyncio
        asyncio.run(asyncio.sleep(0))
        ~~~
        """,
    )
    assert "cannot be called from a running event loop" in found[0]


def test_eval_false_needs_a_visible_reason(tmp_path: Path) -> None:
    bare = plan(
        page(
            tmp_path,
            """\
        ~~~{python}
        #| eval: false
        print(1)
        ~~~
        """,
        )
    )
    assert bare.problems
    assert bare.not_run
    explained = plan(
        page(
            tmp_path,
            """\
        **Not run:** it needs a PostgreSQL server, a planned backend.

        ~~~{python}
        #| eval: false
        print(1)
        ~~~
        """,
        )
    )
    assert not explained.problems
    assert not explained.run


def test_fragments_need_a_reason(tmp_path: Path) -> None:
    assert plan(page(tmp_path, "~~~python\n# fragment:\nx\n~~~\n")).problems
    ok = plan(
        page(tmp_path, "~~~python\n# fragment: the shape of a handler, not a program\nx(\n~~~\n")
    )
    assert not ok.problems
    assert ok.fragments
    assert not ok.run


def test_a_slow_page_fails(tmp_path: Path) -> None:
    slow = plan(page(tmp_path, "~~~python\nimport time\ntime.sleep(30)\n~~~\n"))
    with pytest.raises(AssertionError, match="did not finish within 1s"):
        run_page(slow, tmp_path / "run", timeout=1)


def test_examples_get_a_private_omniq_home(tmp_path: Path) -> None:
    assert (
        run(
            tmp_path,
            """\
        ~~~python
        import os, pathlib
        print(pathlib.Path(os.environ["OMNIQ_HOME"]).name)  # Output: omniq_home
        print(pathlib.Path.cwd().name)  # Output: cwd
        ~~~
        """,
        )
        == []
    )


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("Delivery semantics", "delivery-semantics"),
        ("`get_result` and timeouts", "get_result-and-timeouts"),
        ("What happens when a worker dies?", "what-happens-when-a-worker-dies"),
        ("Step 2: Sizing SQLite (WAL)", "step-2-sizing-sqlite-wal"),
        ("3 retries, *exponential*", "retries-exponential"),
    ],
)
def test_anchors_follow_pandoc(heading: str, anchor: str) -> None:
    assert pandoc_identifier(heading) == anchor


def test_broken_links_and_anchors_are_found(tmp_path: Path) -> None:
    (tmp_path / "_quarto.yml").write_text(
        "website:\n  navbar:\n    left:\n      - href: a.qmd\n      - href: gone.qmd\n"
    )
    page(tmp_path, "# A\n\n## Real part\n\n## Named {#named}\n", "a.qmd")
    page(
        tmp_path,
        """\
        # B

        [ok](a.qmd#real-part) [ok](a.qmd#named) [ok](#b) [web](https://example.org/x#y)
        [bad file](nope.qmd) [bad anchor](a.qmd#unreal) [bad here](#nowhere)
        `[in code](ignored.qmd)`
        """,
        "b.qmd",
    )
    found = problems(tmp_path)
    assert len(found) == 4, found
    assert any("gone.qmd" in item for item in found)
    assert any("nope.qmd" in item for item in found)
    assert any("#unreal" in item for item in found)
    assert any("#nowhere" in item for item in found)


def test_citations_and_bibtex(tmp_path: Path) -> None:
    cited = page(
        tmp_path,
        "As shown [@kleppmann2017; @sqlite-wal, p. 3], and @lamport1978.\n"
        "Mail me at a@b.org. See @fig-arch.\n",
    )
    assert [key for _line, key in cited.citations] == [
        "kleppmann2017",
        "sqlite-wal",
        "lamport1978",
        "fig-arch",
    ]
    entries = parse(
        "@book{kleppmann2017,\n  title = {Designing {Data}-Intensive Apps},\n"
        "  author = {Kleppmann, Martin}, year = 2017,\n}\n@comment{x}\n"
    )
    assert entries["kleppmann2017"]["title"] == "Designing {Data}-Intensive Apps"
    with pytest.raises(ValueError, match="twice"):
        parse("@misc{a, title={x}}\n@misc{a, title={y}}\n")
