"""Dependency and cancellation verbs of the Redis task queue (a mixin).

A ``waiting`` task is recorded in the set ``P:dn:<id>`` of each task it waits for, so a
completing or failing task finds its dependents by key, never by a scan.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from omniq.backends.redis.codec import Arg, encode_error, grouped_event_args, time_arg
from omniq.backends.redis.verbs import Verbs, as_texts
from omniq.models.event import TaskEvent
from omniq.models.task import TaskError, TaskStatus
from omniq.storage.records import TaskRecord

__all__ = ["DependencyVerbs"]


class DependencyVerbs(Verbs):
    """The dependency and cancellation part of the task queue protocol, on Redis."""

    async def stuck_waiting(self, limit: int) -> list[TaskRecord]:
        """Return ``waiting`` tasks whose wait is over (see the protocol); read-only."""
        return await self._tasks("stuck_waiting", [limit])

    async def release_dependents(
        self,
        task_ids: Sequence[str],
        events_for: Callable[[list[str]], Sequence[TaskEvent]] | None = None,
    ) -> list[str]:
        """Make claimable the ``waiting`` dependents whose dependencies all completed.

        With ``events_for``: a read-only peek finds the dependents to release, their events
        are built, and one script releases those with their events (see the script).
        """
        ids = list(dict.fromkeys(task_ids))
        if not ids:
            return []
        if events_for is None:
            return as_texts(await self._script("release_dependents", [len(ids), *ids, "all"]))
        ready = as_texts(await self._script("release_dependents", [len(ids), *ids, "peek"]))
        if not ready:
            return []
        events = grouped_event_args(events_for(ready))
        return as_texts(
            await self._script("release_dependents", [len(ids), *ids, "given", *events])
        )

    async def cancel_dependents(self, task_id: str, error: TaskError, now: float) -> list[str]:
        """Cancel every ``waiting`` task that depends on ``task_id``, transitively."""
        args: list[Arg] = [task_id, encode_error(error), time_arg(now)]
        return as_texts(await self._script("cancel_dependents", args))

    async def cancel(self, task_id: str, now: float, error: TaskError) -> TaskStatus | None:
        """Cancel a task not started yet at once, or flag an executing one."""
        before = await self._script("cancel", [task_id, time_arg(now), encode_error(error)])
        return TaskStatus(before.decode()) if before else None

    async def requested_cancellations(self, task_ids: Sequence[str]) -> list[str]:
        """Return the ids among ``task_ids`` whose ``cancel_requested`` is set."""
        ids = list(dict.fromkeys(task_ids))
        if not ids:
            return []
        return as_texts(await self._script("requested_cancellations", [len(ids), *ids]))
