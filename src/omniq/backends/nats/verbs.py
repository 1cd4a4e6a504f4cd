"""What the mixins of the NATS task queue share: reading and compare-and-setting one task.

Every change of a task is one message on its key, published only if the key's last
revision is still the one the change was computed from. :meth:`Verbs._change` reads (or
takes from the view), computes, publishes, and on a conflict reads again and recomputes, so
each verb is atomic per task however many processes write at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

from omniq.backends.nats.codec import decode_task, encode_task
from omniq.backends.nats.connection import Conflict, Connection, Publish
from omniq.backends.nats.index import Entry
from omniq.backends.nats.mirror import Mirror
from omniq.backends.nats.names import ProjectNames
from omniq.exceptions import BackendError
from omniq.storage.records import TaskRecord

__all__ = ["Decide", "Verbs", "gather_map", "refuse_fused"]

T = TypeVar("T")
X = TypeVar("X")

#: A change: the new record from the current one, or ``None`` to leave the task alone.
Decide = Callable[[TaskRecord], TaskRecord | None]

#: Compare-and-set attempts before a change gives up (each loss means another writer won).
_ATTEMPTS = 50

#: Requests one verb keeps in flight at once.
_IN_FLIGHT = 256


def refuse_fused(what: str) -> BackendError:
    """The error for fused events or results given to this backend (it declares none)."""
    return BackendError(
        f"the NATS backend does not write {what} with task changes (no fused_events or "
        "fused_results capability): the core writes them separately"
    )


async def gather_map(call: Callable[[X], Awaitable[T]], items: Iterable[X]) -> list[T]:
    """``[await call(item) for item in items]``, run concurrently a few hundred at a time."""
    listed = list(items)
    if len(listed) == 1:  # no task to create for a single call
        return [await call(listed[0])]
    results: list[T] = []
    for start in range(0, len(listed), _IN_FLIGHT):
        chunk = listed[start : start + _IN_FLIGHT]
        results.extend(await asyncio.gather(*(call(item) for item in chunk)))
    return results


class Verbs:
    """The attributes every verb uses, and the read and compare-and-set of one task."""

    _conn: Connection
    _names: ProjectNames
    _mirror: Mirror

    async def _read(self, task_id: str) -> Entry | None:
        """The task as stored now (on the bridge loop), or ``None``."""
        found = await self._conn.last(self._names.state_stream, self._names.task_subject(task_id))
        if found is None or found.deleted or not found.data:
            return None
        stored = decode_task(found.data, found.seq)
        return Entry(stored.task, found.seq, stored.seq)

    def _known(self, task_id: str) -> Entry | None:
        """The task as the view last saw it (maybe stale: a compare-and-set will tell)."""
        return self._mirror.index.tasks.get(task_id)

    async def _store(self, entry: Entry, task: TaskRecord) -> TaskRecord:
        """Publish ``task`` over ``entry`` (compare-and-set); a fresh copy of what was stored.

        Raises:
            Conflict: The task changed since ``entry`` was read.
        """
        data = encode_task(task, entry.seq)
        rev = await self._conn.publish(self._names.task_subject(task.id), data, last=entry.rev)
        self._mirror.index.apply(task.id, rev, Entry(task, rev, entry.seq), local=True)
        return decode_task(data, rev).task

    async def _store_many(
        self, changes: list[tuple[Entry, TaskRecord]]
    ) -> list[TaskRecord | BaseException]:
        """:meth:`_store` for several tasks, all sent at once (errors returned, in order)."""
        if not changes:
            return []
        encoded = [encode_task(task, entry.seq) for entry, task in changes]
        outcomes = await self._conn.publish_many([
            Publish(self._names.task_subject(task.id), data, entry.rev)
            for (entry, task), data in zip(changes, encoded, strict=True)
        ])  # fmt: skip
        stored: list[TaskRecord | BaseException] = []
        index = self._mirror.index
        for (entry, task), data, outcome in zip(changes, encoded, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                stored.append(outcome)
                continue
            index.apply(task.id, outcome, Entry(task, outcome, entry.seq), local=True)
            stored.append(decode_task(data, outcome).task)
        return stored

    async def _change_many(self, task_ids: list[str], decide: Decide) -> list[TaskRecord | None]:
        """:meth:`_change` for several tasks: those the view knows in one round trip.

        Tasks the view does not know, or whose compare-and-set lost, are read and changed
        one by one (concurrently).
        """
        fast: list[tuple[Entry, TaskRecord]] = []
        for task_id in task_ids:
            entry = self._known(task_id)
            task = None if entry is None else decide(entry.task)
            if entry is not None and task is not None:
                fast.append((entry, task))
        done: dict[str, TaskRecord | None] = {}
        for (entry, _), stored in zip(fast, await self._store_many(fast), strict=True):
            if not isinstance(stored, BaseException):
                done[entry.task.id] = stored
        slow = [task_id for task_id in task_ids if task_id not in done]
        changed = await gather_map(lambda task_id: self._change(task_id, decide), slow)
        done.update(zip(slow, changed, strict=True))
        return [done[task_id] for task_id in task_ids]

    async def _change(
        self, task_id: str, decide: Decide, entry: Entry | None = None
    ) -> TaskRecord | None:
        """Apply ``decide`` to the task atomically (on the bridge loop).

        Args:
            task_id: The task.
            decide: Computes the new record from the current one (``None``: no change).
            entry: The task as already known (saves a read when it is current).

        Returns:
            The record as stored by this call, or ``None`` if unknown or left alone.
        """
        current = entry if entry is not None else await self._read(task_id)
        fresh = entry is None  # a view's entry may be stale: decide again on a fresh read
        for _ in range(_ATTEMPTS):
            task = None if current is None else decide(current.task)
            if current is None or task is None:
                if fresh:
                    return None
                current, fresh = await self._read(task_id), True
                continue
            try:
                return await self._store(current, task)
            except Conflict:
                current, fresh = await self._read(task_id), True
        raise BackendError(
            f"task {task_id!r} changed {_ATTEMPTS} times while it was being updated on "
            f"NATS at {self._conn.server}"
        )

    async def _wake(self, *payloads: str) -> None:
        """Tell other processes (see :mod:`.notifications`)."""
        if payloads:
            await self._conn.wake(self._names.wake_subject, payloads)
