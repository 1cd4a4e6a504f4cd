"""Recording successful outcomes in batches: the hot path of a busy worker.

Each completed task needs its result stored, its status set and a ``completed`` event
written. Done one task at a time that is three writes per task; the batcher instead
collects every completion that arrives while the previous batch is being written and writes
the next batch with three writes in all, in the order that keeps crashes safe: results first
(a task is never ``completed`` without its result), then statuses, then events (in the
statuses' own write when the event store shares the task queue's writer). The waiting
dependents of the batch are released right after the statuses (in the same write order on
SQLite, usually the same commit), and this process's workers are woken for them.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

from omniq.core.dependencies import Dependencies
from omniq.core.notify import Channel
from omniq.models.event import EventType, TaskEvent
from omniq.storage.interfaces import EventStorage, ResultStorage, TaskQueue, share_write_order
from omniq.storage.records import ResultRecord, TaskRecord

__all__ = ["CompletionBatcher"]


_log = logging.getLogger("omniq.worker")


@dataclass(slots=True)
class _Completion:
    record: TaskRecord
    payload: bytes | None
    done: asyncio.Future[bool]


@dataclass(slots=True)
class CompletionBatcher:
    """Writes completions of one worker in batches.

    Attributes:
        task_queue: Where statuses are set.
        result_store: Where results go.
        event_store: Where ``completed`` events go.
        channel: Wakes result waiters of this process once a batch is written.
        worker_id: The worker whose leases the tasks hold.
    """

    task_queue: TaskQueue
    result_store: ResultStorage
    event_store: EventStorage
    channel: Channel
    worker_id: str
    _pending: list[_Completion] = field(default_factory=list)
    _writer: asyncio.Task[None] | None = None

    async def complete(self, record: TaskRecord, payload: bytes | None) -> bool:
        """Record a successful outcome; return once it is durable.

        Args:
            record: The task, as claimed.
            payload: The serialized result, or ``None`` not to store one.

        Returns:
            Whether the task was still held by this worker (``False``: lease lost, outcome
            discarded).
        """
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending.append(_Completion(record, payload, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_batches())
        return await done

    async def _write_batches(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                owned = await self._write(batch)
            except BaseException as exc:
                for item in batch:
                    if not item.done.done():
                        item.done.set_exception(exc)
                if not isinstance(exc, Exception):
                    raise
                continue
            for item in batch:
                item.done.set_result(item.record.id in owned)
                if item.record.id in owned:
                    self.channel.notify_result(item.record.id)

    async def _write(self, batch: list[_Completion]) -> set[str]:
        now = time.time()
        results = [
            ResultRecord(
                task_id=item.record.id,
                payload=item.payload,
                created_at=now,
                expires_at=None if item.record.result_ttl is None else now + item.record.result_ttl,
            )
            for item in batch
            if item.payload is not None
        ]
        ids = [item.record.id for item in batch]
        # When the result and event stores share the task queue's writer (one SQLite file),
        # results, statuses and ``completed`` events are one atomic write: a task is never
        # completed without its result, even when a write fails half way (a full disk), and
        # a waiter woken below finds the whole outcome durable. Otherwise the results are
        # stored first. The waiting dependents are released right after the statuses, in
        # the same write order (usually the same commit): a crash cannot leave a completed
        # task whose dependents stay waiting.
        steps: list[Awaitable[Any]] = []
        fuse_results = share_write_order(self.result_store, self.task_queue)
        if results and not fuse_results:  # another store: the results are durable first
            await self.result_store.put_many(results)
        fuse_events = share_write_order(self.task_queue, self.event_store)
        steps.append(
            self.task_queue.complete_many(
                ids,
                self.worker_id,
                now,
                functools.partial(self._completed_events, now=now) if fuse_events else None,
                results if fuse_results else (),
            )
        )
        release_in_order = share_write_order(self.task_queue, self.task_queue)
        if release_in_order:
            steps.append(self.task_queue.release_dependents(ids))  # only completed ones count
        outcomes = await asyncio.gather(*steps)
        completed: list[str] = outcomes[-2] if release_in_order else outcomes[-1]
        owned = set(completed)
        lost = [task_id for task_id in ids if task_id not in owned]
        if lost:  # the runner tells a requested cancellation from a lost lease, and logs
            _log.debug("not recorded completed (lease lost or cancel requested): %s", lost)
        dependencies = Dependencies(self.task_queue, self.event_store, self.channel, self.worker_id)
        writes: list[Awaitable[object]] = []
        if release_in_order:
            if outcomes[-1]:
                writes.append(dependencies.announce_released(outcomes[-1]))
        else:
            writes.append(dependencies.release(completed))
        if completed and not fuse_events:
            writes.append(self.event_store.append(self._completed_events(completed, now)))
        if writes:
            await asyncio.gather(*writes)
        return owned

    def _completed_events(self, task_ids: list[str], now: float) -> list[TaskEvent]:
        """The ``completed`` events of ``task_ids``."""
        return [
            TaskEvent(task_id=task_id, type=EventType.COMPLETED, timestamp=now,
                      worker_id=self.worker_id)
            for task_id in task_ids
        ]  # fmt: skip
