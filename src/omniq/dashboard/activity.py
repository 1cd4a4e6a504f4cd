"""Throughput and latency over the last hour, read from the event log.

:class:`Activity` follows the store's event log (:meth:`omniq.OmniQ.list_events_async`) from
a cursor, as ``omniq events tail --follow`` does, and keeps one bucket per minute: tasks
completed, failed (a final failure, an expiry or a cancellation) and the run time of each
completed one (from its latest ``executing`` event to its ``completed`` event), from which
the p50 and p99 latency are drawn. It reads only when a page asks (at most once a second),
so an unwatched dashboard costs the store nothing.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque

import msgspec

from omniq.api import OmniQ
from omniq.models.event import EventType, TaskEvent

__all__ = ["Activity", "Series"]

WINDOW = 3600.0
BUCKET = 60.0
#: Events read back when the dashboard starts (the tail of the last hour).
BACKFILL = 50_000
PAGE = 5_000
RECENT = 20
_FAILED = {EventType.FAILED, EventType.EXPIRED, EventType.CANCELLED}


class Series(msgspec.Struct, frozen=True, kw_only=True):
    """Per-minute figures of the last hour, oldest first (what the charts draw).

    Attributes:
        minutes: Start of each minute (seconds since the epoch).
        completed: Tasks completed in each minute.
        failed: Tasks that failed, expired or were cancelled in each minute.
        p50: Median run time of the minute's completed tasks, in ms (``None``: none).
        p99: 99th percentile run time, in ms.
        events_seen: Events read so far (grows when the log moves).
    """

    minutes: list[float]
    completed: list[int]
    failed: list[int]
    p50: list[float | None]
    p99: list[float | None]
    events_seen: int


class _Bucket:
    __slots__ = ("completed", "durations", "failed")

    def __init__(self) -> None:
        self.completed = 0
        self.failed = 0
        self.durations: list[float] = []


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile of non-empty ``values``."""
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


class Activity:
    """The event log's last hour, folded into per-minute buckets.

    Args:
        oq: The open OmniQ whose event log is read.
        interval: Shortest time between two reads of the log, in seconds.
    """

    def __init__(self, oq: OmniQ, interval: float = 1.0) -> None:
        self._oq = oq
        self._interval = interval
        self._cursor: str | None = None
        self._started = False
        self._read_at = 0.0
        self._lock = asyncio.Lock()
        self._buckets: dict[int, _Bucket] = {}
        self._executing: dict[str, float] = {}
        self.recent: deque[TaskEvent] = deque(maxlen=RECENT)
        self.events_seen = 0

    async def refresh(self) -> None:
        """Read what the log gained since the last read (at most once per interval)."""
        async with self._lock:
            if time.monotonic() - self._read_at < self._interval:
                return
            if not self._started:
                entries = await self._oq.list_events_async(None, BACKFILL)
                self._started = True
                self._fold(entries)
            while True:
                if self._cursor is None:  # an empty log: read from its start
                    entries = await self._oq.list_events_async(None, PAGE)
                    if len(entries) == PAGE:  # it filled up meanwhile: take its tail only
                        self._fold(entries)
                        break
                else:
                    entries = await self._oq.list_events_async(self._cursor, PAGE)
                self._fold(entries)
                if len(entries) < PAGE:
                    break
            self._read_at = time.monotonic()

    def _fold(self, entries: list[tuple[str, TaskEvent]]) -> None:
        if not entries:
            return
        self._cursor = entries[-1][0]
        horizon = time.time() - WINDOW - BUCKET
        for _, event in entries:
            self.events_seen += 1
            self.recent.append(event)
            if event.timestamp < horizon:
                continue
            if event.type is EventType.EXECUTING:
                self._executing[event.task_id] = event.timestamp
                continue
            if event.type is EventType.COMPLETED:
                bucket = self._bucket(event.timestamp)
                bucket.completed += 1
                started = self._executing.pop(event.task_id, None)
                if started is not None:
                    bucket.durations.append(max(0.0, event.timestamp - started))
            elif event.type in _FAILED:
                self._bucket(event.timestamp).failed += 1
                self._executing.pop(event.task_id, None)
        self._prune(horizon)

    def _bucket(self, timestamp: float) -> _Bucket:
        key = int(timestamp // BUCKET)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket()
        return bucket

    def _prune(self, horizon: float) -> None:
        oldest = int(horizon // BUCKET)
        for key in [k for k in self._buckets if k < oldest]:
            del self._buckets[key]
        if len(self._executing) > 100_000:  # tasks whose end was never seen
            stale = [t for t, at in self._executing.items() if at < horizon]
            for task_id in stale:
                del self._executing[task_id]

    def series(self) -> Series:
        """The last hour, one point per minute (minutes without events count 0)."""
        last = int(time.time() // BUCKET)
        minutes, completed, failed, p50, p99 = [], [], [], [], []
        empty = _Bucket()
        for key in range(last - int(WINDOW // BUCKET) + 1, last + 1):
            bucket = self._buckets.get(key, empty)
            minutes.append(key * BUCKET)
            completed.append(bucket.completed)
            failed.append(bucket.failed)
            durations = bucket.durations
            p50.append(round(percentile(durations, 0.5) * 1000, 3) if durations else None)
            p99.append(round(percentile(durations, 0.99) * 1000, 3) if durations else None)
        return Series(minutes=minutes, completed=completed, failed=failed, p50=p50, p99=p99,
                      events_seen=self.events_seen)  # fmt: skip
