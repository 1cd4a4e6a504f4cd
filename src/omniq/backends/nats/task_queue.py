"""The NATS task queue: one key per task in the state bucket, claims by compare-and-set.

A task's whole record is the value of its key ``t.<id>``; every change is one message
published only if the key is still at the revision it was computed from (see
:mod:`.verbs`). Claims choose from this process's view of the live tasks (:mod:`.mirror`,
after a barrier that makes it current) in the protocol's order, and take each with a
compare-and-set: two workers can both choose a task, only one of them gets it.

A batch of tasks is not one atomic write on nats-server 2.9 (it has no multi-message
transaction): an enqueue first checks that no id exists yet, then creates every key, and
if one creation still fails deletes the keys it created and raises. A process killed
between two creations leaves the tasks created so far (each whole).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence

import msgspec

from omniq.backends.nats.admin import AdminVerbs
from omniq.backends.nats.codec import encode_task
from omniq.backends.nats.connection import Conflict, Publish
from omniq.backends.nats.dependencies import DependencyVerbs
from omniq.backends.nats.notifications import result_payloads, tasks_payload
from omniq.backends.nats.registry import RegistryVerbs
from omniq.backends.nats.schedules import ScheduleVerbs
from omniq.backends.nats.verbs import Decide, gather_map, refuse_fused
from omniq.exceptions import BackendError
from omniq.models.event import TaskEvent
from omniq.models.task import TaskError, TaskStatus
from omniq.storage.records import CLAIMABLE_STATUSES, ResultRecord, TaskRecord

__all__ = ["NATSTaskQueue"]

_replace = msgspec.structs.replace


def wakeups_for(tasks: Sequence[TaskRecord]) -> list[str]:
    """What an enqueue tells other processes: tasks due at a time, or outcomes."""
    claimable = [task.run_at for task in tasks if task.status in CLAIMABLE_STATUSES]
    finished = [task.id for task in tasks if task.status.is_final]
    payloads = [tasks_payload(min(claimable))] if claimable else []
    return payloads + result_payloads(finished)


class NATSTaskQueue(ScheduleVerbs, DependencyVerbs, AdminVerbs, RegistryVerbs):
    """Task queue in a NATS key-value bucket; see :class:`omniq.storage.TaskQueue` per verb.

    Args:
        conn: The backend's connection.
        names: The project's names.
        mirror: This process's view of the live tasks.
    """

    def __init__(self, conn: object, names: object, mirror: object) -> None:
        self._conn = conn  # type: ignore[assignment]
        self._names = names  # type: ignore[assignment]
        self._mirror = mirror  # type: ignore[assignment]

    # -- enqueue / get --------------------------------------------------------------------

    async def enqueue(self, tasks: Sequence[TaskRecord], events: Sequence[TaskEvent] = ()) -> None:
        """Store new tasks: all of them, or none if an id exists (see the module docstring).

        Raises:
            BackendError: An id is already stored or appears twice in ``tasks``.
        """
        if events:
            raise refuse_fused("events")
        if not tasks:
            return
        seen: set[str] = set()
        for task in tasks:
            if task.id in seen:
                raise BackendError(f"a task with id {task.id!r} appears twice in one enqueue")
            seen.add(task.id)
        await self._conn.run(lambda: self._enqueue(list(tasks)))

    async def _enqueue(self, tasks: list[TaskRecord]) -> None:
        if len(tasks) > 1:  # a single create is all or nothing by itself
            found = await gather_map(lambda t: self._read(t.id), tasks)
            for task, entry in zip(tasks, found, strict=True):
                if entry is not None:
                    raise BackendError(f"a task with id {task.id!r} already exists")
        subjects = [self._names.task_subject(task.id) for task in tasks]
        outcomes: list[int | BaseException] = await self._conn.publish_many(
            [
                Publish(subject, encode_task(task, 0), 0)
                for subject, task in zip(subjects, tasks, strict=True)
            ]
        )
        for position, outcome in enumerate(outcomes):
            if isinstance(outcome, Conflict):  # maybe a deleted task's id: create handles it
                outcomes[position] = await self._create(tasks[position])
        failed = [(task, o) for task, o in zip(tasks, outcomes, strict=True)
                  if isinstance(o, BaseException)]  # fmt: skip
        if failed:
            created = [
                (s, o) for s, o in zip(subjects, outcomes, strict=True) if isinstance(o, int)
            ]
            await gather_map(self._undo, created)
            task, error = failed[0]
            if isinstance(error, Conflict):
                raise BackendError(f"a task with id {task.id!r} already exists")
            raise error
        await self._wake(*wakeups_for(tasks))

    async def _create(self, task: TaskRecord) -> int | BaseException:
        try:
            return await self._conn.create(self._names.task_subject(task.id), encode_task(task, 0))
        except Exception as exc:
            return exc

    async def _undo(self, created: tuple[str, int]) -> None:
        subject, rev = created
        with contextlib.suppress(Conflict):
            await self._conn.delete(subject, last=rev, purge=True)

    async def get(self, task_id: str) -> TaskRecord | None:
        """Return the task, or ``None`` if unknown."""
        entry = await self._conn.run(lambda: self._read(task_id))
        return None if entry is None else entry.task

    # -- claims and leases ----------------------------------------------------------------

    async def claim(
        self,
        queues: Sequence[str],
        limit: int,
        worker_id: str,
        now: float,
        lease_until: float,
        events_for: Callable[[list[TaskRecord]], Sequence[TaskEvent]] | None = None,
    ) -> list[TaskRecord]:
        """Take up to ``limit`` due tasks, serving ``queues`` in order (compare-and-set each)."""
        if events_for is not None:
            raise refuse_fused("events")
        names = list(dict.fromkeys(queues))

        def start(task: TaskRecord) -> TaskRecord | None:
            if task.status not in CLAIMABLE_STATUSES or task.run_at > now:
                return None
            return _replace(task, status=TaskStatus.EXECUTING, attempts=task.attempts + 1,
                            started_at=now, worker_id=worker_id,
                            lease_expires_at=lease_until)  # fmt: skip

        async def claim() -> list[TaskRecord]:
            await self._mirror.sync()
            claimed: list[TaskRecord] = []
            while len(claimed) < limit:
                entries = self._mirror.index.take(names, limit - len(claimed), now)
                if not entries:
                    break
                changes = [(e, t) for e in entries if (t := start(e.task)) is not None]
                try:
                    outcomes = await self._store_many(changes)
                except BaseException:
                    # Unknown whether the server applied them: index them again (the view
                    # replaces any the server did apply when their new revision arrives).
                    for entry in entries:
                        self._mirror.index.put_back(entry)
                    if claimed:
                        break
                    raise
                errors = [o for o in outcomes if not isinstance(o, TaskRecord | Conflict)]
                claimed.extend(o for o in outcomes if isinstance(o, TaskRecord))
                for (entry, _), outcome in zip(changes, outcomes, strict=True):
                    if not isinstance(outcome, TaskRecord | Conflict):
                        self._mirror.index.put_back(entry)
                if errors:
                    if claimed:
                        break
                    raise errors[0]
            return claimed

        return await self._conn.run(claim)

    async def extend_leases(
        self, task_ids: Sequence[str], worker_id: str, lease_until: float
    ) -> list[str]:
        """Push the lease of the tasks this worker still holds."""

        def extend(task: TaskRecord) -> TaskRecord | None:
            if task.status is not TaskStatus.EXECUTING or task.worker_id != worker_id:
                return None
            return _replace(task, lease_expires_at=lease_until)

        return await self._change_ids(task_ids, extend)

    async def finish(
        self,
        task_id: str,
        status: TaskStatus,
        now: float,
        *,
        worker_id: str | None = None,
        error: TaskError | None = None,
        events: Sequence[TaskEvent] = (),
    ) -> bool:
        """Move a task to a final state (see the protocol for the ownership rule)."""
        if events:
            raise refuse_fused("events")

        def finish(task: TaskRecord) -> TaskRecord | None:
            if worker_id is not None:
                if task.status is not TaskStatus.EXECUTING or task.worker_id != worker_id:
                    return None
                if task.cancel_requested and status is not TaskStatus.CANCELLED:
                    return None
            elif task.status.is_final:
                return None
            return _replace(task, status=status, finished_at=now, lease_expires_at=None,
                            error=task.error if error is None else error)  # fmt: skip

        async def run() -> bool:
            done = await self._change(task_id, finish, self._known(task_id))
            if done is not None:
                await self._wake(*result_payloads([task_id]))
            return done is not None

        return await self._conn.run(run)

    async def complete_many(
        self,
        task_ids: Sequence[str],
        worker_id: str,
        now: float,
        events_for: Callable[[list[str]], Sequence[TaskEvent]] | None = None,
        results: Sequence[ResultRecord] = (),
    ) -> list[str]:
        """Mark the tasks this worker holds ``completed`` (a compare-and-set each)."""
        if events_for is not None:
            raise refuse_fused("events")
        if results:
            raise refuse_fused("results")

        def complete(task: TaskRecord) -> TaskRecord | None:
            if (
                task.status is not TaskStatus.EXECUTING
                or task.worker_id != worker_id
                or task.cancel_requested
            ):
                return None
            return _replace(task, status=TaskStatus.COMPLETED, finished_at=now,
                            lease_expires_at=None)  # fmt: skip

        completed = await self._change_ids(task_ids, complete, wake_results=True)
        return completed

    async def retry_later(
        self,
        task_id: str,
        worker_id: str,
        run_at: float,
        error: TaskError | None,
        events: Sequence[TaskEvent] = (),
    ) -> bool:
        """Put an executing task back as ``retrying`` until ``run_at``."""
        if events:
            raise refuse_fused("events")

        def retry(task: TaskRecord) -> TaskRecord | None:
            if (
                task.status is not TaskStatus.EXECUTING
                or task.worker_id != worker_id
                or task.cancel_requested
            ):
                return None
            return _replace(task, status=TaskStatus.RETRYING, retry_count=task.retry_count + 1,
                            run_at=run_at, error=error, lease_expires_at=None)  # fmt: skip

        async def run() -> bool:
            done = await self._change(task_id, retry, self._known(task_id))
            if done is not None:
                await self._wake(tasks_payload(run_at))
            return done is not None

        return await self._conn.run(run)

    async def release(self, task_ids: Sequence[str], worker_id: str) -> list[str]:
        """Give back unfinished tasks of a stopping worker without counting the attempt."""

        def release(task: TaskRecord) -> TaskRecord | None:
            if task.status is not TaskStatus.EXECUTING or task.worker_id != worker_id:
                return None
            return _replace(task, status=TaskStatus.ENQUEUED, attempts=max(task.attempts - 1, 0),
                            worker_id=None, lease_expires_at=None)  # fmt: skip

        released = await self._change_ids(task_ids, release)
        if released:
            await self._conn.run(lambda: self._wake(tasks_payload(None)))
        return released

    async def recover_expired_leases(
        self, now: float, events_for: Callable[[list[str]], Sequence[TaskEvent]] | None = None
    ) -> list[str]:
        """Make tasks whose lease ended before ``now`` claimable again."""
        if events_for is not None:
            raise refuse_fused("events")

        def recover(task: TaskRecord) -> TaskRecord | None:
            lease = task.lease_expires_at
            if task.status is not TaskStatus.EXECUTING or lease is None or lease >= now:
                return None
            return _replace(task, status=TaskStatus.ENQUEUED, lease_expires_at=None)

        async def run() -> list[str]:
            await self._mirror.sync()
            expired = self._mirror.index.expired(now)
            done = await gather_map(lambda e: self._change(e.task.id, recover, e), expired)
            recovered = [t.id for t in done if t is not None]
            if recovered:
                await self._wake(tasks_payload(None))
            return recovered

        return await self._conn.run(run)

    # -- helpers ------------------------------------------------------------------------

    async def _change_ids(
        self, task_ids: Sequence[str], decide: Decide, *, wake_results: bool = False
    ) -> list[str]:
        """Apply ``decide`` to each task (concurrently); the ids changed, in the order given."""
        ids = list(dict.fromkeys(task_ids))
        if not ids:
            return []

        async def run() -> list[str]:
            done = await self._change_many(ids, decide)
            changed = [task_id for task_id, task in zip(ids, done, strict=True) if task]
            if wake_results and changed:
                await self._wake(*result_payloads(changed))
            return changed

        return await self._conn.run(run)
