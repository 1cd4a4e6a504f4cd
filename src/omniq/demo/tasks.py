"""Task functions of the demo (importable, so they are stored by reference)."""

from __future__ import annotations

import hashlib
import threading
import time

__all__ = ["count_primes", "digest", "flaky_fetch", "slow_report"]

_attempts: dict[str, int] = {}
_attempts_lock = threading.Lock()


def count_primes(start: int, stop: int) -> int:
    """Count the primes in ``[start, stop)`` by trial division (CPU-bound, a few ms)."""
    count = 0
    for candidate in range(max(start, 2), stop):
        if all(candidate % d for d in range(2, int(candidate**0.5) + 1)):
            count += 1
    return count


def digest(text: str, rounds: int = 1_000) -> str:
    """Hash ``text`` repeatedly with SHA-256 and return the first 16 hex digits."""
    data = text.encode()
    for _ in range(rounds):
        data = hashlib.sha256(data).digest()
    return data.hex()[:16]


def flaky_fetch(url: str, failures: int) -> str:
    """Fail the first ``failures`` calls for ``url`` (like a flaky network), then succeed."""
    with _attempts_lock:
        _attempts[url] = attempt = _attempts.get(url, 0) + 1
    if attempt <= failures:
        raise ConnectionError(f"{url}: connection reset (attempt {attempt})")
    return f"{url}: 200 OK after {attempt} attempts"


def slow_report(name: str, seconds: float) -> str:
    """Simulate I/O-bound work that takes ``seconds``."""
    time.sleep(seconds)
    return f"report {name!r} ready"
