"""Dependencies between tasks: what one task's outcome means for the tasks that wait for it.

A task enqueued with ``depends_on`` is stored ``waiting`` and is not claimable. When a task
completes, the core asks the backend to release its dependents (those whose dependencies
have now all completed become ``enqueued``); when a task fails for good, expires or is
cancelled, its dependents can never run, so the core cancels them, transitively, with an
error naming it. Backends only find dependents by key; every decision is taken here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from omniq.core.store import Store
from omniq.exceptions import ConfigurationError
from omniq.models.event import EventType, TaskEvent
from omniq.models.task import TaskError, TaskStatus
from omniq.storage.records import TaskRecord

__all__ = ["Dependencies", "DependencyPlan", "dependency_error"]

_HOW = {
    TaskStatus.FAILED: "failed",
    TaskStatus.EXPIRED: "expired",
    TaskStatus.CANCELLED: "was cancelled",
    TaskStatus.EXECUTING: "was cancelled",  # executing with a cancellation requested
}


def dependency_error(task_id: str, status: TaskStatus) -> TaskError:
    """The error recorded on a task cancelled because ``task_id`` will never complete."""
    how = _HOW.get(status, f"ended {status.value}")
    return TaskError(
        type="omniq.exceptions.TaskCancelledError",
        message=f"not run: task {task_id!r}, which this task depends on, {how}",
    )


def _never_completes(record: TaskRecord) -> bool:
    if record.status is TaskStatus.EXECUTING:
        return record.cancel_requested
    return record.status.is_final and record.status is not TaskStatus.COMPLETED


@dataclass(frozen=True, slots=True)
class DependencyPlan:
    """How to store new tasks given the current state of their dependencies.

    Attributes:
        status: ``enqueued`` (every dependency completed), ``waiting`` or ``cancelled`` (one
            will never complete).
        error: With ``cancelled``, the error naming that dependency.
        pending: Dependencies not completed yet (re-checked once the tasks are stored).
    """

    status: TaskStatus
    error: TaskError | None = None
    pending: tuple[str, ...] = ()


def _event(
    task_id: str,
    event_type: EventType,
    now: float,
    worker_id: str | None,
    *,
    error: TaskError | None = None,
    detail: str | None = None,
) -> TaskEvent:
    return TaskEvent(
        task_id=task_id,
        type=event_type,
        timestamp=now,
        worker_id=worker_id,
        error=None if error is None else f"{error.type}: {error.message}",
        detail=detail,
    )


@dataclass(frozen=True, slots=True)
class Dependencies:
    """The dependency policy on top of one store's verbs.

    Attributes:
        store: Tasks and their dependency records (task queue), the ``enqueued``
            (released) and ``cancelled`` events (event store), and the wake-ups of this
            process's workers (released tasks) and result waiters (cancelled tasks).
        worker_id: Written on the events, when a worker acts.
    """

    store: Store
    worker_id: str | None = None

    async def plan(self, depends_on: Sequence[str]) -> DependencyPlan:
        """Decide how to store tasks that depend on ``depends_on`` (ids without repeats).

        Raises:
            ConfigurationError: A dependency id names no task (nothing is stored then).
        """
        records = await asyncio.gather(
            *(self.store.task_queue.get(task_id) for task_id in depends_on)
        )
        pending: list[str] = []
        for task_id, record in zip(depends_on, records, strict=True):
            if record is None:
                raise ConfigurationError(f"depends_on names {task_id!r}, but no task has this id")
        for task_id, record in zip(depends_on, records, strict=True):
            assert record is not None
            if _never_completes(record):
                return DependencyPlan(
                    TaskStatus.CANCELLED, dependency_error(task_id, record.status)
                )
            if record.status is not TaskStatus.COMPLETED:
                pending.append(task_id)
        if pending:
            return DependencyPlan(TaskStatus.WAITING, pending=tuple(pending))
        return DependencyPlan(TaskStatus.ENQUEUED)

    async def settle(self, pending: Sequence[str]) -> None:
        """Re-check the dependencies of tasks just stored ``waiting``.

        A dependency that completed (or failed) between :meth:`plan` and the write looked for
        its dependents before they were stored; releasing or cancelling again here closes that
        gap (both verbs are idempotent).
        """
        records = await asyncio.gather(*(self.store.task_queue.get(task_id) for task_id in pending))
        for task_id, record in zip(pending, records, strict=True):
            if record is not None and _never_completes(record):
                await self.cancel_dependents(task_id, record.status)
                return
        completed = [
            task_id
            for task_id, record in zip(pending, records, strict=True)
            if record is not None and record.status is TaskStatus.COMPLETED
        ]
        if completed:
            await self.release(completed)

    async def release(self, completed: Sequence[str]) -> list[str]:
        """Release the dependents of tasks that just completed; wake workers if any.

        Returns:
            The ids that became claimable.
        """
        if not completed:
            return []
        fused = self.store.capabilities.fused_events
        released = await self.store.task_queue.release_dependents(
            completed, self.released_events if fused else None
        )
        await self.announce_released(released, logged=fused)
        return released

    def released_events(self, released: list[str]) -> list[TaskEvent]:
        """The ``enqueued`` events of tasks whose dependencies all completed."""
        now = self.store.clock.now()
        return [
            _event(task_id, EventType.ENQUEUED, now, self.worker_id,
                   detail="its dependencies completed")
            for task_id in released
        ]  # fmt: skip

    async def announce_released(self, released: list[str], *, logged: bool) -> None:
        """Wake this process's workers for released tasks (writing their events first).

        For callers that ran ``TaskQueue.release_dependents`` themselves (e.g. issued with
        the statuses). ``logged``: their events went in the release's own write (fused
        events); otherwise they are written here, after it.
        """
        if released:
            if not logged:
                await self.store.event_store.append(self.released_events(released))
            self.store.channel.notify_tasks()

    async def reconcile(self, limit: int = 100) -> int:
        """Finish releases and cancellations that a crash interrupted; return how many.

        A worker that died between a task's final status and the release (or cancellation)
        of its dependents leaves them ``waiting`` for ever; the maintenance pass of any
        worker calls this to settle them.
        """
        settled = 0
        for record in await self.store.task_queue.stuck_waiting(limit):
            dependencies = await asyncio.gather(
                *(self.store.task_queue.get(d) for d in record.depends_on)
            )
            never = [
                (task_id, found.status)
                for task_id, found in zip(record.depends_on, dependencies, strict=True)
                if found is not None and _never_completes(found)
            ]
            if never:
                settled += len(await self.cancel_dependents(*never[0]))
            else:
                settled += len(await self.release(record.depends_on))
        return settled

    async def cancel_dependents(self, task_id: str, status: TaskStatus) -> list[str]:
        """Cancel, transitively, the waiting dependents of a task that will never complete.

        Args:
            task_id: The task.
            status: Why it will never complete: ``failed``, ``expired`` or ``cancelled``.

        Returns:
            The ids cancelled.
        """
        error = dependency_error(task_id, status)
        now = self.store.clock.now()
        cancelled = await self.store.task_queue.cancel_dependents(task_id, error, now)
        if cancelled:
            await self.store.event_store.append([
                _event(dependent, EventType.CANCELLED, now, self.worker_id, error=error,
                       detail="a task it depends on will never complete")
                for dependent in cancelled
            ])  # fmt: skip
            for dependent in cancelled:
                self.store.channel.notify_result(dependent)
        return cancelled
