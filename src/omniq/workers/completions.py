"""Recording successful outcomes in batches: the hot path of a busy worker.

Each completed task needs its result stored, its status set and a ``completed`` event
written. Done one task at a time that is three writes per task; the batcher instead
collects every completion that arrives while the previous batch is being written and writes
the next batch with three writes in all, in the order that keeps crashes safe: results first
(a task is never ``completed`` without its result), then statuses, then events.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from omniq.core.notify import Channel
from omniq.models.event import EventType, TaskEvent
from omniq.storage.interfaces import EventStorage, ResultStorage, TaskQueue
from omniq.storage.records import ResultRecord, TaskRecord

__all__ = ["CompletionBatcher"]


def _same_write_order(first: object, second: object) -> bool:
    order = getattr(first, "write_order", None)
    return order is not None and order is getattr(second, "write_order", None)

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
        completing = self.task_queue.complete_many(ids, self.worker_id, now)
        if not results:
            completed = await completing
        elif _same_write_order(self.result_store, self.task_queue):
            # Issued in order on one writer: results land before (or with) the statuses,
            # usually in the same commit.
            _, completed = await asyncio.gather(self.result_store.put_many(results), completing)
        else:
            await self.result_store.put_many(results)
            completed = await completing
        owned = set(completed)
        lost = [task_id for task_id in ids if task_id not in owned]
        if lost:
            _log.warning("lease lost for %s: their completed outcome was discarded", lost)
        events = [
            TaskEvent(task_id=task_id, type=EventType.COMPLETED, timestamp=now,
                      worker_id=self.worker_id)
            for task_id in ids
            if task_id in owned
        ]  # fmt: skip
        if events:
            await self.event_store.append(events)
        return owned
