"""Task functions for the dependency, callback, cancellation and timeout API tests.

Importable (workers load them by reference) and sharing this module's state with the tests.
Every blocking body waits on a gate with a bound, so a failing test cannot hang a thread.
Call :func:`reset` around each test (the test modules do, with an autouse fixture).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import defaultdict
from typing import Any

#: Opened by the tests to let a blocked body go on, by key.
GATES: defaultdict[str, threading.Event] = defaultdict(threading.Event)
#: Set when a body has started, by key.
STARTED: defaultdict[str, threading.Event] = defaultdict(threading.Event)
#: Set when a body has run to its end (even if nobody waited for it any more), by key.
ENDED: defaultdict[str, threading.Event] = defaultdict(threading.Event)
#: Keys of coroutine bodies that saw an asyncio.CancelledError.
INTERRUPTED: set[str] = set()
#: Calls of the callbacks, by key: (result, callback kwargs, time of the call).
CALLBACKS: defaultdict[str, list[tuple[Any, dict[str, Any], float]]] = defaultdict(list)
#: Attempts per key of :func:`slow_first_attempt`.
ATTEMPTS: defaultdict[str, int] = defaultdict(int)

_lock = threading.Lock()
_GATE_LIMIT = 10.0


def reset() -> None:
    for gate in GATES.values():
        gate.set()  # never leave a body blocked
    GATES.clear()
    STARTED.clear()
    ENDED.clear()
    INTERRUPTED.clear()
    CALLBACKS.clear()
    ATTEMPTS.clear()


def blocking(key: str, value: Any = "done") -> Any:
    """Block (in a thread) until ``GATES[key]`` opens, then return ``value``."""
    STARTED[key].set()
    GATES[key].wait(_GATE_LIMIT)
    ENDED[key].set()
    return value


def blocking_then_fail(key: str) -> None:
    """Block until ``GATES[key]`` opens, then raise ValueError."""
    STARTED[key].set()
    GATES[key].wait(_GATE_LIMIT)
    ENDED[key].set()
    raise ValueError(f"{key} failed after its gate opened")


async def async_blocking(key: str, value: Any = "done") -> Any:
    """Wait (without blocking the loop) until ``GATES[key]`` opens; record an interruption."""
    STARTED[key].set()
    deadline = time.monotonic() + _GATE_LIMIT
    try:
        # GATES are threading.Events (opened from the test's thread): poll, yielding.
        while not GATES[key].is_set() and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.002)
    except asyncio.CancelledError:
        INTERRUPTED.add(key)
        raise
    ENDED[key].set()
    return value


def slow_first_attempt(key: str) -> int:
    """The first attempt blocks until its gate opens; later ones return their number."""
    with _lock:
        ATTEMPTS[key] += 1
        attempt = ATTEMPTS[key]
    if attempt == 1:
        blocking(key)
    return attempt


def raises_timeout_error() -> None:
    raise TimeoutError("the body's own timeout")


def record_callback(result: Any, **kwargs: Any) -> None:
    """A callback: records ``(result, kwargs)`` under ``kwargs['key']``."""
    CALLBACKS[kwargs["key"]].append((result, dict(kwargs), time.time()))


async def async_record_callback(result: Any, **kwargs: Any) -> None:
    await asyncio.sleep(0)
    CALLBACKS[kwargs["key"]].append((result, dict(kwargs), time.time()))


def failing_callback(result: Any, *, key: str) -> None:
    CALLBACKS[key].append((result, {"key": key}, time.time()))
    raise RuntimeError(f"callback {key} broke")


def double(x: int) -> int:
    return 2 * x


def holds_for(condition: Any, seconds: float, what: str) -> None:
    """Test helper: check ``condition()`` over and over for ``seconds``; fail if it is false.

    For "nothing happens" assertions (an observation window, not synchronisation).
    """
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert condition(), f"{what} stopped holding"
        time.sleep(0.01)
    assert condition(), f"{what} stopped holding"


def events_once(oq: Any, task_id: str, event_type: Any, timeout: float = 5.0) -> list[Any]:
    """Test helper: the task's events, once one of ``event_type`` is among them.

    A status changes before its event is written: wait for the event, not the status.
    """
    deadline = time.monotonic() + timeout
    while True:
        events: list[Any] = oq.get_events(task_id)
        if any(event.type is event_type for event in events):
            return events
        assert time.monotonic() < deadline, f"no {event_type} event for {task_id} in {timeout}s"
        time.sleep(0.005)
