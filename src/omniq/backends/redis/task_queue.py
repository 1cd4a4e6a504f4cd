"""The Redis task queue: every step one Lua script, claims in service order.

An enqueue (tasks, dependency records, events, wake-up) and a completion batch (statuses,
results, events, wake-ups) are each one script, so one round trip and one atomic step.

A claim whose start events are written with it (``events_for``, when the backend's events
are fused) runs in two steps: a read-only *peek* returns the tasks a claim would take, the
start events are built from them, and the *claim* script takes the head of the queues only
as far as it still consists of those tasks at the versions peeked, writing each task's
events with it. Everything is decided inside the claim script (a task taken by another
worker meanwhile is simply not there any more); a peek that went stale is repeated.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import msgspec
from redis.asyncio import Redis

from omniq.backends.redis.admin import AdminVerbs
from omniq.backends.redis.codec import (
    Arg,
    decode_task,
    encode_error,
    encode_event,
    event_args,
    grouped_event_args,
    result_args,
    task_args,
    time_arg,
    version_of,
)
from omniq.backends.redis.connection import RedisConnection
from omniq.backends.redis.dependencies import DependencyVerbs
from omniq.backends.redis.keys import Keys
from omniq.backends.redis.registry import RegistryVerbs
from omniq.backends.redis.schedules import ScheduleVerbs
from omniq.backends.redis.verbs import as_texts
from omniq.models.event import TaskEvent
from omniq.models.task import TaskError, TaskStatus
from omniq.storage.records import ResultRecord, TaskRecord

__all__ = ["RedisTaskQueue", "enqueue_args"]

#: Peek-and-claim rounds before a claim that keeps losing races returns what it has.
_CLAIM_ROUNDS = 4


def enqueue_args(tasks: Sequence[TaskRecord], events: Sequence[TaskEvent]) -> list[Arg]:
    """The arguments of ``enqueue.lua``: the wake-up, the tasks, the events."""
    args: list[Arg] = [_wakeup(tasks), len(tasks)]
    for task in tasks:
        args += task_args(task)
    return args + event_args(events)


def _wakeup(tasks: Sequence[TaskRecord]) -> str:
    """What an enqueue tells other processes: tasks due at a time, or outcomes."""
    claimable = [task.run_at for task in tasks if task.status is TaskStatus.ENQUEUED]
    if claimable:
        return "t:" + time_arg(min(claimable))
    finished = [task.id for task in tasks if task.status.is_final]
    return "r:" + ",".join(finished[:150]) if finished else ""


class RedisTaskQueue(ScheduleVerbs, DependencyVerbs, AdminVerbs, RegistryVerbs):
    """Task queue in Redis; see :class:`omniq.storage.TaskQueue` for each verb.

    Args:
        conn: The backend's client and its bridge.
        keys: The project's key layout.
    """

    def __init__(self, conn: RedisConnection, keys: Keys) -> None:
        self._conn = conn
        self._keys = keys

    async def enqueue(self, tasks: Sequence[TaskRecord], events: Sequence[TaskEvent] = ()) -> None:
        """Store new tasks atomically (all or none), with their dependencies and events."""
        if tasks:
            await self._script("enqueue", enqueue_args(tasks, events))

    def enqueue_blocking(
        self, tasks: Sequence[TaskRecord], events: Sequence[TaskEvent] = ()
    ) -> None:
        """Blocking twin of :meth:`enqueue` (one hop to the bridge thread, no event loop)."""
        if tasks:
            self._conn.script_blocking("enqueue", enqueue_args(tasks, events))

    async def claim(
        self,
        queues: Sequence[str],
        limit: int,
        worker_id: str,
        now: float,
        lease_until: float,
        events_for: Callable[[list[TaskRecord]], Sequence[TaskEvent]] | None = None,
    ) -> list[TaskRecord]:
        """Atomically take up to ``limit`` due tasks, serving ``queues`` in order.

        With ``events_for``, it is called (on the backend's I/O thread) with the tasks the
        peek found, and the claim keeps the events of the tasks it took.
        """
        names = list(dict.fromkeys(queues))
        head: list[Arg] = [time_arg(now), worker_id, time_arg(lease_until)]
        if events_for is None:
            args = [*head, limit, len(names), *names, "0"]
            return await self._tasks("claim", args)

        async def peek_and_claim(client: Redis) -> list[TaskRecord]:
            claimed: list[TaskRecord] = []
            for _ in range(_CLAIM_ROUNDS):
                wanted = limit - len(claimed)
                peek_args: list[Arg] = [time_arg(now), wanted, len(names), *names]
                rows = await self._conn.script_here("peek", peek_args)
                if not rows:
                    break
                versions: list[Arg] = [len(rows)]
                candidates: dict[str, TaskRecord] = {}
                for row in rows:
                    record = decode_task(row)
                    candidates[record.id] = msgspec.structs.replace(
                        record, status=TaskStatus.EXECUTING, attempts=record.attempts + 1,
                        started_at=now, worker_id=worker_id, lease_expires_at=lease_until,
                    )  # fmt: skip
                    versions += [record.id, version_of(row)]
                events = events_for(list(candidates.values()))
                args = [*head, wanted, len(names), *names, "1", *versions,
                        *grouped_event_args(events)]  # fmt: skip
                stale, taken = await self._conn.script_here("claim", args)
                claimed += [candidates[task_id] for task_id in as_texts(taken)]
                if not stale or len(claimed) >= limit:
                    break
            return claimed

        # Peek, events and claim in one hop to the bridge's loop.
        return await self._conn.run(peek_and_claim)

    async def extend_leases(
        self, task_ids: Sequence[str], worker_id: str, lease_until: float
    ) -> list[str]:
        """Push the lease of the tasks this worker still holds."""
        ids = list(dict.fromkeys(task_ids))
        if not ids:
            return []
        args: list[Arg] = [worker_id, time_arg(lease_until), len(ids), *ids]
        return as_texts(await self._script("extend_leases", args))

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
        args: list[Arg] = [task_id, status.value, time_arg(now), encode_error(error),
                           worker_id or "", *event_args(events)]  # fmt: skip
        return bool(await self._script("finish", args))

    async def complete_many(
        self,
        task_ids: Sequence[str],
        worker_id: str,
        now: float,
        events_for: Callable[[list[str]], Sequence[TaskEvent]] | None = None,
        results: Sequence[ResultRecord] = (),
    ) -> list[str]:
        """Statuses, results and events of a batch in one script.

        ``events_for`` is called with every id given, before the write: the script keeps
        only the events (and results) of the ids it completed.
        """
        ids = list(dict.fromkeys(task_ids))
        if not ids:
            return []
        events: dict[str, list[TaskEvent]] = {task_id: [] for task_id in ids}
        for event in events_for(ids) if events_for is not None else ():
            events.setdefault(event.task_id, []).append(event)
        by_task = {result.task_id: result for result in results}
        args: list[Arg] = [worker_id, time_arg(now), len(ids)]
        for task_id in ids:
            blobs = [encode_event(event) for event in events[task_id]]
            args += [task_id, len(blobs), *blobs]
            result = by_task.get(task_id)
            args += ["0"] if result is None else ["1", *result_args(result)]
        return as_texts(await self._script("complete", args))

    async def retry_later(
        self,
        task_id: str,
        worker_id: str,
        run_at: float,
        error: TaskError | None,
        events: Sequence[TaskEvent] = (),
    ) -> bool:
        """Put an executing task back as ``retrying`` until ``run_at`` (with its events)."""
        args: list[Arg] = [task_id, worker_id, time_arg(run_at), encode_error(error),
                           *event_args(events)]  # fmt: skip
        return bool(await self._script("retry_later", args))

    async def release(self, task_ids: Sequence[str], worker_id: str) -> list[str]:
        """Give back unfinished tasks of a stopping worker without counting the attempt."""
        ids = list(dict.fromkeys(task_ids))
        if not ids:
            return []
        return as_texts(await self._script("release", [worker_id, len(ids), *ids]))

    async def recover_expired_leases(
        self, now: float, events_for: Callable[[list[str]], Sequence[TaskEvent]] | None = None
    ) -> list[str]:
        """Make tasks whose lease ended before ``now`` claimable again (and log it).

        With ``events_for`` the expired ids are read first, their events built, and the
        script recovers those still expired (with their events) in one step.
        """
        if events_for is None:
            return as_texts(await self._script("recover", [time_arg(now), "0"]))
        expired = as_texts(
            await self._conn.command("ZRANGEBYSCORE", self._keys.leases, "-inf", f"({now!r}")
        )
        if not expired:
            return []
        events = grouped_event_args(events_for(expired))
        args: list[Arg] = [time_arg(now), "1", len(expired), *expired, *events]
        return as_texts(await self._script("recover", args))

    async def get(self, task_id: str) -> TaskRecord | None:
        """Return the task, or ``None`` if unknown."""
        found = await self._conn.command("HGETALL", self._keys.task(task_id))
        return decode_task(found) if found else None
