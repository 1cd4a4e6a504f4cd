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

__all__ = ["age", "console", "json_option", "print_json", "when"]

F = TypeVar("F", bound=Callable[..., Any])

#: Human output goes to stdout; errors and logs go to stderr.
console = Console(highlight=False, width=None if sys.stdout.isatty() else 200)


def json_option(command: F) -> F:
    """Add ``--json``: print machine-readable JSON instead of tables."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON.")(command)


def print_json(value: Any) -> None:
    """Print ``value`` (structs, datetimes, enums... included) as one JSON document."""
    data = msgspec.to_builtins(value, enc_hook=repr)
    click.echo(json.dumps(data, indent=2, default=repr))


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
