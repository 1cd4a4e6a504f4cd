"""Every citation of the pages is an entry of references.bib, and every entry is cited."""

from __future__ import annotations

from .bib import parse
from .qmd import DOCS, pages, relative

#: Quarto cross-reference prefixes: ``@fig-x`` refers to a figure, not to the bibliography.
CROSSREF_PREFIXES = ("fig-", "tbl-", "sec-", "eq-", "lst-", "thm-", "lem-", "cor-", "def-")

ENTRIES = parse((DOCS / "references.bib").read_text(encoding="utf-8"))


def test_bibliography_entries_are_complete() -> None:
    assert ENTRIES, "references.bib has no entries"
    for key, entry in ENTRIES.items():
        assert entry.get("title"), f"{key}: no title"
        assert entry.get("url") or entry.get("doi"), f"{key}: no url or doi to check it by"
        assert entry.get("author") or entry.get("organization") or entry.get("publisher"), (
            f"{key}: no author, organization or publisher"
        )


def test_every_citation_is_in_references_bib() -> None:
    missing = []
    crossrefs = []
    for page in pages():
        for line, key in page.citations:
            if key.startswith(CROSSREF_PREFIXES):
                if f"#{key}" not in page.text:
                    crossrefs.append(f"{relative(page.path)}:{line}: @{key}")
            elif key not in ENTRIES:
                missing.append(f"{relative(page.path)}:{line}: @{key}")
    assert not missing, "citation keys missing from references.bib:\n" + "\n".join(missing)
    assert not crossrefs, "cross-references to no label:\n" + "\n".join(crossrefs)


def test_every_entry_is_cited_somewhere() -> None:
    cited = {key for page in pages() for _line, key in page.citations}
    unused = sorted(set(ENTRIES) - cited)
    assert not unused, f"references.bib entries no page cites: {unused}"
