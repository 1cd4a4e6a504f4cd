"""The retry policy: how long a failed task waits before its next attempt."""

from __future__ import annotations

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
    ``retry_max_delay`` caps it.
    """
    delay = record.retry_delay * record.retry_backoff**record.retry_count
    if record.retry_max_delay is not None:
        delay = min(delay, record.retry_max_delay)
    return delay
