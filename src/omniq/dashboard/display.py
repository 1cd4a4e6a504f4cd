"""Showing stored values in a page without ever loading a pickle.

The dashboard's OmniQ reads the store with a display serializer
(:meth:`omniq.serialization.Serializer.for_display`): plain (msgpack) arguments and results
arrive as Python values, pickled ones as :class:`~omniq.serialization.inspection.Pickled`
placeholders (type and size, read from the opcodes) and damaged ones as
:class:`~omniq.serialization.inspection.Unreadable`. This module turns those into text.
"""

from __future__ import annotations

import datetime as dt
import reprlib
from collections.abc import Mapping
from typing import Any

import msgspec

from omniq.serialization.inspection import PICKLED, UNREADABLE, Pickled, Unreadable

__all__ = ["Shown", "ago", "arguments", "one_line", "shown", "stamp", "stamp_ts"]

_short = reprlib.Repr()
_short.maxstring = 200
_short.maxother = 200
_short.maxlist = 20
_short.maxdict = 20
_short.maxlevel = 4


class Shown(msgspec.Struct, frozen=True):
    """One value as a page shows it.

    Attributes:
        text: The text.
        kind: ``"plain"``, ``"pickled"`` (not loaded) or ``"unreadable"``.
    """

    text: str
    kind: str = "plain"


def shown(value: Any, limit: int = 4000) -> Shown:
    """A value as text: plain data as JSON when it can be, placeholders as what they are."""
    if isinstance(value, Pickled):
        if value.refers_to is None:
            return Shown(f"pickled, not loaded: {value.size} bytes (not a valid pickle)", "pickled")
        refers = f", refers to {', '.join(value.refers_to)}" if value.refers_to else ""
        return Shown(f"pickled, not loaded: {value.size} bytes{refers}", "pickled")
    if isinstance(value, Unreadable):
        return Shown(f"unreadable: {value.reason}", "unreadable")
    try:
        text = msgspec.json.format(msgspec.json.encode(value), indent=2).decode()
    except (TypeError, ValueError, OverflowError):
        text = _short.repr(value)
    if len(text) > limit:
        text = text[:limit] + f"\n... ({len(text) - limit} more characters)"
    return Shown(text)


def arguments(args: Mapping[str, Any], kwargs: Mapping[str, Any]) -> list[tuple[str, Shown]]:
    """A task's arguments as ``(name, shown value)`` pairs (placeholders get a label)."""
    pairs = []
    for name, value in {**args, **kwargs}.items():
        label = {PICKLED: "(pickled)", UNREADABLE: "(unreadable)"}.get(name, name)
        pairs.append((label, shown(value)))
    return pairs


def one_line(args: Mapping[str, Any], kwargs: Mapping[str, Any], limit: int = 80) -> str:
    """A task's arguments on one line, for a table cell."""
    parts = []
    for name, value in {**args, **kwargs}.items():
        if name in (PICKLED, UNREADABLE):
            parts.append(shown(value).text)
        else:
            parts.append(f"{name}={_short.repr(value)}")
    text = ", ".join(parts)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def stamp(moment: dt.datetime | None) -> str:
    """A UTC time as ``2026-12-05 06:30:01`` (empty for ``None``)."""
    return "" if moment is None else moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def stamp_ts(timestamp: float) -> str:
    """A UTC time in seconds since the epoch, with milliseconds: ``06:30:01.250``."""
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%H:%M:%S.%f")[:-3]


def ago(seconds: float | None) -> str:
    """A duration as ``4s``, ``3m 20s``, ``2h 5m``, ``3d 4h`` (empty for ``None``)."""
    if seconds is None:
        return ""
    seconds = max(0.0, seconds)
    if seconds < 10:
        return f"{seconds:.1f}s"
    whole = int(seconds)
    for unit, size, sub, sub_size in (("d", 86400, "h", 3600), ("h", 3600, "m", 60),
                                      ("m", 60, "s", 1)):  # fmt: skip
        if whole >= size:
            rest = (whole % size) // sub_size
            return f"{whole // size}{unit}" + (f" {rest}{sub}" if rest else "")
    return f"{whole}s"
