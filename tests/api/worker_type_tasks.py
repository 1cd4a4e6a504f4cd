"""Task functions for ``test_worker_types``: they run in child processes and gevent workers.

State cannot be shared with the test process through module globals here (each worker
process has its own copy), so cross-process gates are files whose paths are arguments.
"""

from __future__ import annotations

import asyncio
import os
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


async def async_pid(delay: float) -> int:
    await asyncio.sleep(delay)
    return os.getpid()


def count_primes(below: int) -> int:
    """CPU-bound work: count primes below ``below`` by trial division."""
    count = 0
    for candidate in range(2, below):
        divisor = 2
        while divisor * divisor <= candidate:
            if candidate % divisor == 0:
                break
            divisor += 1
        else:
            count += 1
    return count


def busy_interval(seconds: float) -> tuple[int, float, float]:
    """Compute (no sleeping, so the GIL is held) for ``seconds``; return pid and interval."""
    start = time.time()
    while time.time() - start < seconds:
        count_primes(2_000)
    return os.getpid(), start, time.time()


def return_lock() -> object:
    return threading.Lock()


def wait_for_file(path: str, timeout: float = 20.0) -> int:
    """Block until ``path`` exists (bounded); return this process's pid."""
    deadline = time.monotonic() + timeout
    while not Path(path).exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} never appeared")
        time.sleep(0.005)
    return os.getpid()


def crash(code: int, pid_file: str) -> None:
    """Write this process's pid, then end the process at once (no cleanup, no exception)."""
    write_atomically(pid_file, str(os.getpid()))
    os._exit(code)


def crash_once(marker: str) -> str:
    """Kill the process the first time (creating ``marker``), succeed the second."""
    path = Path(marker)
    if not path.exists():
        write_atomically(path, str(os.getpid()))
        os._exit(1)
    return "survived"


def nap(seconds: float) -> int:
    """Blocking sleep: cooperative only in a gevent-patched worker."""
    time.sleep(seconds)
    return os.getpid()


def uses_asyncio_run(seconds: float) -> str:
    """A sync body that runs its own event loop, as some libraries do inside."""
    time.sleep(seconds)
    return asyncio.run(asyncio.sleep(seconds, "ran its own loop"))


def calls_sys_exit() -> None:
    sys.exit(3)
