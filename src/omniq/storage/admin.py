"""Optional verbs for operating a store: live workers, listing, counting, re-queueing, purging.

Backends that support ``omniq status``/``omniq tasks``... implement these beside the three
roles (the memory and SQLite task queues mix them in). The core checks for them with
``isinstance`` and names the class of a backend that lacks them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

import msgspec

from omniq.models.event import TaskEvent
from omniq.models.task import TaskStatus
from omniq.storage.records import TaskRecord

__all__ = [
    "EventLog",
    "OrphanSweeper",
    "QueueCounts",
    "ResultAdmin",
    "SpaceReclaimer",
    "TaskAdmin",
    "TaskBrowser",
    "TaskFilter",
    "WorkerRecord",
    "WorkerRegistry",
]


class WorkerRecord(msgspec.Struct, kw_only=True):
    """One registered worker process.

    Attributes:
        id: The worker id (``host:pid:random``).
        hostname: Host it runs on.
        pid: Its process id.
        queues: Queue names it serves, in order.
        concurrency: Tasks it runs at once.
        lease_duration: Its lease; it heartbeats every third of it.
        started_at: When it registered.
        heartbeat_at: Its latest heartbeat.
    """

    id: str
    hostname: str
    pid: int
    queues: list[str]
    concurrency: int
    lease_duration: float
    started_at: float
    heartbeat_at: float


class QueueCounts(msgspec.Struct, kw_only=True):
    """Task counts of one queue.

    Attributes:
        queue_name: The queue.
        counts: Number of tasks by status value (statuses with none are left out).
        due: Claimable tasks whose ``run_at`` has passed.
        delayed: Claimable tasks whose ``run_at`` is still ahead.
        oldest_due_at: Earliest ``run_at`` of a due task (how long work has waited), or ``None``.
    """

    queue_name: str
    counts: dict[str, int]
    due: int = 0
    delayed: int = 0
    oldest_due_at: float | None = None


@runtime_checkable
class WorkerRegistry(Protocol):
    """Which workers run against the store, with heartbeats."""

    async def register_worker(self, worker: WorkerRecord) -> None:
        """Store (or replace) a worker's row."""
        ...

    async def heartbeat_worker(self, worker_id: str, now: float) -> bool:
        """Set a worker's ``heartbeat_at``; return whether it is registered."""
        ...

    async def unregister_worker(self, worker_id: str) -> bool:
        """Delete a worker's row; return whether it existed."""
        ...

    async def list_workers(self, alive_since: float | None = None) -> list[WorkerRecord]:
        """Return workers whose heartbeat is at or after ``alive_since`` (all if ``None``).

        Ordered by ``started_at``, then id.
        """
        ...


@runtime_checkable
class TaskAdmin(Protocol):
    """Listing, counting, re-queueing and purging tasks."""

    async def queue_counts(self, now: float) -> list[QueueCounts]:
        """Return the counts of every queue holding tasks, by queue name."""
        ...

    async def list_tasks(
        self, statuses: Sequence[TaskStatus] | None, queue_name: str | None, limit: int
    ) -> list[TaskRecord]:
        """Return up to ``limit`` tasks, most recently enqueued first.

        Args:
            statuses: Only these statuses (all if ``None``).
            queue_name: Only this queue (all if ``None``).
            limit: Most records returned (> 0).
        """
        ...

    async def requeue(
        self,
        task_id: str,
        now: float,
        events_for: Callable[[TaskStatus], Sequence[TaskEvent]] | None = None,
    ) -> TaskStatus | None:
        """Make a ``failed`` or ``expired`` task ``enqueued`` again, due at ``now``.

        Its retry and attempt counters restart at 0; ``error``, ``started_at``,
        ``finished_at``, ``expires_at``, the lease and ``worker_id`` are cleared.
        Tasks in any other status are left alone.

        Args:
            task_id: The task.
            now: Its new ``run_at``.
            events_for: Called with the status before, inside the same atomic write and
                only if the task was re-queued; its events are appended to the backend's
                event store (only given when the backend declares ``fused_events``), so no
                worker can claim the task before its ``enqueued`` event exists.

        Returns:
            The status before the call, or ``None`` if the task is unknown.
        """
        ...

    async def purge_tasks(
        self, statuses: Sequence[TaskStatus], finished_before: float, dry_run: bool = False
    ) -> list[str]:
        """Delete final tasks in ``statuses`` that finished before ``finished_before``.

        Their dependency records go with them. With ``dry_run`` nothing is deleted.

        Returns:
            The ids deleted (or that would be).
        """
        ...


class TaskFilter(msgspec.Struct, frozen=True, kw_only=True):
    """Which tasks a browsing reader wants (every field narrows; ``None``: any).

    Attributes:
        statuses: Only these statuses.
        queue_name: Only this queue.
        name: Only tasks with exactly this name.
        tag: Only tasks carrying this tag.
        id_prefix: Only tasks whose id starts with this.
    """

    statuses: tuple[TaskStatus, ...] | None = None
    queue_name: str | None = None
    name: str | None = None
    tag: str | None = None
    id_prefix: str | None = None


@runtime_checkable
class TaskBrowser(Protocol):
    """Paging through filtered tasks without scanning the store (optional; SQLite has it).

    Readers without it (the dashboard) fall back to :meth:`TaskAdmin.list_tasks` and filter
    what it returns.
    """

    async def browse_tasks(
        self, where: TaskFilter, before: str | None, limit: int
    ) -> tuple[list[TaskRecord], str | None]:
        """Return a page of tasks, most recently enqueued first, and the next page's cursor.

        Args:
            where: The filter.
            before: A cursor this method returned: only tasks enqueued before that page's
                last one (``None``: from the most recent).
            limit: Most records returned (> 0).

        Returns:
            The records and the cursor of the next page (``None`` when this one is the last).

        Raises:
            ConfigurationError: ``before`` is not a cursor of this store.
        """
        ...


@runtime_checkable
class EventLog(Protocol):
    """Reading the event log across tasks (implemented by event storages).

    Each event comes with a *cursor*: an opaque string that only the same store
    understands (a row number, a stream id, a transaction id and sequence...). A reader
    follows the log by passing back the last cursor it saw; it must never miss an event
    that commits later with an earlier position, so a store whose positions are not in
    commit order (a PostgreSQL ``bigserial``) holds back what it cannot order yet.
    """

    async def recent_events(self, after: str | None, limit: int) -> list[tuple[str, TaskEvent]]:
        """Return events with their cursor, oldest first.

        Args:
            after: Only events after this cursor; ``None``: the last ``limit`` events.
            limit: Most events returned.

        Raises:
            ConfigurationError: ``after`` is not a cursor of this store.
        """
        ...

    async def delete_events(self, task_ids: Sequence[str]) -> int:
        """Delete the events of these tasks; return how many."""
        ...


@runtime_checkable
class ResultAdmin(Protocol):
    """Counting what :meth:`ResultStorage.purge_expired` would delete (for dry runs)."""

    async def count_expired(self, now: float) -> int:
        """Return how many results have ``expires_at`` before ``now``."""
        ...


@runtime_checkable
class SpaceReclaimer(Protocol):
    """Giving the space of deleted rows back to the file system.

    Implemented by task queues whose store keeps that space otherwise (SQLite).
    """

    async def reclaim_space(self) -> int:
        """Give the space of deleted rows back; return how many bytes the store shrank by.

        It may rewrite the whole store and hold its write lock meanwhile (see the backend).
        """
        ...


@runtime_checkable
class OrphanSweeper(Protocol):
    """Deleting results and events whose task is gone (a store holding all three roles).

    An interrupted purge of an older version deleted tasks before their results and events;
    a purge sweeps what such a purge left behind.
    """

    async def sweep_orphans(self) -> int:
        """Delete results and events whose task no longer exists; return how many."""
        ...
