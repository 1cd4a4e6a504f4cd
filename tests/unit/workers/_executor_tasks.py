"""Importable task bodies for the executor unit tests (child processes resolve them by name)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
import time
from pathlib import Path


def write_atomically(path: str | Path, text: str) -> None:
    """Write ``text`` to a temporary file, then rename it to ``path``.

    A reader polling for ``path`` sees no file or the whole text, never an empty or partial
    file (``Path.write_text`` creates the file before it writes).
    """
    target = Path(path)
    temporary = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    temporary.write_text(text)
    os.replace(temporary, target)


def pid() -> int:
    return os.getpid()


def add(x: int, y: int) -> int:
    return x + y


async def async_add(x: int, y: int) -> int:
    await asyncio.sleep(0)
    return x + y


def fail(message: str) -> None:
    raise ValueError(message)


class NeedsTwoArguments(Exception):
    """Pickles, but cannot be rebuilt from its args (``__init__`` wants two)."""

    def __init__(self, first: str, second: str) -> None:
        super().__init__(f"{first} and {second}")


def fail_unrebuildable() -> None:
    raise NeedsTwoArguments("one", "two")


def exit_with(code: int) -> None:
    sys.exit(code)


def hard_exit(code: int) -> None:
    os._exit(code)


def kill_self() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def return_lock() -> object:
    return threading.Lock()


def sleep_then_mark(seconds: float, mark: str) -> int:
    """Sleep, then create ``mark``: the file is missing if the body was stopped."""
    write_atomically(f"{mark}.pid", str(os.getpid()))
    time.sleep(seconds)
    Path(mark).write_text("finished")
    return os.getpid()


def wait_for_file(path: str, timeout: float = 20.0) -> int:
    deadline = time.monotonic() + timeout
    while not Path(path).exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} never appeared")
        time.sleep(0.005)
    return os.getpid()
