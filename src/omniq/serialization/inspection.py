"""Showing stored payloads without running them: pickles are described, never loaded.

Loading a pickle runs code chosen by whoever wrote it, so tools that only *read* a store
(``omniq tasks list``, ``omniq results get``...) show a pickled part as a :class:`Pickled`
placeholder: its size and the globals it names, read from its opcodes with
:mod:`pickletools` (which parses, and never calls, anything). A part that cannot be read at
all (a bad signature, a damaged payload) is shown as :class:`Unreadable`, so one bad row
does not hide the others.
"""

from __future__ import annotations

import pickletools
from typing import Final

__all__ = ["PICKLED", "UNREADABLE", "Pickled", "Unreadable", "describe_pickle"]

#: Key under which a pickled argument dict is shown (not an argument name: not a str key
#: a call could have).
PICKLED: Final = "(pickled, not loaded)"
#: Key under which the reason of unreadable arguments is shown.
UNREADABLE: Final = "(unreadable)"

#: Most global names listed by a :class:`Pickled` placeholder.
_MAX_NAMES: Final = 5

_STRING_OPS: Final = frozenset(
    {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "SHORT_BINSTRING", "BINSTRING"}
)


class Pickled:
    """A pickle payload that was not loaded.

    Attributes:
        size: Its length in bytes.
        refers_to: The globals (``module.name``) it would import when loaded, as far as its
            opcodes tell (at most five); ``None`` when it is not a valid pickle.
    """

    __slots__ = ("refers_to", "size")

    def __init__(self, size: int, refers_to: tuple[str, ...] | None) -> None:
        self.size = size
        self.refers_to = refers_to

    def __repr__(self) -> str:
        text = f"<pickled, not loaded: {self.size} bytes"
        if self.refers_to is None:
            return f"{text}, not a valid pickle>"
        if self.refers_to:
            text += f", refers to {', '.join(self.refers_to)}"
        return f"{text}>"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Pickled):
            return NotImplemented
        return (self.size, self.refers_to) == (other.size, other.refers_to)

    def __hash__(self) -> int:
        return hash((self.size, self.refers_to))


class Unreadable:
    """Stored data that could not be read; ``reason`` says why (e.g. a bad signature).

    Attributes:
        reason: The error, ``"Type: message"``.
    """

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __repr__(self) -> str:
        return f"<unreadable: {self.reason}>"


def describe_pickle(data: bytes | memoryview) -> Pickled:
    """Describe a pickle without loading it: its size and the globals it names.

    Args:
        data: The pickle bytes.

    Returns:
        The placeholder.
    """
    names: list[str] = []
    strings: list[str] = []
    try:
        for opcode, argument, _position in pickletools.genops(bytes(data)):
            if opcode.name in _STRING_OPS and isinstance(argument, str | bytes):
                text = argument if isinstance(argument, str) else argument.decode("latin-1")
                strings = [*strings[-1:], text]
            elif opcode.name in ("GLOBAL", "INST") and isinstance(argument, str):
                names.append(argument.replace(" ", "."))
            elif opcode.name == "STACK_GLOBAL" and len(strings) == 2:
                names.append(".".join(strings))
    except Exception:  # malformed: say so, never guess
        return Pickled(len(data), None)
    return Pickled(len(data), tuple(dict.fromkeys(names))[:_MAX_NAMES])
