"""Recording successful outcomes in batches: the hot path of a busy worker.

Each completed task needs its result stored, its status set and a ``completed`` event
written. Done one task at a time that is three writes per task; the batcher instead
collects every completion that arrives while the previous batch is being written and writes
the next batch with three writes in all, in the order that keeps crashes safe: results first
(a task is never ``completed`` without its result), then statuses, then events. With
``fused_results`` and ``fused_events`` (one SQLite file) the three are one atomic write. The
waiting dependents of the batch are released right after the statuses (issued together with
them when the store has ``ordered_writes``: usually the same commit), and this process's
workers are woken for them.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from omniq.core.dependencies import Dependencies
from omniq.core.store import Store
from omniq.exceptions import StoreUnavailableError
from omniq.models.event import EventType, TaskEvent
from omniq.models.task import TaskStatus
from omniq.monitoring.observer import TaskObserver
from omniq.storage.records import ResultRecord, TaskRecord
from omniq.workers.persistence import Patience, landed

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
        store: Statuses (task queue), results, ``completed`` events, and the wake-ups of
            this process's result waiters once a batch is written.
        worker_id: The worker whose leases the tasks hold.
        patience: How long a batch keeps trying through a store outage (see
            :mod:`omniq.workers.persistence`).
        observer: Told of each completion once durable, before result waiters are woken
            (so what they see is counted), or ``None``.
    """

    store: Store
    worker_id: str
    patience: Patience = field(default_factory=Patience)
    observer: TaskObserver | None = None
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
                    if self.observer is not None:
                        self.observer.task_finished(item.record, TaskStatus.COMPLETED, None)
                    self.store.channel.notify_result(item.record.id)

    async def _write(self, batch: list[_Completion]) -> set[str]:
        store = self.store
        capabilities = store.capabilities
        now = store.clock.now()
        results = [
            ResultRecord(
                task_id=item.record.id,
                payload=item.payload,
                created_at=now,
                expires_at=None if item.record.result_ttl is None else now + item.record.result_ttl,
                attempt=item.record.attempts,
            )
            for item in batch
            if item.payload is not None
        ]
        ids = [item.record.id for item in batch]
        # With fused results and events (one SQLite file), results, statuses and
        # ``completed`` events are one atomic write: a task is never completed without its
        # result, even when a write fails half way (a full disk), and a waiter woken below
        # finds the whole outcome durable. Otherwise the results are stored first.
        if results and not capabilities.fused_results:
            await self.patience.run(lambda: store.result_store.put_many(results), "results")

        def complete() -> Awaitable[list[str]]:
            return store.task_queue.complete_many(
                ids,
                self.worker_id,
                now,
                functools.partial(self._completed_events, now=now)
                if capabilities.fused_events
                else None,
                results if capabilities.fused_results else (),
            )

        dependencies = Dependencies(store, self.worker_id)
        writes: list[Awaitable[object]] = []
        if capabilities.ordered_writes:
            # Issued together, applied in order (usually one commit): a crash cannot leave
            # a completed task whose dependents stay waiting. Only completed ones count.
            fused = capabilities.fused_events
            completed, released = await asyncio.gather(
                complete(),
                store.task_queue.release_dependents(
                    ids, dependencies.released_events if fused else None
                ),
            )
            if released:
                writes.append(dependencies.announce_released(released, logged=fused))
        else:  # a pool: the release must not overtake the completion
            completed = await self._complete_patiently(ids, complete)
            writes.append(self.patience.run(lambda: dependencies.release(completed), "dependents"))
        owned = set(completed)
        lost = [task_id for task_id in ids if task_id not in owned]
        if lost:  # the runner tells a requested cancellation from a lost lease, and logs
            _log.debug("not recorded completed (lease lost or cancel requested): %s", lost)
        if completed and not capabilities.fused_events:
            events = self._completed_events(completed, now)
            writes.append(self.patience.run(lambda: store.event_store.append(events), "events"))
        if writes:
            await asyncio.gather(*writes)
        return owned

    async def _complete_patiently(
        self, ids: list[str], complete: Callable[[], Awaitable[list[str]]]
    ) -> list[str]:
        """``complete()``, tried again through an outage; the ids this worker completed.

        A retry (here, or the backend's own after a dropped connection) finds the tasks
        whose first commit went through (its answer lost) completed already: the ids not
        returned are read back, and those completed by this worker count as its own (see
        :func:`~omniq.workers.persistence.landed`).
        """
        try:
            completed = await complete()
        except StoreUnavailableError:
            completed = await self.patience.run(complete, f"completing {len(ids)} tasks")
        done = set(completed)
        for task_id in ids:
            if task_id not in done and await landed(
                self.store.task_queue, task_id, TaskStatus.COMPLETED, self.worker_id
            ):
                completed.append(task_id)
        return completed

    def _completed_events(self, task_ids: list[str], now: float) -> list[TaskEvent]:
        """The ``completed`` events of ``task_ids``."""
        return [
            TaskEvent(task_id=task_id, type=EventType.COMPLETED, timestamp=now,
                      worker_id=self.worker_id)
            for task_id in task_ids
        ]  # fmt: skip
