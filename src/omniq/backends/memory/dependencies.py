"""Dependency and cancellation verbs of the memory task queue (mixed into MemoryTaskQueue).

Dependents are indexed by the task they wait for (``depends_on id -> ids``), so a completing
or failing task finds its dependents directly; a dependent leaves the index once it is no
longer ``waiting``.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence

from omniq.backends.memory.copies import copy_task
from omniq.backends.memory.event_store import MemoryEventStorage
from omniq.exceptions import BackendError
from omniq.models.event import TaskEvent
from omniq.models.task import TaskError, TaskStatus
from omniq.storage.records import TaskRecord

__all__ = ["DependencyVerbs"]

#: Statuses :meth:`DependencyVerbs.cancel` turns into ``cancelled`` at once.
_NOT_STARTED = (TaskStatus.WAITING, TaskStatus.ENQUEUED, TaskStatus.RETRYING)
_NEVER = (TaskStatus.FAILED, TaskStatus.EXPIRED, TaskStatus.CANCELLED)


class DependencyVerbs:
    """The dependency and cancellation part of the task queue protocol, in process memory."""

    _lock: threading.Lock
    _tasks: dict[str, TaskRecord]
    event_sink: MemoryEventStorage | None

    def _init_dependencies(self) -> None:
        # depends_on id -> ids of the waiting tasks that wait for it (a dict as ordered set)
        self._dependents: dict[str, dict[str, None]] = {}

    def _set_status(self, record: TaskRecord, status: TaskStatus) -> None:
        """Change the status and the indexes (implemented by the task queue)."""
        raise NotImplementedError

    # -- helpers (call with the lock held) ---------------------------------------------------

    def _add_dependent(self, record: TaskRecord) -> None:
        """Index a new ``waiting`` task under each of its dependencies."""
        for dependency in record.depends_on:
            self._dependents.setdefault(dependency, {})[record.id] = None

    def _forget_dependent(self, record: TaskRecord) -> None:
        """Drop a task that stopped waiting from the index."""
        for dependency in record.depends_on:
            waiting = self._dependents.get(dependency)
            if waiting is not None:
                waiting.pop(record.id, None)
                if not waiting:
                    del self._dependents[dependency]

    def _all_completed(self, record: TaskRecord) -> bool:
        for dependency in record.depends_on:
            found = self._tasks.get(dependency)
            if found is None or found.status != TaskStatus.COMPLETED:
                return False
        return True

    # -- TaskQueue ---------------------------------------------------------------------------

    async def stuck_waiting(self, limit: int) -> list[TaskRecord]:
        """Return ``waiting`` tasks whose wait is over (see the protocol); read-only."""
        stuck: list[TaskRecord] = []
        with self._lock:
            waiting = {
                task_id for dependents in self._dependents.values() for task_id in dependents
            }
            for task_id in waiting:
                record = self._tasks.get(task_id)
                if record is None or record.status != TaskStatus.WAITING:
                    continue
                statuses = [
                    found.status if (found := self._tasks.get(d)) is not None else None
                    for d in record.depends_on
                ]
                done = all(status == TaskStatus.COMPLETED for status in statuses)
                never = any(status in _NEVER for status in statuses)
                if done or never:
                    stuck.append(copy_task(record))
                    if len(stuck) >= limit:
                        break
        return stuck

    async def release_dependents(
        self,
        task_ids: Sequence[str],
        events_for: Callable[[list[str]], Sequence[TaskEvent]] | None = None,
    ) -> list[str]:
        """Make claimable the ``waiting`` dependents whose dependencies all completed.

        Args:
            task_ids: Tasks that just completed.
            events_for: Builds the released tasks' events, appended under the same lock.

        Returns:
            The ids that became ``enqueued``.
        """
        released: list[str] = []
        with self._lock:
            for task_id in dict.fromkeys(task_ids):
                for dependent_id in list(self._dependents.get(task_id, ())):
                    record = self._tasks.get(dependent_id)
                    if record is None or record.status != TaskStatus.WAITING:
                        continue
                    if self._all_completed(record):
                        self._forget_dependent(record)
                        self._set_status(record, TaskStatus.ENQUEUED)
                        released.append(dependent_id)
            if events_for is not None and released:
                if self.event_sink is None:
                    raise BackendError("events_for was given but there is no event store")
                self.event_sink.append_now(events_for(released))
        return released

    async def cancel_dependents(self, task_id: str, error: TaskError, now: float) -> list[str]:
        """Cancel every ``waiting`` task that depends on ``task_id``, directly or transitively.

        Args:
            task_id: A task that will never complete.
            error: Recorded on each cancelled dependent.
            now: Written as ``finished_at``.

        Returns:
            The ids cancelled, nearest dependents first.
        """
        cancelled: list[str] = []
        with self._lock:
            seen = {task_id}
            pending = deque([task_id])
            while pending:
                for dependent_id in list(self._dependents.get(pending.popleft(), ())):
                    if dependent_id in seen:
                        continue
                    seen.add(dependent_id)
                    pending.append(dependent_id)
                    record = self._tasks.get(dependent_id)
                    if record is None or record.status != TaskStatus.WAITING:
                        continue
                    self._forget_dependent(record)
                    self._set_status(record, TaskStatus.CANCELLED)
                    record.finished_at = now
                    record.error = error
                    cancelled.append(dependent_id)
        return cancelled

    async def cancel(self, task_id: str, now: float, error: TaskError) -> TaskStatus | None:
        """Cancel a task not started yet at once, or flag an executing one.

        Args:
            task_id: The task.
            now: Written as ``finished_at``.
            error: Recorded on a task cancelled at once.

        Returns:
            The status the task had before the call, or ``None`` if the task is unknown.
        """
        with self._lock:
            record = self._tasks.get(task_id)
            if record is None:
                return None
            before = record.status
            if before in _NOT_STARTED:
                if before == TaskStatus.WAITING:
                    self._forget_dependent(record)
                self._set_status(record, TaskStatus.CANCELLED)
                record.finished_at = now
                record.error = error
                record.lease_expires_at = None
            elif before == TaskStatus.EXECUTING:
                record.cancel_requested = True
            return before

    async def requested_cancellations(self, task_ids: Sequence[str]) -> list[str]:
        """Return the ids among ``task_ids`` whose ``cancel_requested`` is set."""
        with self._lock:
            return [
                task_id
                for task_id in dict.fromkeys(task_ids)
                if (record := self._tasks.get(task_id)) is not None and record.cancel_requested
            ]
