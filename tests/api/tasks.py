"""Module-level task functions for the API tests.

They live in an importable module so workers load them by reference (``api.tasks:name``)
and share this module's state (recorders, gates, attempt logs) with the tests.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import defaultdict

#: Execution order recorded by :func:`record`.
ORDER: list[str] = []
_order_lock = threading.Lock()

#: Attempt start times per key, recorded by :func:`flaky`.
ATTEMPTS: defaultdict[str, list[float]] = defaultdict(list)
_attempts_lock = threading.Lock()

#: Gates that :func:`wait_for_gate` blocks on, by key.
GATES: defaultdict[str, threading.Event] = defaultdict(threading.Event)
#: Set by :func:`wait_for_gate` when its body has started, by key.
STARTED: defaultdict[str, threading.Event] = defaultdict(threading.Event)

#: Thread names seen by :func:`thread_name` / :func:`async_thread_name`.
THREADS: dict[str, str] = {}


def reset() -> None:
    with _order_lock:
        ORDER.clear()
    with _attempts_lock:
        ATTEMPTS.clear()
    for gate in GATES.values():
        gate.set()  # never leave a body blocked
    GATES.clear()
    STARTED.clear()
    THREADS.clear()


def add_numbers(x: int, y: int) -> int:
    return x + y


async def async_add_numbers(x: int, y: int) -> int:
    await asyncio.sleep(0.01)
    return x + y


def echo(*args: object, **kwargs: object) -> dict[str, object]:
    return dict(kwargs)


def record(label: str) -> str:
    with _order_lock:
        ORDER.append(label)
    return label


def flaky(key: str, failures: int) -> int:
    """Fail ``failures`` times (ValueError), then return the attempt number."""
    with _attempts_lock:
        ATTEMPTS[key].append(time.time())
        attempt = len(ATTEMPTS[key])
    if attempt <= failures:
        raise ValueError(f"flaky {key} attempt {attempt}")
    return attempt


def always_fails(message: str) -> None:
    raise ValueError(message)


def slow_work(seconds: float) -> str:
    time.sleep(seconds)  # simulated work, not synchronisation
    return "done"


def wait_for_gate(key: str, timeout: float = 10.0) -> str:
    """Block until the test opens ``GATES[key]`` (bounded, so a failing test cannot hang)."""
    STARTED[key].set()
    opened = GATES[key].wait(timeout)
    return "opened" if opened else "gate timeout"


async def async_wait_for_gate(key: str, max_wait: float = 10.0) -> str:
    """Coroutine twin of :func:`wait_for_gate` (interrupted when its worker cancels it)."""
    STARTED[key].set()
    deadline = time.monotonic() + max_wait
    while not GATES[key].is_set():
        if time.monotonic() > deadline:
            return "gate timeout"
        await asyncio.sleep(0.005)
    return "opened"


def counted_gate(key: str, timeout: float = 20.0) -> str:
    """:func:`wait_for_gate` that also logs each run's start time in ``ATTEMPTS[key]``."""
    with _attempts_lock:
        ATTEMPTS[key].append(time.monotonic())
    return wait_for_gate(key, timeout)


def first_run_waits(key: str, timeout: float = 20.0) -> str:
    """The first run waits for ``GATES[key]`` (``STARTED[key]`` tells it began); later runs
    return at once. Returns ``"run <n>"``."""
    with _attempts_lock:
        ATTEMPTS[key].append(time.monotonic())
        run = len(ATTEMPTS[key])
    if run == 1:
        STARTED[key].set()
        GATES[key].wait(timeout)
    return f"run {run}"


def raises_cancelled_error() -> None:
    raise asyncio.CancelledError("raised by the body itself")


async def async_raises_cancelled_error() -> None:
    raise asyncio.CancelledError("raised by the body itself")


def thread_name(key: str) -> str:
    THREADS[key] = threading.current_thread().name
    return THREADS[key]


async def async_thread_name(key: str) -> str:
    THREADS[key] = threading.current_thread().name
    await asyncio.sleep(0)
    return THREADS[key]


def return_lock() -> object:
    return threading.Lock()


async def async_calls_sync_api() -> str:
    """Call a sync OmniQ method from inside a coroutine run by a sync-started worker."""
    from omniq import OmniQ

    oq = OmniQ(project_name="inner", backend_type="memory")
    try:
        oq.open()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return "no error"


def calls_sys_exit() -> None:
    import sys

    sys.exit(3)


async def async_raises_system_exit() -> None:
    raise SystemExit(4)
