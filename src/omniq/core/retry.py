"""The retry policy: how long a failed task waits before its next attempt."""

from __future__ import annotations

import math

from omniq.core.validation import MAX_SECONDS
from omniq.storage.records import TaskRecord

__all__ = ["retry_delay", "should_retry"]


def should_retry(record: TaskRecord) -> bool:
    """Whether a task that just failed has retries left.

    Counted in attempts (claims), so an attempt lost with a killed worker counts too: a task
    runs at most ``max_retries + 1`` times.
    """
    return record.attempts <= record.max_retries


def retry_delay(record: TaskRecord) -> float:
    """Seconds before the next attempt: ``retry_delay * retry_backoff ** retry_count``.

    ``retry_backoff=1`` (the default) gives a constant delay, ``2`` doubles it each time;
    ``retry_max_delay`` caps it, and so does :data:`~omniq.core.validation.MAX_SECONDS`
    (100 years): the power is never computed past that cap, so no backoff overflows.
    """
    cap = MAX_SECONDS
    if record.retry_max_delay is not None:
        cap = min(cap, max(record.retry_max_delay, 0.0))
    base, backoff = max(record.retry_delay, 0.0), record.retry_backoff
    if base == 0.0:
        return 0.0
    if not base < cap:  # at the cap already (or NaN)
        return cap
    if not backoff > 1.0:  # constant (or a record written without validation)
        return base
    if record.retry_count * math.log(backoff) >= math.log(cap / base):
        return cap
    return min(base * backoff**record.retry_count, cap)
