"""How arguments and results are stored: msgpack for plain values, pickle for the rest.

Plain values are, recursively and with these exact types (not subclasses): ``None``,
``bool``, ``int``, ``float``, ``str``, ``bytes``, ``list``, ``dict`` with ``str`` keys and
``datetime.datetime`` whose ``tzinfo`` is :data:`datetime.UTC`. They are encoded with
msgspec's msgpack encoder and come back with the same types and values.

Outside strict mode, any other value (tuple, set, dataclass, Decimal, naive or non-UTC
datetime, int beyond 64 bits...) makes the whole value fall back to :mod:`pickle` (highest
protocol), then to :mod:`cloudpickle` when plain pickle fails (e.g. a lambda inside), so the
round trip is exact: a tuple comes back a tuple. Naive and non-UTC datetimes are not plain
because msgpack would turn them into a string and a UTC datetime respectively.

In strict mode pickle is never used: the value is given to msgspec as is, so msgspec's
natively supported types are accepted with their documented msgpack conversion (a tuple
comes back a list, a dataclass a dict, a naive datetime a string...) and anything else is
refused with :class:`~omniq.exceptions.SerializationError`.

Errors name what failed with a label given by the caller (``what``, e.g.
``"func_args['x']"`` or ``"result of task 'abc'"``), refined down to the offending item
inside containers, and the offending type (e.g. ``_thread.lock``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import pickle
from typing import Any, Final

import cloudpickle
import msgspec

from omniq.exceptions import SerializationError

__all__ = [
    "cloudpickle_dumps",
    "decode_msgpack",
    "encode_msgpack",
    "is_plain",
    "pickle_value",
    "unpickle_value",
    "unserializable_error",
]

_ENCODER: Final = msgspec.msgpack.Encoder()
_DECODER: Final = msgspec.msgpack.Decoder()

_SCALARS: Final = frozenset({type(None), bool, int, float, str, bytes})
_DATETIME: Final = dt.datetime
_UTC: Final = dt.UTC

#: Containers nested deeper than this are not plain (they are pickled instead).
_MAX_PLAIN_DEPTH: Final = 64
#: How deep the search for the offending item of an unserializable value goes.
_MAX_SEARCH_DEPTH: Final = 16


def is_plain(value: object, max_depth: int = _MAX_PLAIN_DEPTH) -> bool:
    """Tell whether ``value`` is made only of plain types (see the module docstring).

    Args:
        value: Any value.
        max_depth: Deepest nesting of lists and dicts accepted; anything deeper (or a
            cyclic list) is not plain.

    Returns:
        ``True`` when msgpack stores ``value`` exactly. A plain value may still fail to
        encode (an ``int`` outside the 64-bit range, a ``str`` with lone surrogates);
        :func:`encode_msgpack` raises in that case.
    """
    # Hot path (every enqueue and result): exact type checks, scalars tested inline.
    kind = type(value)
    if kind in _SCALARS:
        return True
    if kind is dict:
        if max_depth <= 0:
            return False
        max_depth -= 1
        for key, item in value.items():  # type: ignore[attr-defined]
            if type(key) is not str:
                return False
            if type(item) not in _SCALARS and not is_plain(item, max_depth):
                return False
        return True
    if kind is list:
        if max_depth <= 0:
            return False
        max_depth -= 1
        for item in value:  # type: ignore[attr-defined]
            if type(item) not in _SCALARS and not is_plain(item, max_depth):
                return False
        return True
    if kind is _DATETIME:
        return value.tzinfo is _UTC  # type: ignore[attr-defined]
    return False


def encode_msgpack(value: object) -> bytes:
    """Encode ``value`` with the shared msgspec msgpack encoder.

    Args:
        value: A value msgspec can encode.

    Returns:
        The msgpack bytes.

    Raises:
        TypeError: msgspec does not support a type in ``value``.
        OverflowError: An ``int`` is outside the 64-bit range.
        UnicodeEncodeError: A ``str`` cannot be encoded as UTF-8.
    """
    return _ENCODER.encode(value)


def decode_msgpack(data: bytes | memoryview) -> Any:
    """Decode msgpack bytes with the shared untyped msgspec decoder.

    Args:
        data: Bytes written by :func:`encode_msgpack`.

    Returns:
        The decoded value.

    Raises:
        SerializationError: ``data`` is not valid msgpack.
    """
    try:
        return _DECODER.decode(data)
    except msgspec.DecodeError as exc:
        raise SerializationError(f"cannot decode a msgpack payload: {exc}") from exc


def pickle_value(value: object, what: str) -> bytes:
    """Pickle ``value`` with the highest protocol, falling back to cloudpickle.

    Args:
        value: Any value.
        what: What ``value`` is, for the error message (e.g. ``"func_args['x']"``).

    Returns:
        The pickle bytes (loadable with :func:`pickle.loads` either way).

    Raises:
        SerializationError: Neither pickle nor cloudpickle can serialize ``value``; the
            message names ``what`` (refined to the offending item) and its type.
    """
    try:
        return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # cloudpickle handles what pickle cannot, or fails below
        pass
    try:
        data = cloudpickle_dumps(value)
    except Exception as exc:
        raise unserializable_error(value, what, strict=False) from exc
    return data


class _Pickler(cloudpickle.Pickler):  # type: ignore[misc]
    """cloudpickle, except that open files and streams are refused.

    cloudpickle stores an open file as its contents (read at enqueue), which is never what
    a task wants: the task would get a copy of the file, not the file. Like a lock or a
    generator, an open file cannot be stored; pass its path instead.
    """

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, io.IOBase):
            raise TypeError(
                f"cannot pickle an open file or stream ({type(obj).__name__!r} object): "
                "pass its path instead"
            )
        return super().reducer_override(obj)


def cloudpickle_dumps(value: object) -> bytes:
    """Pickle ``value`` with cloudpickle (highest protocol), refusing open files and streams.

    Raises:
        TypeError: ``value`` holds an open file or stream.
        Exception: Whatever else cloudpickle raises for a value it cannot pickle.
    """
    buffer = io.BytesIO()
    _Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(value)
    return buffer.getvalue()


def unpickle_value(data: bytes | memoryview, what: str) -> Any:
    """Load a value written by :func:`pickle_value`.

    This runs arbitrary code from ``data``: only call it on trusted (or verified) bytes.

    Args:
        data: The pickle bytes.
        what: What is loaded, for the error message.

    Returns:
        The value.

    Raises:
        SerializationError: The bytes cannot be unpickled (corrupt data, or a class or
            module missing in this process).
    """
    try:
        return pickle.loads(data)  # pickled values, see the trust model
    except Exception as exc:
        raise SerializationError(f"cannot load {what}: {type(exc).__name__}: {exc}") from exc


def _type_name(value: object) -> str:
    kind = type(value)
    if kind.__module__ == "builtins":
        return kind.__qualname__
    return f"{kind.__module__}.{kind.__qualname__}"


def _storing_error(value: object, *, strict: bool) -> Exception | None:
    """Return why ``value`` cannot be stored, or ``None`` when it can."""
    if strict:
        try:
            _ENCODER.encode(value)
        except Exception as exc:
            return exc
        return None
    try:
        pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:
        try:
            cloudpickle_dumps(value)
        except Exception as exc:
            return exc
    return None


def _children(value: object, label: str) -> list[tuple[str, object]]:
    """List the items inside ``value`` with their labels, for the offender search."""
    if isinstance(value, dict):
        children: list[tuple[str, object]] = []
        for key, item in value.items():
            children.append((f"the key {key!r} of {label}", key))
            children.append((f"{label}[{key!r}]", item))
        return children
    if isinstance(value, list | tuple):
        return [(f"{label}[{index}]", item) for index, item in enumerate(value)]
    if isinstance(value, set | frozenset):
        return [(f"an element of {label}", item) for item in value]
    if isinstance(value, type) or callable(value):
        return []
    slots = getattr(type(value), "__slots__", ())
    attributes: dict[str, object] = {}
    with contextlib.suppress(TypeError):  # no __dict__
        attributes.update(vars(value))
    for name in (slots,) if isinstance(slots, str) else slots:
        if isinstance(name, str) and hasattr(value, name):
            attributes[name] = getattr(value, name)
    return [(f"{label}.{name}", item) for name, item in attributes.items()]


def _find_offender(value: object, what: str, *, strict: bool) -> tuple[str, object, Exception]:
    """Descend into ``value`` to the innermost item that cannot be stored."""
    label, cause = what, _storing_error(value, strict=strict)
    if cause is None:  # stored fine on its own: blame the whole value
        return label, value, Exception("unknown error")
    for _ in range(_MAX_SEARCH_DEPTH):
        for child_label, child in _children(value, label):
            child_cause = _storing_error(child, strict=strict)
            if child_cause is not None:
                label, value, cause = child_label, child, child_cause
                break
        else:
            break
    return label, value, cause


def unserializable_error(value: object, what: str, *, strict: bool) -> SerializationError:
    """Build the error for a value that cannot be stored, naming the offending item.

    Containers (dict, list, tuple, set) and object attributes are searched for the
    innermost item that fails, so ``{"x": [1, lock]}`` labelled ``"func_args"`` is
    reported as ``func_args['x'][1]`` of type ``_thread.lock``.

    Args:
        value: The value that failed to serialize.
        what: Label of ``value`` (e.g. ``"func_args"`` or ``"result of task 'abc'"``).
        strict: Whether the failure was msgspec's in strict mode (else pickle's).

    Returns:
        The error, for the caller to raise (chained to the original exception).
    """
    label, offender, cause = _find_offender(value, what, strict=strict)
    how = "msgpack (strict mode, pickle refused)" if strict else "msgpack or pickle"
    return SerializationError(
        f"cannot serialize {label}: objects of type {_type_name(offender)} cannot be "
        f"stored with {how} ({type(cause).__name__}: {cause})"
    )
