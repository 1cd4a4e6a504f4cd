"""Checks of public arguments: each failure names the bad value and what was expected."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from typing import Any

from omniq.exceptions import ConfigurationError

__all__ = [
    "check_callable",
    "check_kwargs_mapping",
    "check_non_negative_int",
    "check_optional_text",
    "check_queue_name",
    "check_run_time",
    "check_seconds",
    "check_tags",
]

_QUEUE_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")


def check_callable(func: object, what: str = "func") -> None:
    """Raise unless ``func`` is callable."""
    if not callable(func):
        raise ConfigurationError(f"{what} {func!r} is not callable: expected a function")


def check_kwargs_mapping(value: object, what: str) -> dict[str, Any]:
    """Return ``value`` as a dict of keyword arguments (``None`` gives ``{}``)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigurationError(
            f"{what} {value!r} is a {type(value).__name__}: expected a mapping of argument "
            "names to values, e.g. {'x': 1}"
        )
    for key in value:
        if not isinstance(key, str) or not key.isidentifier():
            raise ConfigurationError(f"{what} key {key!r} is not a valid keyword argument name")
    return dict(value)


def check_queue_name(queue_name: object, what: str = "queue_name") -> str:
    """Return a valid queue name (1-128 of letters, digits, ``_ . : -``)."""
    if not isinstance(queue_name, str) or not _QUEUE_NAME.match(queue_name):
        raise ConfigurationError(
            f"{what} {queue_name!r} is not valid: expected 1-128 characters of letters, "
            "digits, '_', '.', ':' or '-'"
        )
    return queue_name


def check_optional_text(value: object, what: str) -> str | None:
    """Return ``value`` if it is a string or ``None``."""
    if value is not None and not isinstance(value, str):
        raise ConfigurationError(f"{what} {value!r} is not a string")
    return value


def check_tags(tags: object) -> list[str]:
    """Return tags as a list of strings (``None`` gives ``[]``)."""
    if tags is None:
        return []
    if isinstance(tags, str) or not isinstance(tags, Iterable):
        raise ConfigurationError(f"tags {tags!r} is not a list of strings")
    result = list(tags)
    for tag in result:
        if not isinstance(tag, str):
            raise ConfigurationError(f"tag {tag!r} in tags is not a string")
    return result


def check_non_negative_int(value: object, what: str) -> int:
    """Return ``value`` if it is an int >= 0 (bools are refused)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigurationError(f"{what} {value!r} is not valid: expected an integer >= 0")
    return value


def check_seconds(
    value: object, what: str, *, allow_zero: bool = True, allow_none: bool = True
) -> float | None:
    """Return a duration in seconds from a ``timedelta`` or a number.

    Args:
        value: ``timedelta``, ``int`` or ``float`` (seconds), or ``None``.
        what: Argument name for the message.
        allow_zero: Whether 0 is accepted.
        allow_none: Whether ``None`` is accepted.

    Returns:
        Seconds as a float, or ``None``.
    """
    if value is None:
        if allow_none:
            return None
        raise ConfigurationError(f"{what} is required: expected a timedelta or seconds")
    if isinstance(value, dt.timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise ConfigurationError(
            f"{what} {value!r} is not valid: expected a datetime.timedelta or a number of seconds"
        )
    if seconds != seconds or seconds in (float("inf"), float("-inf")):
        raise ConfigurationError(f"{what} {value!r} is not a finite duration")
    if seconds < 0 or (seconds == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ConfigurationError(f"{what} {value!r} is not valid: expected a duration {bound}")
    return seconds


def check_run_time(run_at: object, run_in: object, now: float) -> float:
    """Return the epoch time a task becomes due from ``run_at`` / ``run_in`` (or ``now``).

    A naive ``run_at`` is taken as local time, like :meth:`datetime.datetime.timestamp`.
    """
    if run_at is not None and run_in is not None:
        raise ConfigurationError(
            f"run_at {run_at!r} and run_in {run_in!r} were both given: expected at most one"
        )
    if run_at is not None:
        if not isinstance(run_at, dt.datetime):
            raise ConfigurationError(f"run_at {run_at!r} is not a datetime.datetime")
        return run_at.timestamp()
    delay = check_seconds(run_in, "run_in")
    return now + (delay or 0.0)
