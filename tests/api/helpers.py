"""Deadline-based waiting for the API tests (never a bare sleep as synchronisation)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    condition: Callable[[], T], timeout: float = 5.0, interval: float = 0.005, what: str = ""
) -> T:
    """Poll ``condition`` until it returns a truthy value; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}")
        time.sleep(interval)


def wait_for_time(epoch: float) -> None:
    """Return once the wall clock has passed ``epoch`` (polling, bounded)."""
    wait_until(lambda: time.time() > epoch, timeout=max(5.0, epoch - time.time() + 5.0))
