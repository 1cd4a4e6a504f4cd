"""Event-log cursors for stores whose positions are integers in commit order."""

from __future__ import annotations

import re

from omniq.exceptions import ConfigurationError

__all__ = ["parse_position"]

#: ASCII digits only (``str.isdigit`` also takes e.g. ``'²'``), few enough for a 64-bit int.
_POSITION = re.compile(r"[0-9]{1,18}")


def parse_position(cursor: str) -> int:
    """The position an integer cursor names (its decimal digits).

    Raises:
        ConfigurationError: It is not a cursor of such a log.
    """
    if not _POSITION.fullmatch(cursor):
        raise ConfigurationError(
            f"after {cursor!r} is not an event cursor of this store (a decimal position)"
        )
    return int(cursor)
