"""Printing for people (rich) and for scripts (``--json``)."""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from collections.abc import Callable
from typing import Any, TypeVar

import click
import msgspec
from rich.console import Console

__all__ = ["age", "console", "duration", "iso", "json_option", "json_ready", "print_json", "when"]

F = TypeVar("F", bound=Callable[..., Any])

#: Human output goes to stdout; errors and logs go to stderr.
console = Console(highlight=False, width=None if sys.stdout.isatty() else 200)


def json_option(command: F) -> F:
    """Add ``--json``: print machine-readable JSON instead of tables."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON.")(command)


#: Keys whose float values are times (seconds since the epoch): ISO 8601 in JSON output.
_TIME_KEYS = frozenset({"timestamp"})


def json_ready(value: Any) -> Any:
    """``value`` as JSON-ready builtins, every time an ISO 8601 string (UTC).

    Datetimes are ISO 8601 already; an event's ``timestamp`` (seconds since the epoch) is
    turned into the same form, so every time of the command's JSON reads alike. Durations
    (``interval``) are ISO 8601 durations (``PT1M30S``).
    """
    return _iso_times(msgspec.to_builtins(value, enc_hook=repr))


def _iso_times(data: Any) -> Any:
    if isinstance(data, dict):
        return {
            key: iso(item) if key in _TIME_KEYS and isinstance(item, int | float) and not
            isinstance(item, bool) else _iso_times(item)
            for key, item in data.items()
        }  # fmt: skip
    if isinstance(data, list):
        return [_iso_times(item) for item in data]
    return data


def iso(timestamp: float) -> str:
    """Seconds since the epoch as ISO 8601 in UTC, e.g. ``2026-12-05T04:41:10.123456Z``."""
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).isoformat().replace("+00:00", "Z")


def print_json(value: Any) -> None:
    """Print ``value`` (structs, datetimes, enums... included) as one JSON document."""
    click.echo(json.dumps(json_ready(value), indent=2, default=repr))


def duration(value: dt.timedelta | float | None) -> str:
    """A readable duration: ``300ms``, ``45s``, ``1m30s``, ``2h``, ``1d2h``; ``-`` for none."""
    if value is None:
        return "-"
    seconds = value.total_seconds() if isinstance(value, dt.timedelta) else float(value)
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    if seconds < 60:
        return f"{seconds:g}s"
    parts = []
    rest = round(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, rest = divmod(rest, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def when(value: dt.datetime | float | None) -> str:
    """A local, readable time (``-`` for none)."""
    if value is None:
        return "-"
    if isinstance(value, dt.datetime):
        value = value.timestamp()
    return dt.datetime.fromtimestamp(value).strftime("%Y-%m-%d %H:%M:%S")


def age(seconds: float | None) -> str:
    """A short duration, e.g. ``3.2s``, ``4m10s``, ``2h05m``, ``3d4h``."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours}h"


def since(value: dt.datetime | None) -> float | None:
    """Seconds from ``value`` to now."""
    return None if value is None else max(0.0, time.time() - value.timestamp())
