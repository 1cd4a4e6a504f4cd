"""Checks of public arguments: each failure names the bad value and what was expected."""

from __future__ import annotations

import datetime as dt
import functools
import inspect
import re
from collections.abc import Iterable, Mapping
from typing import Any

from omniq.exceptions import ConfigurationError

__all__ = [
    "INT_MAX",
    "INT_MIN",
    "MAX_BACKOFF",
    "MAX_SECONDS",
    "MAX_TIME",
    "MIN_INTERVAL",
    "MIN_TIME",
    "check_backoff",
    "check_call",
    "check_callable",
    "check_int",
    "check_kwargs_mapping",
    "check_non_negative_int",
    "check_optional_text",
    "check_queue_name",
    "check_run_time",
    "check_seconds",
    "check_tags",
    "check_text",
    "check_time",
]

_QUEUE_NAME = re.compile(r"[A-Za-z0-9_.:-]{1,128}")

#: Bounds of the stored integers (``priority``, ``max_retries``, ``max_runs``): 32-bit signed,
#: the narrowest integer column among the backends (PostgreSQL ``integer``).
INT_MIN = -(2**31)
INT_MAX = 2**31 - 1

#: Longest duration accepted (``run_in``, ``ttl``, ``timeout``, retry delays, intervals...):
#: 100 years of 365 days. The computed retry delay is capped at it too.
MAX_SECONDS = 100 * 365 * 86400.0

#: Range of the times accepted (``run_at``, now + ``run_in``), as epoch seconds: from
#: 1970-01-01 to 9000-01-01 UTC. Any time in it plus any duration stays a valid datetime.
MIN_TIME = 0.0
MAX_TIME = dt.datetime(9000, 1, 1, tzinfo=dt.UTC).timestamp()

#: Shortest interval of an interval schedule, in seconds.
MIN_INTERVAL = 0.1

#: Largest ``retry_backoff`` (the multiplier of the retry delay per retry).
MAX_BACKOFF = 100.0


def check_callable(func: object, what: str = "func") -> None:
    """Raise unless ``func`` is callable."""
    if not callable(func):
        raise ConfigurationError(f"{what} {func!r} is not callable: expected a function")


#: What keyword calls a signature accepts: (parameter names, required names, has
#: ``**kwargs``), or ``None`` when only :meth:`inspect.Signature.bind` can tell.
_KeywordShape = tuple[frozenset[str], frozenset[str], bool] | None


@functools.lru_cache(maxsize=512)
def _cached_signature(func: Any) -> tuple[inspect.Signature | None, _KeywordShape]:
    signature = _signature(func)
    return signature, None if signature is None else _keyword_shape(signature)


def _keyword_shape(signature: inspect.Signature) -> _KeywordShape:
    names: set[str] = set()
    required: set[str] = set()
    var_keyword = False
    for parameter in signature.parameters.values():
        kind = parameter.kind
        if kind is inspect.Parameter.POSITIONAL_ONLY:
            return None
        if kind is inspect.Parameter.VAR_KEYWORD:
            var_keyword = True
        elif kind is not inspect.Parameter.VAR_POSITIONAL:
            names.add(parameter.name)
            if parameter.default is inspect.Parameter.empty:
                required.add(parameter.name)
    return frozenset(names), frozenset(required), var_keyword


def _signature(func: Any) -> inspect.Signature | None:
    try:
        return inspect.signature(func)
    except (TypeError, ValueError):  # e.g. some builtins: nothing to check against
        return None


def check_call(
    func: object, arguments: Mapping[str, Any], what: str = "func", leading: int = 0
) -> None:
    """Raise unless ``func(*[None] * leading, **arguments)`` matches ``func``'s signature.

    Nothing is called: the arguments are bound with :meth:`inspect.Signature.bind`. A
    callable whose signature cannot be read is accepted as is.

    Args:
        func: The callable.
        arguments: The keyword arguments it will get.
        what: Its name for the message (``func``, ``callback``).
        leading: How many positional arguments come first (1 for a callback's result).

    Raises:
        ConfigurationError: An argument is missing, or one is not accepted; the message
            names it and the function.
    """
    try:
        signature, shape = _cached_signature(func)
    except TypeError:  # unhashable callable
        signature, shape = _signature(func), None
    if signature is None:
        return
    if shape is not None and not leading:  # the common case, without binding
        names, required, var_keyword = shape
        given = arguments.keys()
        if required <= given and (var_keyword or given <= names):
            return
    try:
        signature.bind(*([None] * leading), **arguments)
    except TypeError as exc:
        name = getattr(func, "__qualname__", None) or repr(func)
        raise ConfigurationError(
            f"{what} {name}{signature} cannot be called with the arguments "
            f"{sorted(arguments)}: {exc}"
        ) from None


def check_backoff(value: object, what: str = "retry_backoff") -> float:
    """Return ``retry_backoff`` as a float if it is a number from 1 to :data:`MAX_BACKOFF`."""
    number = None if isinstance(value, bool) or not isinstance(value, int | float) else value
    if number is None or not 1 <= number <= MAX_BACKOFF:
        raise ConfigurationError(
            f"{what} {value!r} is not valid: expected a number from 1 to {MAX_BACKOFF:g} "
            "(1 = constant delay, 2 = doubling)"
        )
    return float(number)


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


def check_id(value: object, what: str) -> str:
    """Return ``value`` if it is an id (a non-empty string), else raise naming ``what``."""
    if not isinstance(value, str) or not value:
        raise ConfigurationError(f"{what} {value!r} is not a non-empty string")
    return value


def check_queue_name(queue_name: object, what: str = "queue_name") -> str:
    """Return a valid queue name (1-128 of letters, digits, ``_ . : -``)."""
    if not isinstance(queue_name, str) or not _QUEUE_NAME.fullmatch(queue_name):
        raise ConfigurationError(
            f"{what} {queue_name!r} is not valid: expected 1-128 characters of letters, "
            "digits, '_', '.', ':' or '-'"
        )
    return queue_name


def check_text(value: object, what: str) -> str:
    """Return ``value`` if it is a string that can be stored (valid UTF-8: no lone surrogate)."""
    if not isinstance(value, str):
        raise ConfigurationError(f"{what} {value!r} is not a string")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ConfigurationError(
            f"{what} {value!r} is not valid: it holds {value[exc.start : exc.end]!r}, which "
            "UTF-8 cannot encode (a lone surrogate): expected text that UTF-8 can encode"
        ) from None
    return value


def check_optional_text(value: object, what: str) -> str | None:
    """Return ``value`` if it is ``None`` or a string that can be stored (see check_text)."""
    return None if value is None else check_text(value, what)


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
        check_text(tag, "tags item")
    return result


def check_int(value: object, what: str, minimum: int = INT_MIN, maximum: int = INT_MAX) -> int:
    """Return ``value`` if it is an int from ``minimum`` to ``maximum`` (bools are refused)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigurationError(f"{what} {value!r} is not an integer")
    if not minimum <= value <= maximum:
        raise ConfigurationError(
            f"{what} {value!r} is out of range: expected an integer from {minimum} to {maximum}"
        )
    return value


def check_non_negative_int(value: object, what: str) -> int:
    """Return ``value`` if it is an int from 0 to :data:`INT_MAX` (bools are refused)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigurationError(f"{what} {value!r} is not valid: expected an integer >= 0")
    return check_int(value, what, 0)


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
    if seconds > MAX_SECONDS:
        raise ConfigurationError(
            f"{what} {value!r} is too long: expected at most 100 years ({MAX_SECONDS:.0f} s)"
        )
    return seconds


def check_time(value: object, what: str) -> float:
    """Return the epoch time of a ``datetime`` from 1970-01-01 to 9000-01-01 UTC.

    A naive datetime is taken as local time, like :meth:`datetime.datetime.timestamp`.
    """
    if not isinstance(value, dt.datetime):
        raise ConfigurationError(f"{what} {value!r} is not a datetime.datetime")
    try:
        timestamp = value.timestamp()
    except (OverflowError, ValueError, OSError):
        timestamp = float("nan")
    return _in_time_range(timestamp, value, what)


def _in_time_range(timestamp: float, value: object, what: str) -> float:
    if not MIN_TIME <= timestamp <= MAX_TIME:
        raise ConfigurationError(
            f"{what} {value!r} is out of range: expected a time from 1970-01-01 to 9000-01-01 UTC"
        )
    return timestamp


def check_run_time(run_at: object, run_in: object, now: float) -> float:
    """Return the epoch time a task becomes due from ``run_at`` / ``run_in`` (or ``now``).

    A naive ``run_at`` is taken as local time, like :meth:`datetime.datetime.timestamp`.
    """
    if run_at is not None and run_in is not None:
        raise ConfigurationError(
            f"run_at {run_at!r} and run_in {run_in!r} were both given: expected at most one"
        )
    if run_at is not None:
        return check_time(run_at, "run_at")
    delay = check_seconds(run_in, "run_in")
    return now + (delay or 0.0)
