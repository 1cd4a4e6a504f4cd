"""What the operating methods return: queue statistics, live workers, purge reports."""

from __future__ import annotations

import datetime as dt

import msgspec

__all__ = ["PurgeReport", "QueueStats", "Stats", "WorkerInfo"]


class WorkerInfo(msgspec.Struct, frozen=True, kw_only=True):
    """A worker registered in the store (see :meth:`omniq.OmniQ.list_workers`).

    Attributes:
        id: The worker id (``host:pid:random``).
        hostname: Host it runs on.
        pid: Its process id.
        queues: Queue names it serves, in order.
        concurrency: Tasks it runs at once.
        started_at: When it started (UTC).
        heartbeat_at: Its latest heartbeat (UTC).
        alive: Whether it heartbeat within its lease (a dead worker's row stays until purged).
    """

    id: str
    hostname: str
    pid: int
    queues: list[str]
    concurrency: int
    started_at: dt.datetime
    heartbeat_at: dt.datetime
    alive: bool


class QueueStats(msgspec.Struct, frozen=True, kw_only=True):
    """Tasks of one queue.

    Attributes:
        queue_name: The queue.
        counts: Number of tasks by status (every status, 0 included).
        due: Tasks waiting for a worker whose run time has come.
        delayed: Tasks waiting for their run time (delayed or between retries).
        oldest_due_age: Seconds the longest-waiting due task has been due, or ``None``.
        served: Whether a live worker serves the queue (lists it, or serves every queue).
            A queue with due tasks and ``served`` false waits for ever: ``omniq status``
            flags it.
    """

    queue_name: str
    counts: dict[str, int]
    due: int
    delayed: int
    oldest_due_age: float | None
    served: bool = True


class Stats(msgspec.Struct, frozen=True, kw_only=True):
    """What a store holds (see :meth:`omniq.OmniQ.stats`).

    Attributes:
        queues: One entry per queue holding tasks, by name.
        totals: Number of tasks by status over every queue.
        workers: Live workers.
        schedules: Number of schedules by status.
    """

    queues: list[QueueStats]
    totals: dict[str, int]
    workers: list[WorkerInfo]
    schedules: dict[str, int]


class PurgeReport(msgspec.Struct, frozen=True, kw_only=True):
    """What :meth:`omniq.OmniQ.purge` deleted (or would delete, in a dry run).

    Attributes:
        dry_run: Whether nothing was deleted.
        task_ids: The tasks deleted, oldest first (with their results and events).
        expired_results: Results deleted because their ``result_ttl`` passed.
        dead_workers: Registry rows of workers dead for longer than ``older_than``.
        reclaimed_bytes: How much the store shrank by when ``vacuum`` was asked (``None``
            otherwise).
        orphans: Results and events deleted because their task was gone (left by a purge
            of an older version that was interrupted).
    """

    dry_run: bool
    task_ids: list[str]
    expired_results: int
    dead_workers: int
    reclaimed_bytes: int | None = None
    orphans: int = 0
