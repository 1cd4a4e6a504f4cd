"""Reading Quarto pages: fenced code blocks, headings and anchors, links, citations.

A small reader for the subset of Quarto markdown the docs use, shared by every check in
``tests/docs``. It follows CommonMark for fences (a closing fence has the opening's
character, at least its length, and no info string) and pandoc for heading identifiers,
which is what Quarto uses.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs"

_FENCE = re.compile(r"^(?P<indent> {0,3}|\s*)(?P<fence>`{3,}|~{3,})\s*(?P<info>.*?)\s*$")
_HEADING = re.compile(r"^(?P<level>#{1,6})\s+(?P<text>.+?)\s*(?:\{(?P<attrs>[^}]*)\})?\s*$")
_EXPLICIT_ID = re.compile(r"\{\s*#(?P<id>[A-Za-z][\w:.-]*)[^}]*\}")
_CELL_OPTION = re.compile(r"^#\|\s*(?P<key>[\w-]+)\s*:\s*(?P<value>.*?)\s*$")
# [text](target) and ![alt](target); the target ends at whitespace (a title may follow).
_LINK = re.compile(r"!?\[(?P<text>[^\]]*)\]\((?P<target>[^)\s]+)(?:\s+\"[^\"]*\")?\)")
# Pandoc citations: [@key], [@key, p. 3; @other], and in-text @key. Not e-mail addresses.
_CITATION = re.compile(r"(?<![\w.@/])@(?P<key>[A-Za-z0-9_][\w:.#$%&+?<>~/-]*[A-Za-z0-9_])")


@dataclass
class Block:
    """One fenced code block of a page."""

    page: Path
    line: int  # 1-based line of the opening fence
    info: str  # the info string, e.g. "{python}", "python", "{.text .output}"
    code: str
    end_line: int  # 1-based line of the closing fence
    options: dict[str, str] = field(default_factory=dict)  # "#| key: value" lines
    root: Path = DOCS

    @property
    def language(self) -> str:
        """``python``, ``mermaid``, ``bash``... from ``{python}``, ``python``, ``{.python}``."""
        info = self.info.strip()
        if info.startswith("{"):
            inner = info[1:-1].strip() if info.endswith("}") else info[1:]
            first = inner.split()[0] if inner.split() else ""
            return first.lstrip(".").lower()
        return info.split()[0].lower() if info else ""

    @property
    def classes(self) -> set[str]:
        """The ``.class`` names of the info string (``{.text .output}`` -> text, output)."""
        return {word[1:] for word in re.findall(r"\.[\w-]+", self.info)}

    @property
    def is_cell(self) -> bool:
        """Whether Quarto executes it: ``{python}`` (not ``{.python}`` nor ``python``)."""
        return bool(re.match(r"^\{\s*python\b", self.info.strip()))

    @property
    def is_output(self) -> bool:
        """Whether it shows the output of the Python block before it (class ``output``)."""
        return "output" in self.classes

    @property
    def where(self) -> str:
        """``page.qmd:LINE`` for messages."""
        return f"{relative(self.page, self.root)}:{self.line}"


@dataclass
class Heading:
    """A heading and the identifier pandoc gives it."""

    line: int
    level: int
    text: str
    anchor: str


class Page:
    """One ``.qmd`` page: its text, code blocks, headings, links and citations."""

    def __init__(self, path: Path, root: Path = DOCS) -> None:
        self.path = path
        self.root = root
        self.text = path.read_text(encoding="utf-8")
        self.lines = self.text.splitlines()

    def __repr__(self) -> str:
        return f"Page({relative(self.path, self.root)})"

    @cached_property
    def blocks(self) -> list[Block]:
        """Every fenced code block, in page order (nested fences stay inside their block)."""
        blocks: list[Block] = []
        index = 0
        while index < len(self.lines):
            match = _FENCE.match(self.lines[index])
            if match is None:
                index += 1
                continue
            fence, info = match["fence"], match["info"]
            body: list[str] = []
            end = index + 1
            while end < len(self.lines):
                closing = _FENCE.match(self.lines[end])
                if (
                    closing is not None
                    and closing["fence"][0] == fence[0]
                    and len(closing["fence"]) >= len(fence)
                    and not closing["info"]
                ):
                    break
                body.append(self.lines[end])
                end += 1
            else:
                raise AssertionError(f"{self}: the fence on line {index + 1} is never closed")
            indent = len(match["indent"])
            code = "\n".join(line[indent:] if line[:indent].isspace() else line for line in body)
            block = Block(self.path, index + 1, info, code + "\n", end + 1, root=self.root)
            for line in body:
                option = _CELL_OPTION.match(line.strip())
                if option is None:
                    break
                block.options[option["key"]] = option["value"].strip("'\"")
            blocks.append(block)
            index = end + 1
        return blocks

    @cached_property
    def prose_lines(self) -> list[tuple[int, str]]:
        """``(line number, text)`` of lines outside code blocks and the YAML header."""
        inside: set[int] = set()
        for block in self.blocks:
            inside.update(range(block.line, block.end_line + 1))
        if self.lines and self.lines[0].strip() == "---":
            for number, line in enumerate(self.lines[1:], start=2):
                inside.add(number)
                if line.strip() == "---":
                    inside.add(1)
                    break
        return [
            (number, line)
            for number, line in enumerate(self.lines, start=1)
            if number not in inside and not line.lstrip().startswith("<!--")
        ]

    @cached_property
    def title(self) -> str | None:
        """The ``title:`` of the YAML header."""
        if not self.lines or self.lines[0].strip() != "---":
            return None
        for line in self.lines[1:]:
            if line.strip() == "---":
                return None
            if line.startswith("title:"):
                return line.split(":", 1)[1].strip().strip("'\"")
        return None

    @cached_property
    def headings(self) -> list[Heading]:
        """Headings with their anchors (pandoc's rules; duplicates get ``-1``, ``-2``...)."""
        headings: list[Heading] = []
        seen: dict[str, int] = {}
        for number, line in self.prose_lines:
            match = _HEADING.match(line)
            if match is None:
                continue
            attrs = match["attrs"] or ""
            explicit = _EXPLICIT_ID.search("{" + attrs + "}") if attrs else None
            anchor = explicit["id"] if explicit else pandoc_identifier(match["text"])
            if not explicit:
                count = seen.get(anchor)
                seen[anchor] = 0 if count is None else count + 1
                if count is not None:
                    anchor = f"{anchor}-{count + 1}"
            headings.append(Heading(number, len(match["level"]), match["text"], anchor))
        return headings

    @cached_property
    def anchors(self) -> set[str]:
        """Every identifier a link may point at: headings and explicit ``{#id}`` anywhere."""
        ids = {heading.anchor for heading in self.headings}
        for _number, line in self.prose_lines:
            ids.update(match["id"] for match in _EXPLICIT_ID.finditer(line))
        return ids

    @cached_property
    def links(self) -> list[tuple[int, str]]:
        """``(line, target)`` of every markdown link and image outside code blocks."""
        found: list[tuple[int, str]] = []
        for number, line in self.prose_lines:
            stripped = re.sub(r"`[^`]*`", "", line)  # not inside inline code
            found.extend((number, match["target"]) for match in _LINK.finditer(stripped))
        return found

    @cached_property
    def citations(self) -> list[tuple[int, str]]:
        """``(line, key)`` of every pandoc citation outside code (``[@key]``, ``@key``)."""
        found: list[tuple[int, str]] = []
        for number, line in self.prose_lines:
            if _HEADING.match(line) and line.lstrip().startswith("#|"):
                continue
            stripped = re.sub(r"`[^`]*`", "", line)
            stripped = _LINK.sub(lambda m: f"[{m['text']}]", stripped)  # URLs hold no keys
            stripped = re.sub(r"<[^>]+>", "", stripped)  # nor do autolinks and HTML
            found.extend((number, match["key"]) for match in _CITATION.finditer(stripped))
        return found


def relative(path: Path, root: Path = DOCS) -> str:
    """``path`` relative to ``root`` (``docs/``) when it is inside it, else its name."""
    try:
        return str(path.relative_to(root))
    except ValueError:
        return path.name


def pandoc_identifier(heading: str) -> str:
    """The identifier pandoc (so Quarto) gives a heading without an explicit ``{#id}``.

    Pandoc's ``auto_identifiers``: drop formatting and links, keep letters, digits, ``_``,
    ``-`` and ``.``, turn spaces into ``-``, lowercase, drop everything before the first
    letter; ``section`` if nothing is left.
    """
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links -> their text
    text = text.replace("`", "").replace("*", "")  # code and emphasis marks
    text = re.sub(r"(?<!\w)_+|_+(?!\w)", "", text)  # _emphasis_, not snake_case
    text = unicodedata.normalize("NFC", text).lower()
    kept = "".join(char for char in text if char.isalnum() or char in "_-." or char.isspace())
    kept = re.sub(r"\s+", "-", kept.strip())
    kept = re.sub(r"^[^a-z]+", "", kept)
    return kept or "section"


def pages(root: Path = DOCS) -> list[Page]:
    """Every ``.qmd`` page under ``root`` (skipping ``_*`` and ``.*`` folders, as Quarto does)."""
    found = []
    for path in sorted(root.rglob("*.qmd")):
        parts = path.relative_to(root).parts
        if any(part.startswith(("_", ".")) for part in parts):
            continue
        found.append(Page(path, root))
    return found
