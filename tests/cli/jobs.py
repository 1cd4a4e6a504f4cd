"""Task functions the ``omniq worker`` processes of the CLI tests import (``--import``)."""

from __future__ import annotations

import os
import time
from pathlib import Path


def add(x: int, y: int) -> int:
    return x + y


def pid() -> int:
    return os.getpid()


def fails(message: str) -> None:
    raise ValueError(message)


def slow(marker: str, seconds: float) -> str:
    """Touch ``marker`` (the test knows it started), sleep, return the worker's pid."""
    Path(marker).touch()
    time.sleep(seconds)
    return f"done in {os.getpid()}"


def hangs_first_time(marker: str) -> str:
    """Block for a long time on the first run; return at once on a later one."""
    path = Path(marker)
    if not path.exists():
        path.touch()
        time.sleep(60)
        return "first run"
    return f"second run in {os.getpid()}"


def fails_first_time(marker: str) -> str:
    """Raise on the first run (touching ``marker``); return on a later one."""
    path = Path(marker)
    if not path.exists():
        path.touch()
        raise ValueError("first run fails")
    return "second run"
