"""What the pages show, read through the public admin API and the storage interfaces.

Counting every queue by status scans the tasks of a store (SQLite has no counted index), so
the overview reads a :class:`CountsCache`: one count at a time, refreshed in the background
once it is older than a few times what it took (a person sees it move every second on a
small store; on a store of millions the scans stay a small share of one core), while a page
renders at once from the latest count, with its age shown.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence

import msgspec

from omniq.api import OmniQ
from omniq.core.task_builder import task_from_record
from omniq.exceptions import ConfigurationError
from omniq.models.schedule import Schedule
from omniq.models.stats import Stats
from omniq.models.task import Task, TaskStatus
from omniq.storage.admin import TaskAdmin, TaskBrowser, TaskFilter

__all__ = ["CountsCache", "Overview", "TaskPage", "browse_tasks", "running_by_worker"]

#: Tasks a backend without :class:`TaskBrowser` is asked for, newest first, to filter.
FALLBACK_SCAN = 10_000
#: Most executing tasks listed under the workers.
RUNNING_SHOWN = 500


class Overview(msgspec.Struct, frozen=True, kw_only=True):
    """A count of the store, and when it was taken.

    Attributes:
        stats: Counts by queue and status, live workers, schedules.
        running: Executing tasks by worker id.
        taken_at: When the count finished (``time.monotonic()``).
        took: Seconds the count took.
    """

    stats: Stats
    running: dict[str, list[Task]]
    taken_at: float
    took: float

    @property
    def age(self) -> float:
        """Seconds since the count."""
        return time.monotonic() - self.taken_at


class CountsCache:
    """The latest :class:`Overview` of a store, refreshed when it gets old.

    Args:
        oq: The open OmniQ to read.
        min_interval: Shortest time between two counts, in seconds.
        factor: A count is refreshed once older than ``factor`` times what it took.
        wait_below: A page waits for the new count when the last one took less than this
            many seconds (a small store: always fresh); otherwise it gets the latest one.
    """

    def __init__(
        self, oq: OmniQ, min_interval: float = 1.0, factor: float = 5.0, wait_below: float = 0.05
    ) -> None:
        self._oq = oq
        self._wait_below = wait_below
        self._min_interval = min_interval
        self._factor = factor
        self._latest: Overview | None = None
        self._refresh: asyncio.Task[Overview] | None = None

    async def get(self) -> Overview:
        """The latest count; the first call waits for one, later calls never do."""
        latest = self._latest
        if latest is None:
            return await self._start()
        if latest.age > max(self._min_interval, self._factor * latest.took):
            refresh = self._start()
            if latest.took < self._wait_below:  # a cheap count: show it fresh
                return await refresh
        return latest

    async def fresh(self) -> Overview:
        """A count taken now (after an action, so the page shows its effect)."""
        return await self._start(force=True)

    def _start(self, force: bool = False) -> asyncio.Task[Overview]:
        if self._refresh is None or (force and self._refresh.done()):
            self._refresh = asyncio.ensure_future(self._count())
            self._refresh.add_done_callback(self._finished)
        return self._refresh

    def _finished(self, task: asyncio.Task[Overview]) -> None:
        if self._refresh is task:
            self._refresh = None
        if not task.cancelled() and task.exception() is None:
            self._latest = task.result()

    async def _count(self) -> Overview:
        started = time.monotonic()
        stats = await self._oq.stats_async()
        running = await running_by_worker(self._oq)
        done = time.monotonic()
        return Overview(stats=stats, running=running, taken_at=done, took=done - started)

    async def close(self) -> None:
        """Cancel a count in progress."""
        if self._refresh is not None:
            self._refresh.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._refresh


async def running_by_worker(oq: OmniQ) -> dict[str, list[Task]]:
    """The executing tasks (up to :data:`RUNNING_SHOWN`), by the worker running them."""
    page = await browse_tasks(oq, TaskFilter(statuses=(TaskStatus.EXECUTING,)), None,
                              RUNNING_SHOWN)  # fmt: skip
    found: dict[str, list[Task]] = {}
    for task in page.tasks:
        found.setdefault(task.worker_id or "", []).append(task)
    return found


class TaskPage(msgspec.Struct, frozen=True, kw_only=True):
    """One page of filtered tasks.

    Attributes:
        tasks: The tasks, most recently enqueued first.
        next_cursor: Where the next page starts, or ``None`` on the last page.
        complete: Whether the filter saw every task (``False``: a backend without
            :class:`TaskBrowser` filtered only its most recent :data:`FALLBACK_SCAN`).
    """

    tasks: list[Task]
    next_cursor: str | None
    complete: bool = True


async def browse_tasks(oq: OmniQ, where: TaskFilter, before: str | None, limit: int) -> TaskPage:
    """A page of tasks matching ``where``, after cursor ``before``.

    Uses the backend's :class:`TaskBrowser` (an indexed query, keyset pagination) when it
    has one; otherwise pages through :meth:`omniq.OmniQ.list_tasks_async`, filtering its
    most recent :data:`FALLBACK_SCAN` tasks by name, tag and id prefix (cursors are then
    positions, ``+N``).

    Raises:
        ConfigurationError: ``before`` is not a cursor of this store.
    """
    await oq.open_async()
    queue = oq.task_queue
    if isinstance(queue, TaskBrowser):
        records, cursor = await queue.browse_tasks(where, before, limit)
        return TaskPage(tasks=[task_from_record(r, oq.serializer) for r in records],
                        next_cursor=cursor)  # fmt: skip
    if not isinstance(queue, TaskAdmin):
        return TaskPage(tasks=[], next_cursor=None)
    offset = _offset(before)
    narrowed = where.name is not None or where.tag is not None or bool(where.id_prefix)
    # Without filters of its own, ask for just what this page needs; otherwise the most
    # recent FALLBACK_SCAN, to filter here.
    wanted = FALLBACK_SCAN if narrowed else min(FALLBACK_SCAN, offset + limit + 1)
    statuses: Sequence[TaskStatus] | None = where.statuses
    records = await queue.list_tasks(statuses, where.queue_name, wanted)
    matching = [r for r in records if _matches(r.name, r.tags, r.id, where)]
    page = matching[offset : offset + limit]
    more = len(matching) > offset + limit
    return TaskPage(
        tasks=[task_from_record(r, oq.serializer) for r in page],
        next_cursor=f"+{offset + limit}" if more else None,
        complete=len(records) < FALLBACK_SCAN,
    )


def _offset(cursor: str | None) -> int:
    """The position a fallback cursor (``+N``) names."""
    if cursor is None:
        return 0
    if not (cursor.startswith("+") and cursor[1:].isascii() and cursor[1:].isdigit()):
        raise ConfigurationError(f"page cursor {cursor!r} is not one of this store's (+N)")
    return min(int(cursor[1:]), FALLBACK_SCAN)


def _matches(name: str | None, tags: list[str], task_id: str, where: TaskFilter) -> bool:
    return (
        (where.name is None or name == where.name)
        and (where.tag is None or where.tag in tags)
        and (not where.id_prefix or task_id.startswith(where.id_prefix))
    )


async def schedule_runs(oq: OmniQ, schedule: Schedule, limit: int = 5) -> list[Task]:
    """The latest runs of a schedule, newest first."""
    await oq.open_async()
    records = await oq.task_queue.schedule_runs(schedule.id)
    return [task_from_record(r, oq.serializer) for r in reversed(records[-limit:])]
