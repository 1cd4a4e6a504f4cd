"""Dependency and cancellation verbs of the PostgreSQL task queue (a mixin).

``task_dependencies (depends_on, task_id)`` is keyed by the task waited for, so a completing
or failing task finds its dependents by its primary key, never by a scan of ``tasks``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from psycopg import AsyncConnection

from omniq.backends.postgres.notifications import CANCEL_PAYLOAD, result_payload, tasks_payload
from omniq.backends.postgres.rows import encode_error, event_arrays, task_from_row
from omniq.backends.postgres.verbs import Verbs
from omniq.models.event import TaskEvent
from omniq.models.task import TaskError, TaskStatus
from omniq.storage.records import TaskRecord

__all__ = ["DependencyVerbs"]

_NOT_STARTED = (TaskStatus.WAITING, TaskStatus.ENQUEUED, TaskStatus.RETRYING)


class NoDependents:
    """Ids of tasks just completed that had no dependents (a bounded, forgetting set).

    ``complete_many`` learns it in its own statement; the release the core asks for next
    then needs no round trip. Forgetting an id only costs that one query.
    """

    def __init__(self, most: int = 50_000) -> None:
        self._ids: dict[str, None] = {}
        self._most = most

    def update(self, ids: Iterable[str]) -> None:
        """Remember ``ids`` (forgetting the oldest beyond the bound)."""
        self._ids.update(dict.fromkeys(ids))
        while len(self._ids) > self._most:
            del self._ids[next(iter(self._ids))]

    def take(self, task_id: str) -> bool:
        """Whether ``task_id`` is known to have no dependents (forgotten once asked)."""
        return self._ids.pop(task_id, 0) is None

    def forget(self, tasks: Iterable[TaskRecord]) -> None:
        """Forget the dependencies of ``tasks`` (waiting ones being stored: new dependents)."""
        for task in tasks:
            for dependency in task.depends_on:
                self._ids.pop(dependency, None)


class DependencyVerbs(Verbs):
    """The dependency and cancellation part of the task queue protocol, on PostgreSQL."""

    _no_dependents: NoDependents

    async def stuck_waiting(self, limit: int) -> list[TaskRecord]:
        """Return ``waiting`` tasks whose wait is over (see the protocol); read-only."""
        rows = await self._rows(self._q.stuck_waiting, {"limit": limit})
        return [task_from_row(row) for row in rows]

    async def release_dependents(
        self,
        task_ids: Sequence[str],
        events_for: Callable[[list[str]], Sequence[TaskEvent]] | None = None,
    ) -> list[str]:
        """Make claimable the ``waiting`` dependents whose dependencies all completed.

        Their events (``events_for``) commit with them, before the wake-up goes out.
        """
        ids = [i for i in dict.fromkeys(task_ids) if not self._no_dependents.take(i)]
        if not ids:
            return []

        async def release(conn: AsyncConnection[Any]) -> list[str]:
            async with conn.transaction():
                cursor = await conn.execute(self._q.release_dependents, {"ids": ids})
                released = [row[0] for row in await cursor.fetchall()]
                if released:
                    if events_for is not None:
                        events = event_arrays(events_for(released))
                        await conn.execute(self._q.append_events, events)
                    await self._notify(conn, tasks_payload(None))
            return released

        return await self._db.run(release)

    async def cancel_dependents(self, task_id: str, error: TaskError, now: float) -> list[str]:
        """Cancel every ``waiting`` task that depends on ``task_id``, transitively."""
        encoded = encode_error(error)

        async def cancel(conn: AsyncConnection[Any]) -> list[str]:
            async with conn.transaction():
                cursor = await conn.execute(self._q.below, {"id": task_id})
                below = [row[0] for row in await cursor.fetchall()]
                if not below:
                    return []
                cursor = await conn.execute(
                    self._q.cancel_waiting, {"ids": below, "now": now, "error": encoded}
                )
                cancelled = {row[0] for row in await cursor.fetchall()}
                ordered = [dependent for dependent in below if dependent in cancelled]
                if ordered:
                    await self._notify(conn, *result_payload(ordered))
            return ordered

        return await self._db.run(cancel)

    async def cancel(self, task_id: str, now: float, error: TaskError) -> TaskStatus | None:
        """Cancel a task not started yet at once, or flag an executing one."""
        encoded = encode_error(error)

        async def cancel(conn: AsyncConnection[Any]) -> TaskStatus | None:
            async with conn.transaction():
                cursor = await conn.execute(self._q.lock_status, {"id": task_id})
                row = await cursor.fetchone()
                if row is None:
                    return None
                before = TaskStatus(row[0])
                if before in _NOT_STARTED:
                    params = {"id": task_id, "now": now, "error": encoded}
                    await conn.execute(self._q.cancel_now, params)
                    await self._notify(conn, *result_payload([task_id]))
                elif before is TaskStatus.EXECUTING:
                    await conn.execute(self._q.request_cancel, {"id": task_id})
                    await self._notify(conn, CANCEL_PAYLOAD)
            return before

        return await self._db.run(cancel)

    async def requested_cancellations(self, task_ids: Sequence[str]) -> list[str]:
        """Return the ids among ``task_ids`` whose ``cancel_requested`` is set."""
        ids = list(dict.fromkeys(task_ids))
        if not ids:
            return []
        rows = await self._rows(self._q.requested_cancellations, {"ids": ids})
        return [row[0] for row in rows]
