"""Task functions the ``omniq worker`` processes of the CLI tests import (``--import``)."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path


def add(x: int, y: int) -> int:
    return x + y


def pid() -> int:
    return os.getpid()


def gevent_patched() -> bool:
    """Whether the process running this body was monkey-patched by gevent."""
    monkey = sys.modules.get("gevent.monkey")
    return monkey is not None and bool(monkey.is_module_patched("socket"))


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


async def hangs_first_time_async(marker: str) -> str:
    """Coroutine twin of :func:`hangs_first_time` (a stopping worker interrupts it)."""
    if hangs_first_time_marked(marker):
        await asyncio.sleep(60)
        return "first run"
    return f"second run in {os.getpid()}"


def hangs_first_time_marked(marker: str) -> bool:
    """Whether this is the first run (``marker`` absent); touches it."""
    path = Path(marker)
    if path.exists():
        return False
    path.touch()
    return True


def waits_for(marker: str, release: str, max_wait: float = 30.0) -> str:
    """Touch ``marker``, then wait (bounded) for the file ``release``; return the pid."""
    Path(marker).touch()
    deadline = time.monotonic() + max_wait
    while not Path(release).exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    return f"released in {os.getpid()}"


def fails_first_time(marker: str) -> str:
    """Raise on the first run (touching ``marker``); return on a later one."""
    path = Path(marker)
    if not path.exists():
        path.touch()
        raise ValueError("first run fails")
    return "second run"


class BoobyTrap:
    """Creates ``marker`` when unpickled: shows whether a reader loaded a pickle."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (self.marker, "w"))


def booby_trap(marker: str) -> BoobyTrap:
    """Return a result whose pickle creates ``marker`` when loaded."""
    return BoobyTrap(marker)
