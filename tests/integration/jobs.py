"""Task functions run by the integration tests' worker processes.

They live in an importable module (not ``__main__``) so OmniQ stores them by reference and
any process with the same ``sys.path`` runs the very same code. Every side effect a test
inspects goes to plain files, written with ``O_APPEND`` so concurrent writers never
interleave or lose lines.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path


def append_line(path: str | Path, line: str) -> None:
    """Append one line to ``path`` in a single ``O_APPEND`` write (atomic for short lines)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, f"{line}\n".encode())
    finally:
        os.close(fd)


def read_lines(path: str | Path) -> list[str]:
    """The lines of ``path`` (empty if it does not exist yet)."""
    try:
        return Path(path).read_text().splitlines()
    except FileNotFoundError:
        return []


def describe(x: int) -> dict[str, int]:
    """Return ``x`` doubled and the pid of the process that ran it."""
    return {"double": 2 * x, "pid": os.getpid()}


def record(n: int, log_dir: str, work_seconds: float = 0.0) -> int:
    """Log ``n`` to this process's own file in ``log_dir`` and return ``n * n``.

    ``work_seconds`` stands for the task's own work (it keeps a worker busy that long).
    """
    append_line(Path(log_dir) / f"{os.getpid()}.log", str(n))
    if work_seconds:
        time.sleep(work_seconds)
    return n * n


def block_until(runs: str, release: str, max_wait: float = 10.0, fail: bool = False) -> str:
    """Log this attempt's pid to ``runs``, then wait for the file ``release`` to exist.

    The ``runs`` line tells a test the body is running. Raises ``ValueError`` if ``fail``
    (once released), and ``TimeoutError`` if ``release`` does not appear within ``max_wait``.
    """
    append_line(runs, str(os.getpid()))
    deadline = time.monotonic() + max_wait
    while not os.path.exists(release):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{release} did not appear within {max_wait}s")
        time.sleep(0.01)
    if fail:
        raise ValueError(f"failing on purpose in {os.getpid()}")
    return f"released in {os.getpid()}"


async def block_until_async(runs: str, release: str, max_wait: float = 10.0) -> str:
    """Coroutine twin of :func:`block_until`, for ``worker_type="async"``."""
    append_line(runs, str(os.getpid()))
    deadline = time.monotonic() + max_wait
    while not await asyncio.to_thread(os.path.exists, release):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{release} did not appear within {max_wait}s")
        await asyncio.sleep(0.01)
    return f"released in {os.getpid()}"
