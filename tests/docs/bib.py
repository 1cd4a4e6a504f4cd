"""A small BibTeX reader: enough to know which keys ``references.bib`` defines."""

from __future__ import annotations

import re

_ENTRY = re.compile(r"@(?P<type>\w+)\s*\{\s*(?P<key>[^,\s]+)\s*,", re.MULTILINE)
_FIELD = re.compile(r"(?P<name>\w+)\s*=\s*", re.MULTILINE)


def _balanced(text: str, start: int) -> int:
    """Index just past the ``}`` closing the ``{`` at ``start``."""
    depth = 0
    for index in range(start, len(text)):
        if text[index] == "{":
            depth += 1
        elif text[index] == "}":
            depth -= 1
            if depth == 0:
                return index + 1
    raise ValueError(f"unbalanced braces from offset {start}")


def _fields(body: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    position = 0
    while (match := _FIELD.search(body, position)) is not None:
        start = match.end()
        if start < len(body) and body[start] == "{":
            end = _balanced(body, start)
            value = body[start + 1 : end - 1]
        elif start < len(body) and body[start] == '"':
            end = body.index('"', start + 1) + 1
            value = body[start + 1 : end - 1]
        else:
            end = start
            while end < len(body) and body[end] not in ",\n":
                end += 1
            value = body[start:end]
        fields[match["name"].lower()] = " ".join(value.split())
        position = end
    return fields


def parse(text: str) -> dict[str, dict[str, str]]:
    """``{key: {"type": ..., field: value}}`` for every entry (``@comment`` etc. skipped).

    Raises:
        ValueError: Unbalanced braces, or a key defined twice.
    """
    entries: dict[str, dict[str, str]] = {}
    for match in _ENTRY.finditer(text):
        kind = match["type"].lower()
        if kind in {"comment", "preamble", "string"}:
            continue
        brace = text.index("{", match.start())
        end = _balanced(text, brace)
        key = match["key"]
        if key in entries:
            raise ValueError(f"key {key!r} is defined twice")
        entries[key] = {"type": kind, **_fields(text[match.end() : end - 1])}
    return entries
