"""Listing, counting, re-queueing and purging verbs of the Redis task queue (a mixin)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from omniq.backends.redis.codec import Arg, event_args, hash_of, time_arg
from omniq.backends.redis.verbs import Verbs, as_texts
from omniq.models.event import TaskEvent
from omniq.models.task import TaskStatus
from omniq.storage.admin import QueueCounts
from omniq.storage.records import TaskRecord

__all__ = ["AdminVerbs"]

_REQUEUEABLE = (TaskStatus.FAILED, TaskStatus.EXPIRED)

#: Peeks of a requeue that keeps racing with other writers before it gives up.
_REQUEUE_ROUNDS = 4


class AdminVerbs(Verbs):
    """The operating verbs (:class:`omniq.storage.admin.TaskAdmin`) on Redis."""

    async def queue_counts(self, now: float) -> list[QueueCounts]:
        """Return the counts of every queue holding tasks, by queue name."""
        found: list[QueueCounts] = []
        for name, flat, due, delayed, oldest in await self._script("queue_counts", [
            time_arg(now)
        ]):  # fmt: skip
            counts = {key.decode(): int(value) for key, value in hash_of(flat).items()}
            counts = {status: count for status, count in counts.items() if count > 0}
            if not counts:
                continue
            found.append(QueueCounts(
                queue_name=name.decode(), counts=counts, due=int(due), delayed=int(delayed),
                oldest_due_at=float(oldest) if oldest else None,
            ))  # fmt: skip
        return found

    async def list_tasks(
        self, statuses: Sequence[TaskStatus] | None, queue_name: str | None, limit: int
    ) -> list[TaskRecord]:
        """Return up to ``limit`` tasks, most recently enqueued first."""
        wanted = [] if statuses is None else [status.value for status in statuses]
        if statuses is not None and not wanted:
            return []
        args: list[Arg] = [limit, queue_name or "", len(wanted), *wanted]
        return await self._tasks("list_tasks", args)

    async def requeue(
        self,
        task_id: str,
        now: float,
        events_for: Callable[[TaskStatus], Sequence[TaskEvent]] | None = None,
    ) -> TaskStatus | None:
        """Make a failed or expired task enqueued again (and log it); return its status before.

        With ``events_for``, the status is read first and the events built for it; the
        script re-queues only if the task is still in that status, at the version read.
        """
        if events_for is None:
            before, _ = await self._script("requeue", [task_id, time_arg(now), "", "", 0])
            return TaskStatus(before.decode()) if before else None
        for _ in range(_REQUEUE_ROUNDS):
            status, version = await self._conn.command("HMGET", self._keys.task(task_id), "s", "v")
            if status is None:
                return None
            current = TaskStatus(status.decode())
            if current not in _REQUEUEABLE:
                return current
            args: list[Arg] = [task_id, time_arg(now), current.value, version,
                               *event_args(events_for(current))]  # fmt: skip
            before, done = await self._script("requeue", args)
            if done or before.decode() != current.value:
                return TaskStatus(before.decode()) if before else None
        return current  # raced every time with writers that left it requeueable

    async def purge_tasks(
        self, statuses: Sequence[TaskStatus], finished_before: float, dry_run: bool = False
    ) -> list[str]:
        """Delete final tasks in ``statuses`` finished before ``finished_before``."""
        final = [status.value for status in statuses if status.is_final]
        if not final:
            return []
        args: list[Arg] = [time_arg(finished_before), "1" if dry_run else "0", len(final), *final]
        return as_texts(await self._script("purge_tasks", args))
