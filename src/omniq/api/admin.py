"""The operating methods of :class:`omniq.OmniQ`: see and steer what a store holds.

``stats``, ``list_workers``, ``list_tasks``, ``retry``, ``list_events`` and ``purge`` (a
mixin, to keep the facade readable). The ``omniq`` command is a thin layer over them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from omniq.api.lifecycle import Lifecycle
from omniq.core import validation as check
from omniq.core.portal import portal
from omniq.core.purge import purge_finished
from omniq.core.task_builder import task_from_record
from omniq.exceptions import ConfigurationError, TaskNotFoundError
from omniq.models.event import EventType, TaskEvent
from omniq.models.stats import PurgeReport, QueueStats, Stats, WorkerInfo
from omniq.models.task import Task, TaskStatus
from omniq.storage.admin import (
    EventLog,
    OrphanSweeper,
    ResultAdmin,
    SpaceReclaimer,
    TaskAdmin,
    WorkerRecord,
    WorkerRegistry,
)
from omniq.workers.queue_watch import serves

__all__ = ["DEFAULT_PURGE_AGE", "AdminMethods"]

#: Finished tasks younger than this are kept by :meth:`AdminMethods.purge` by default.
DEFAULT_PURGE_AGE = 7 * 86_400.0
#: Statuses :meth:`AdminMethods.purge` deletes by default (failed tasks are kept to inspect).
_PURGED_BY_DEFAULT = ("completed", "expired", "cancelled")


def _utc(timestamp: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC)


def _statuses(value: object, what: str) -> list[TaskStatus] | None:
    """Statuses from a name, a status, or a sequence of either; ``None`` stays ``None``."""
    if value is None:
        return None
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, Sequence) or not items:
        raise ConfigurationError(f"{what} {value!r} is not a status or a list of statuses")
    found = []
    for item in items:
        try:
            found.append(TaskStatus(item))
        except ValueError:
            allowed = ", ".join(status.value for status in TaskStatus)
            raise ConfigurationError(f"{what} {item!r} is not one of {allowed}") from None
    return found


class AdminMethods(Lifecycle):
    """See and steer a store: statistics, workers, task listing, retry, event log, purge."""

    # -- statistics and workers -----------------------------------------------------------

    async def stats_async(self) -> Stats:
        """Count the tasks of every queue, and list live workers and schedules by status.

        Returns:
            The statistics (see :class:`omniq.models.stats.Stats`).

        Raises:
            ConfigurationError: The store does not support statistics.
        """
        await self.open_async()
        admin = _taskadmin(self.task_queue, "stats")
        now = self.store.clock.now()
        workers = await self.list_workers_async()
        queues = []
        totals = dict.fromkeys((status.value for status in TaskStatus), 0)
        for entry in await admin.queue_counts(now):
            counts = dict.fromkeys((status.value for status in TaskStatus), 0)
            counts.update(entry.counts)
            for status, count in entry.counts.items():
                totals[status] = totals.get(status, 0) + count
            oldest = None if entry.oldest_due_at is None else max(0.0, now - entry.oldest_due_at)
            served = any(serves(worker.queues, entry.queue_name) for worker in workers)
            queues.append(
                QueueStats(queue_name=entry.queue_name, counts=counts, due=entry.due,
                           delayed=entry.delayed, oldest_due_age=oldest, served=served)
            )  # fmt: skip
        schedules: dict[str, int] = {}
        for schedule in await self.task_queue.list_schedules():
            schedules[schedule.status.value] = schedules.get(schedule.status.value, 0) + 1
        return Stats(queues=queues, totals=totals, workers=workers, schedules=schedules)

    def stats(self) -> Stats:
        """Sync twin of :meth:`stats_async`."""
        return portal().call(self.stats_async())

    async def list_workers_async(self, include_dead: bool = False) -> list[WorkerInfo]:
        """List the workers registered in the store, oldest first.

        A worker is alive while its latest heartbeat is younger than its lease; a worker
        killed without stopping stays listed as dead until :meth:`purge` removes it.

        Args:
            include_dead: Also list workers that stopped heartbeating.

        Returns:
            The workers.
        """
        await self.open_async()
        registry = _workerregistry(self.task_queue, "a worker registry")
        now = self.store.clock.now()
        found = []
        for record in await registry.list_workers(None):
            alive = _is_alive(record, now)
            if alive or include_dead:
                found.append(
                    WorkerInfo(id=record.id, hostname=record.hostname, pid=record.pid,
                               queues=record.queues, concurrency=record.concurrency,
                               started_at=_utc(record.started_at),
                               heartbeat_at=_utc(record.heartbeat_at), alive=alive)
                )  # fmt: skip
        return found

    def list_workers(self, include_dead: bool = False) -> list[WorkerInfo]:
        """Sync twin of :meth:`list_workers_async`."""
        return portal().call(self.list_workers_async(include_dead))

    # -- tasks ----------------------------------------------------------------------------

    async def list_tasks_async(
        self,
        status: str | Sequence[str] | None = None,
        queue_name: str | None = None,
        limit: int = 50,
    ) -> list[Task]:
        """List tasks, most recently enqueued first.

        Args:
            status: Only tasks in this status, or in any of these (e.g. ``"failed"`` or
                ``["enqueued", "retrying"]``; :class:`TaskStatus` members work too).
            queue_name: Only tasks of this queue.
            limit: Most tasks returned (> 0).

        Returns:
            The tasks.

        Raises:
            ConfigurationError: Unknown status, bad queue name or limit.
        """
        statuses = _statuses(status, "status")
        if queue_name is not None:
            check.check_queue_name(queue_name)
        if not isinstance(limit, int) or isinstance(limit, bool) or limit <= 0:
            raise ConfigurationError(f"limit {limit!r} is not a positive integer")
        await self.open_async()
        admin = _taskadmin(self.task_queue, "listing tasks")
        records = await admin.list_tasks(statuses, queue_name, limit)
        return [task_from_record(record, self.serializer) for record in records]

    def list_tasks(
        self,
        status: str | Sequence[str] | None = None,
        queue_name: str | None = None,
        limit: int = 50,
    ) -> list[Task]:
        """Sync twin of :meth:`list_tasks_async`."""
        return portal().call(self.list_tasks_async(status, queue_name, limit))

    async def retry_async(self, task_id: str) -> bool:
        """Enqueue a ``failed`` or ``expired`` task again, to run now with fresh retries.

        Its retry count restarts at 0 and its error is cleared; an ``enqueued`` event
        (detail ``"re-enqueued by retry"``) is appended to its events.

        Args:
            task_id: The id ``enqueue`` returned.

        Returns:
            ``True`` if it was enqueued again; ``False`` if it was not failed or expired.

        Raises:
            TaskNotFoundError: No task has this id.
        """
        check.check_id(task_id, "task_id")
        await self.open_async()
        admin = _taskadmin(self.task_queue, "retry")
        now = self.store.clock.now()

        def enqueued(before: TaskStatus) -> list[TaskEvent]:
            return [TaskEvent(task_id=task_id, type=EventType.ENQUEUED, timestamp=now,
                              detail=f"re-enqueued by retry (was {before.value})")]  # fmt: skip

        current = await self.task_queue.get(task_id)
        if current is None:
            raise TaskNotFoundError(task_id)
        if current.status in (TaskStatus.FAILED, TaskStatus.EXPIRED):
            # A failed task has no result, but an attempt that lost its lease may have left
            # one: the attempts restart at 1, so it must go before a new one can be stored.
            await self.result_store.delete(task_id)
        fused = self.store.capabilities.fused_events
        before = await admin.requeue(task_id, now, enqueued if fused else None)
        if before is None:
            raise TaskNotFoundError(task_id)
        if before not in (TaskStatus.FAILED, TaskStatus.EXPIRED):
            return False
        if not fused:  # a mixed setup: the event follows the re-queue (maybe its claim)
            await self.event_store.append(enqueued(before))
        self._channel.notify_tasks()
        return True

    def retry(self, task_id: str) -> bool:
        """Sync twin of :meth:`retry_async`."""
        return portal().call(self.retry_async(task_id))

    # -- events ---------------------------------------------------------------------------

    async def list_events_async(
        self, after: str | None = None, limit: int = 100
    ) -> list[tuple[str, TaskEvent]]:
        """Read the event log across tasks, oldest first, each event with its cursor.

        Follow the log by passing the last cursor seen as ``after``: no event is missed,
        even one committed later by a concurrent writer. A cursor is an opaque string that
        only the same store understands. To keep that promise a store may show an event a
        little after it was written (PostgreSQL: once the transactions on the server that
        began before it have ended), so a follower polls.

        Args:
            after: Only events after this cursor; ``None``: the latest ``limit`` events.
            limit: Most events returned (> 0).

        Returns:
            ``(cursor, event)`` pairs.

        Raises:
            ConfigurationError: ``after`` is not a cursor of this store.
        """
        if after is not None and (not isinstance(after, str) or not after):
            raise ConfigurationError(f"after {after!r} is not an event cursor (a string)")
        if not isinstance(limit, int) or isinstance(limit, bool) or limit <= 0:
            raise ConfigurationError(f"limit {limit!r} is not a positive integer")
        await self.open_async()
        log = _eventlog(self.event_store, "reading the event log")
        return await log.recent_events(after, limit)

    def list_events(
        self, after: str | None = None, limit: int = 100
    ) -> list[tuple[str, TaskEvent]]:
        """Sync twin of :meth:`list_events_async`."""
        return portal().call(self.list_events_async(after, limit))

    # -- purge ----------------------------------------------------------------------------

    async def purge_async(
        self,
        older_than: dt.timedelta | float = DEFAULT_PURGE_AGE,
        status: str | Sequence[str] | None = None,
        dry_run: bool = False,
        vacuum: bool = False,
    ) -> PurgeReport:
        """Delete old finished tasks (with their results and events) and expired results.

        Args:
            older_than: Only tasks that finished at least this long ago (default 7 days;
                0 for every finished one). Registry rows of workers dead for this long go
                too.
            status: Statuses to delete (default ``completed``, ``expired`` and
                ``cancelled``: failed tasks are kept for inspection unless named). Only
                final statuses are ever deleted.
            dry_run: Report what would be deleted, delete nothing.
            vacuum: Then give the freed space back to the file system (SQLite: ``VACUUM``,
                which rewrites the file and holds its write lock meanwhile: workers' writes
                wait; it needs free disk space up to the database's size). Stores without
                it (server backends) refuse it.

        Returns:
            What was (or would be) deleted.

        Raises:
            ConfigurationError: A bad argument, or ``vacuum`` on a store that cannot.
        """
        age = check.check_seconds(older_than, "older_than", allow_none=False)
        assert age is not None
        statuses = _statuses(_PURGED_BY_DEFAULT if status is None else status, "status")
        assert statuses is not None
        if not isinstance(dry_run, bool):
            raise ConfigurationError(f"dry_run {dry_run!r} is not True or False")
        if not isinstance(vacuum, bool):
            raise ConfigurationError(f"vacuum {vacuum!r} is not True or False")
        await self.open_async()
        admin = _taskadmin(self.task_queue, "purge")
        reclaimer = _reclaimer(self.task_queue) if vacuum else None
        now = self.store.clock.now()
        cutoff = now - age
        if dry_run:
            task_ids = await admin.purge_tasks(statuses, cutoff, dry_run=True)
        else:
            task_ids = await purge_finished(
                self.task_queue, self.result_store, self.event_store, statuses, cutoff
            )
        registry = _workerregistry(self.task_queue, "purge")
        dead = [w for w in await registry.list_workers(None) if w.heartbeat_at < cutoff]
        dead = [w for w in dead if not _is_alive(w, now)]
        if dry_run:
            results = _resultadmin(self.result_store, "a dry run of purge")
            expired = await results.count_expired(now)
        else:
            expired = await self.result_store.purge_expired(now)
            for worker in dead:
                await registry.unregister_worker(worker.id)
        orphans = 0
        capabilities = self.store.capabilities
        sweeper = self.task_queue
        if (
            not dry_run
            and isinstance(sweeper, OrphanSweeper)
            and capabilities.fused_events
            and capabilities.fused_results  # the three roles are one store
        ):
            orphans = await sweeper.sweep_orphans()
        reclaimed = None
        if reclaimer is not None:
            reclaimed = 0 if dry_run else await reclaimer.reclaim_space()
        return PurgeReport(
            dry_run=dry_run, task_ids=task_ids, expired_results=expired, dead_workers=len(dead),
            reclaimed_bytes=reclaimed, orphans=orphans,
        )  # fmt: skip

    def purge(
        self,
        older_than: dt.timedelta | float = DEFAULT_PURGE_AGE,
        status: str | Sequence[str] | None = None,
        dry_run: bool = False,
        vacuum: bool = False,
    ) -> PurgeReport:
        """Sync twin of :meth:`purge_async`."""
        return portal().call(self.purge_async(older_than, status, dry_run, vacuum))


def _unsupported(store: object, role: str, verb: str) -> ConfigurationError:
    return ConfigurationError(
        f"{type(store).__name__} does not support {verb} (it does not implement {role})"
    )


def _taskadmin(store: object, verb: str) -> TaskAdmin:
    if isinstance(store, TaskAdmin):
        return store
    raise _unsupported(store, "TaskAdmin", verb)


def _workerregistry(store: object, verb: str) -> WorkerRegistry:
    if isinstance(store, WorkerRegistry):
        return store
    raise _unsupported(store, "WorkerRegistry", verb)


def _eventlog(store: object, verb: str) -> EventLog:
    if isinstance(store, EventLog):
        return store
    raise _unsupported(store, "EventLog", verb)


def _resultadmin(store: object, verb: str) -> ResultAdmin:
    if isinstance(store, ResultAdmin):
        return store
    raise _unsupported(store, "ResultAdmin", verb)


def _reclaimer(store: object) -> SpaceReclaimer:
    if isinstance(store, SpaceReclaimer):
        return store
    raise ConfigurationError(
        f"vacuum is not supported by {type(store).__name__}: its server gives space back "
        "by itself (it does not implement SpaceReclaimer); purge without vacuum"
    )


def _is_alive(record: WorkerRecord, now: float) -> bool:
    return record.heartbeat_at + record.lease_duration >= now
