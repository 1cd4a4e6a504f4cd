"""Dependency and cancellation verbs of the file task queue (a mixin).

A ``waiting`` task has an entry ``waiting/<id>`` and one ``deps/<dependency>/<id>`` per
task it waits for, written before its task file: a completing or failing task finds its
dependents by listing its own ``deps/`` directory, not by a scan.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence

from omniq.backends.file.documents import TaskDoc
from omniq.backends.file.layout import name_of
from omniq.backends.file.store import ObjectStore, Writes
from omniq.backends.file.task_files import TaskFiles, events_by_task, waiting_key
from omniq.models.event import TaskEvent
from omniq.models.task import TaskError, TaskStatus
from omniq.storage.records import TaskRecord

__all__ = ["DependencyVerbs"]

_NOT_STARTED = (TaskStatus.WAITING, TaskStatus.ENQUEUED, TaskStatus.RETRYING)
_NEVER = (TaskStatus.FAILED, TaskStatus.EXPIRED, TaskStatus.CANCELLED)


class DependencyVerbs(TaskFiles):
    """The dependency and cancellation part of the task queue protocol, on files."""

    @staticmethod
    def _dependent_key(dependency: str, task_id: str) -> str:
        return f"deps/{name_of(dependency)}/{name_of(task_id)}"

    def _dependents(self, store: ObjectStore, task_id: str) -> list[str]:
        from omniq.backends.file.layout import id_of

        return [id_of(name) for name in store.list(f"deps/{name_of(task_id)}")]

    def _statuses(self, store: ObjectStore, ids: Sequence[str]) -> list[TaskStatus | None]:
        return [
            found.status if (found := self._record(store, task_id)) is not None else None
            for task_id in ids
        ]

    # -- TaskQueue ---------------------------------------------------------------------------

    async def stuck_waiting(self, limit: int) -> list[TaskRecord]:
        """Return ``waiting`` tasks whose wait is over (see the protocol); read-only."""
        return await self._state.read(self._stuck, limit)

    def _stuck(self, limit: int) -> list[TaskRecord]:
        from omniq.backends.file.layout import id_of

        store, _ = self._open()
        stuck: list[TaskRecord] = []
        for name in store.list("waiting"):
            record = self._record(store, id_of(name))
            if record is None or record.status is not TaskStatus.WAITING:
                continue
            statuses = self._statuses(store, record.depends_on)
            done = all(status is TaskStatus.COMPLETED for status in statuses)
            never = any(status in _NEVER for status in statuses)
            if done or never:
                stuck.append(self._copy(record))
                if len(stuck) >= limit:
                    break
        return stuck

    async def release_dependents(
        self,
        task_ids: Sequence[str],
        events_for: Callable[[list[str]], Sequence[TaskEvent]] | None = None,
    ) -> list[str]:
        """Make claimable the ``waiting`` dependents whose dependencies all completed.

        With ``events_for``, the released tasks' events go into their files and the log in
        the same commit as their new status.
        """
        return await self._state.run(
            self._release_dependents, list(dict.fromkeys(task_ids)), events_for,
            kind="release",
        )  # fmt: skip

    def _release_dependents(
        self,
        task_ids: list[str],
        events_for: Callable[[list[str]], Sequence[TaskEvent]] | None,
    ) -> list[str]:
        store, log = self._open()
        writes = Writes(store)
        ready: dict[str, TaskRecord] = {}  # the waiting dependents whose dependencies completed
        for task_id in task_ids:
            for dependent in self._dependents(store, task_id):
                if dependent in ready:
                    continue
                record = self._record(store, dependent)
                if record is None or record.status is not TaskStatus.WAITING:
                    continue
                if any(s is not TaskStatus.COMPLETED
                       for s in self._statuses(store, record.depends_on)):  # fmt: skip
                    continue
                ready[dependent] = record
        if not ready:
            return []
        events = list(events_for(list(ready))) if events_for is not None else []
        position, stored = log.append(writes, [e for e in events if e.task_id in ready])
        grouped = events_by_task(stored)
        released: list[str] = []
        for dependent, record in ready.items():

            def change(current: TaskDoc, dependent: str = dependent) -> TaskDoc | None:
                if current.task.status is not TaskStatus.WAITING:
                    return None
                new = self._copy(current.task)
                new.status = TaskStatus.ENQUEUED
                return self._enter_queue(writes, current, new, grouped.get(dependent))

            if self._change(writes, dependent, change) is not None:
                writes.delete(waiting_key(dependent))
                for dependency in record.depends_on:
                    writes.delete(self._dependent_key(dependency, dependent))
                released.append(dependent)
        log.retract(writes, position, [task_id for task_id in ready if task_id not in released])
        writes.commit()
        return released

    async def cancel_dependents(self, task_id: str, error: TaskError, now: float) -> list[str]:
        """Cancel every ``waiting`` task depending on ``task_id``, transitively."""
        return await self._state.run(self._cancel_dependents, task_id, error, now)

    def _cancel_dependents(self, task_id: str, error: TaskError, now: float) -> list[str]:
        store, _ = self._open()
        writes = Writes(store)
        cancelled: list[str] = []
        seen = {task_id}
        pending = deque([task_id])
        while pending:
            for dependent in self._dependents(store, pending.popleft()):
                if dependent in seen:
                    continue
                seen.add(dependent)
                pending.append(dependent)

                def change(current: TaskDoc) -> TaskDoc | None:
                    if current.task.status is not TaskStatus.WAITING:
                        return None
                    record = self._copy(current.task)
                    record.status = TaskStatus.CANCELLED
                    record.finished_at = now
                    record.error = error
                    return self._with(current, record)

                if self._change(writes, dependent, change) is not None:
                    writes.delete(waiting_key(dependent))
                    cancelled.append(dependent)
        writes.commit()
        return cancelled

    async def cancel(self, task_id: str, now: float, error: TaskError) -> TaskStatus | None:
        """Cancel a task not started yet, or flag an executing one (see the protocol)."""
        return await self._state.run(self._cancel, task_id, now, error)

    def _cancel(self, task_id: str, now: float, error: TaskError) -> TaskStatus | None:
        store, _ = self._open()
        writes = Writes(store)
        before: list[TaskDoc] = []

        def change(current: TaskDoc) -> TaskDoc | None:
            before[:] = [current]
            record = self._copy(current.task)
            if record.status in _NOT_STARTED:
                record.status = TaskStatus.CANCELLED
                record.finished_at = now
                record.error = error
                record.lease_expires_at = None
            elif record.status is TaskStatus.EXECUTING and not record.cancel_requested:
                record.cancel_requested = True
            else:
                return None
            return self._with(current, record)

        after = self._change(writes, task_id, change)
        if after is not None:
            self._leave_index(writes, before[0], after)
            writes.commit()
            return before[0].task.status
        return before[0].task.status if before else None

    async def requested_cancellations(self, task_ids: Sequence[str]) -> list[str]:
        """Return the ids among ``task_ids`` whose ``cancel_requested`` is set."""
        return await self._state.read(self._requested, list(dict.fromkeys(task_ids)))

    def _requested(self, task_ids: list[str]) -> list[str]:
        store, _ = self._open()
        return [
            task_id
            for task_id in task_ids
            if (record := self._record(store, task_id)) is not None and record.cancel_requested
        ]
