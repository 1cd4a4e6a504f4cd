"""Settings that arrive as text (environment variables, ``${VAR}`` substitutions).

Such values are marked :class:`EnvText` when read, and converted with the type the model
expects once the layers are merged (only then is e.g. a section's backend type known): ints,
floats, bools (``true/false``, ``1/0``, ``yes/no``, ``on/off``), comma-separated lists, and
``""`` / ``null`` for an optional value.
"""

from __future__ import annotations

import collections.abc
import types
import typing
from pathlib import PurePath
from typing import Any, Literal

from omniq.exceptions import ConfigurationError

__all__ = ["EnvText", "from_text"]

_LISTS = (list, tuple, set, frozenset, collections.abc.Sequence)
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


class EnvText(str):
    """A string read from the environment, to be converted to the expected type.

    Attributes:
        origin: Where it came from, for error messages (e.g. ``$OMNIQ_WORKER_TYPE``).
    """

    origin: str

    def __new__(cls, value: str, origin: str) -> EnvText:  # noqa: D102
        text = super().__new__(cls, value)
        text.origin = origin
        return text


def _kinds(annotation: Any) -> set[type]:
    """The plain types a value of ``annotation`` may take (str for anything unknown)."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return set().union(*(_kinds(arg) for arg in typing.get_args(annotation)))
    if origin is Literal:
        return {type(arg) for arg in typing.get_args(annotation)}
    if origin in _LISTS or annotation in _LISTS:
        return {list}
    if annotation is type(None):
        return {type(None)}
    if annotation in (bool, int, float, str):
        return {annotation}
    if isinstance(annotation, type) and issubclass(annotation, PurePath):
        return {str}
    return {str}


def from_text(text: EnvText, annotation: Any, path: str) -> Any:
    """Convert ``text`` to the type ``annotation`` describes.

    Args:
        text: The raw text.
        annotation: The expected type (``int``, ``float | None``, ``list[str]``...).
        path: The key path, for the error message.

    Returns:
        The converted value (a plain ``str`` when a string is expected).

    Raises:
        ConfigurationError: The text is not a valid value of that type.
    """
    kinds = _kinds(annotation)
    raw = str(text).strip()
    if type(None) in kinds and raw.lower() in ("", "null", "none"):
        return None
    if list in kinds:
        return [item.strip() for item in raw.split(",") if item.strip()]
    if bool in kinds:
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        if len(kinds - {type(None)}) == 1:
            raise ConfigurationError(
                f"{path}: {raw!r} (from {text.origin}) is not a boolean: expected true or false"
            )
    if int in kinds:
        try:
            return int(raw)
        except ValueError:
            if float not in kinds and str not in kinds:
                raise ConfigurationError(
                    f"{path}: {raw!r} (from {text.origin}) is not an integer"
                ) from None
    if float in kinds:
        try:
            return float(raw)
        except ValueError:
            if str not in kinds:
                raise ConfigurationError(
                    f"{path}: {raw!r} (from {text.origin}) is not a number"
                ) from None
    return str(text)
