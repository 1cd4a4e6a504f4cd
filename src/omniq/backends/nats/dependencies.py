"""Dependency and cancellation verbs of the NATS task queue (a mixin).

A waiting task's ``depends_on`` is its dependency record: the view of live tasks
(:mod:`.index`) keeps the reverse edges, so a completing or failing task finds its
dependents there without a scan. Each dependent is then changed by its own compare-and-set:
a cancellation that spans several tasks is not one atomic write, and a process killed
half way leaves the rest ``waiting``, which :meth:`DependencyVerbs.stuck_waiting` reports
to the workers' maintenance pass (it finishes the job).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import msgspec

from omniq.backends.nats.index import Entry
from omniq.backends.nats.notifications import CANCEL_PAYLOAD, result_payloads, tasks_payload
from omniq.backends.nats.verbs import Verbs, gather_map, refuse_fused
from omniq.models.event import TaskEvent
from omniq.models.task import TaskError, TaskStatus
from omniq.storage.records import TaskRecord

__all__ = ["DependencyVerbs"]

_replace = msgspec.structs.replace
_NOT_STARTED = (TaskStatus.WAITING, TaskStatus.ENQUEUED, TaskStatus.RETRYING)
_DOOMED = (TaskStatus.FAILED, TaskStatus.EXPIRED, TaskStatus.CANCELLED)


class DependencyVerbs(Verbs):
    """The dependency and cancellation part of the task queue protocol, on NATS."""

    async def _statuses(self, task_ids: Sequence[str]) -> dict[str, TaskStatus | None]:
        """The current status of each task (``None``: unknown), live ones from the view."""
        found: dict[str, TaskStatus | None] = {}
        missing: list[str] = []
        for task_id in dict.fromkeys(task_ids):
            entry = self._mirror.index.tasks.get(task_id)
            if entry is not None:
                found[task_id] = entry.task.status
            else:
                missing.append(task_id)
        read = await gather_map(self._read, missing)
        for task_id, entry in zip(missing, read, strict=True):
            found[task_id] = None if entry is None else entry.task.status
        return found

    async def stuck_waiting(self, limit: int) -> list[TaskRecord]:
        """Return ``waiting`` tasks whose wait is over (see the protocol); read-only."""

        async def run() -> list[TaskRecord]:
            await self._mirror.sync()
            waiting = self._mirror.index.waiting()
            statuses = await self._statuses([d for e in waiting for d in e.task.depends_on])
            stuck: list[TaskRecord] = []
            for entry in waiting:
                deps = [statuses.get(d) for d in entry.task.depends_on]
                if all(s is TaskStatus.COMPLETED for s in deps) or any(s in _DOOMED for s in deps):
                    stuck.append(entry.task)
                    if len(stuck) >= limit:
                        break
            return [_copy(task) for task in stuck]

        return await self._conn.run(run)

    async def release_dependents(
        self,
        task_ids: Sequence[str],
        events_for: Callable[[list[str]], Sequence[TaskEvent]] | None = None,
    ) -> list[str]:
        """Make claimable the ``waiting`` dependents whose dependencies all completed."""
        if events_for is not None:
            raise refuse_fused("events")
        ids = list(dict.fromkeys(task_ids))
        if not ids:
            return []

        def release(task: TaskRecord) -> TaskRecord | None:
            if task.status is not TaskStatus.WAITING:
                return None
            return _replace(task, status=TaskStatus.ENQUEUED)

        async def run() -> list[str]:
            await self._mirror.sync()
            candidates: dict[str, Entry] = {}
            for task_id in ids:
                for entry in self._mirror.index.dependents_of(task_id):
                    if entry.task.status is TaskStatus.WAITING:
                        candidates.setdefault(entry.task.id, entry)
            ordered = sorted(candidates.values(), key=lambda entry: entry.seq)
            statuses = await self._statuses([d for e in ordered for d in e.task.depends_on])
            ready = [
                entry
                for entry in ordered
                if all(statuses.get(d) is TaskStatus.COMPLETED for d in entry.task.depends_on)
            ]
            done = await gather_map(lambda e: self._change(e.task.id, release, e), ready)
            released = [task.id for task in done if task is not None]
            if released:
                await self._wake(tasks_payload(None))
            return released

        return await self._conn.run(run)

    async def cancel_dependents(self, task_id: str, error: TaskError, now: float) -> list[str]:
        """Cancel every ``waiting`` task that depends on ``task_id``, transitively."""

        def cancel(task: TaskRecord) -> TaskRecord | None:
            if task.status is not TaskStatus.WAITING:
                return None
            return _replace(task, status=TaskStatus.CANCELLED, finished_at=now, error=error)

        async def run() -> list[str]:
            await self._mirror.sync()
            index = self._mirror.index
            cancelled: list[str] = []
            visited = {task_id}
            level = [task_id]
            while level:
                below: list[Entry] = []
                for parent in level:
                    for entry in index.dependents_of(parent):
                        if entry.task.id not in visited:
                            visited.add(entry.task.id)
                            below.append(entry)
                done = await gather_map(lambda e: self._change(e.task.id, cancel, e), below)
                cancelled.extend(task.id for task in done if task is not None)
                level = [entry.task.id for entry in below]
            if cancelled:
                await self._wake(*result_payloads(cancelled))
            return cancelled

        return await self._conn.run(run)

    async def cancel(self, task_id: str, now: float, error: TaskError) -> TaskStatus | None:
        """Cancel a task not started yet at once, or flag an executing one."""
        before: list[TaskStatus] = []

        def cancel(task: TaskRecord) -> TaskRecord | None:
            before.append(task.status)
            if task.status in _NOT_STARTED:
                return _replace(task, status=TaskStatus.CANCELLED, finished_at=now, error=error)
            if task.status is TaskStatus.EXECUTING and not task.cancel_requested:
                return _replace(task, cancel_requested=True)
            return None

        async def run() -> TaskStatus | None:
            done = await self._change(task_id, cancel)
            if done is not None:
                if done.status is TaskStatus.CANCELLED:
                    await self._wake(*result_payloads([task_id]))
                else:
                    await self._wake(CANCEL_PAYLOAD)
            return before[-1] if before else None

        return await self._conn.run(run)

    async def requested_cancellations(self, task_ids: Sequence[str]) -> list[str]:
        """Return the ids among ``task_ids`` whose ``cancel_requested`` is set."""
        ids = list(dict.fromkeys(task_ids))
        if not ids:
            return []

        async def run() -> list[str]:
            found = await gather_map(self._read, ids)
            return [e.task.id for e in found if e is not None and e.task.cancel_requested]

        return await self._conn.run(run)


def _copy(task: TaskRecord) -> TaskRecord:
    """A copy the caller may change without touching the view."""
    return _replace(task, tags=list(task.tags), depends_on=list(task.depends_on))
