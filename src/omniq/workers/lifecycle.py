"""What happens to one claimed task: the policy every worker type shares.

Expiry, the attempt limit, running the body through an executor, storing the result, retries
with backoff, and the lifecycle events: all decided here, once, for every backend.
"""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import NamedTuple

from omniq.core.notify import Channel
from omniq.core.retry import retry_delay, should_retry
from omniq.exceptions import SerializationError
from omniq.models.event import EventType, TaskEvent
from omniq.models.task import TaskError, TaskStatus
from omniq.serialization import Serializer
from omniq.storage.interfaces import EventStorage, ResultStorage, TaskQueue
from omniq.storage.records import TaskRecord
from omniq.workers.completions import CompletionBatcher
from omniq.workers.executors import TaskExecutor

__all__ = ["TaskRunner", "error_from_exception"]

_log = logging.getLogger("omniq.worker")


def error_from_exception(exc: BaseException) -> TaskError:
    """Capture an exception's type, message and traceback text."""
    kind = type(exc)
    return TaskError(
        type=f"{kind.__module__}.{kind.__qualname__}",
        message=str(exc),
        traceback="".join(traceback.format_exception(exc)),
    )


class _Refusal(NamedTuple):
    status: TaskStatus
    event_type: EventType
    error: TaskError | None
    detail: str | None


@dataclass(frozen=True, slots=True)
class TaskRunner:
    """Runs claimed tasks and records their outcome.

    Attributes:
        task_queue: Where tasks live.
        result_store: Where results go.
        event_store: Where events go.
        serializer: Decodes calls, encodes results.
        channel: In-process wake-ups for result waiters and idle workers.
        executor: Runs the bodies.
        worker_id: Written on events and used for lease ownership.
        completions: Batches the writes of successful outcomes.
    """

    task_queue: TaskQueue
    result_store: ResultStorage
    event_store: EventStorage
    serializer: Serializer
    channel: Channel
    executor: TaskExecutor
    worker_id: str
    completions: CompletionBatcher

    def refusal(self, record: TaskRecord, now: float) -> _Refusal | None:
        """Why a claimed task must not run (expired, or too many lost attempts), or ``None``."""
        # ttl bounds the wait for the first start only: a retry of a task that started in
        # time is not expired (``attempts`` is 1 on the first claim).
        if record.expires_at is not None and record.expires_at < now and record.attempts <= 1:
            detail = f"ttl passed {now - record.expires_at:.3f}s before it started"
            return _Refusal(TaskStatus.EXPIRED, EventType.EXPIRED, None, detail)
        if record.attempts > record.max_retries + 1:
            error = TaskError(
                type="omniq.exceptions.WorkerError",
                message=f"gave up after {record.attempts - 1} attempts whose worker stopped "
                "renewing the lease (crashed or killed)",
            )
            return _Refusal(TaskStatus.FAILED, EventType.FAILED, error, None)
        return None

    def start_events(self, records: list[TaskRecord], now: float) -> list[TaskEvent]:
        """The ``dequeued`` and ``executing`` events of the claimed tasks that will run."""
        events: list[TaskEvent] = []
        for record in records:
            if self.refusal(record, now) is None:
                attempt = f"attempt {record.attempts} of {record.max_retries + 1}"
                events.append(self._event(record, EventType.DEQUEUED, now))
                events.append(self._event(record, EventType.EXECUTING, now, detail=attempt))
        return events

    async def run(
        self,
        record: TaskRecord,
        body_done: Callable[[], None] | None = None,
        started: Awaitable[None] | None = None,
    ) -> None:
        """Take one claimed task to its next state: completed, retrying, failed or expired.

        Args:
            record: The claimed task.
            body_done: Called as soon as the task body has returned or raised, before the
                outcome is written, so the worker can start another body meanwhile.
            started: The write of this task's :meth:`start_events`, awaited before any later
                event is written so events stay in order; when ``None`` they are written here.
        """
        now = time.time()
        refusal = self.refusal(record, now)
        if refusal is not None:
            await self._finish(record, *refusal)
            return
        if started is None:
            started = self.event_store.append(self.start_events([record], now))
        started_task = asyncio.ensure_future(started)
        try:
            func, args, kwargs = self.serializer.load_call(record.payload)
        except SerializationError as exc:
            await started_task
            await self._finish(
                record,
                TaskStatus.FAILED,
                EventType.FAILED,
                error_from_exception(exc),
                "the call could not be loaded",
            )
            return
        # The body starts once its "executing" event is durable: a crash mid-body never
        # leaves a task whose events stop at "enqueued".
        await started_task
        try:
            value = await self.executor.run(func, {**args, **kwargs})
            if body_done is not None:
                body_done()
        except asyncio.CancelledError:
            await asyncio.shield(started_task)
            raise
        # BaseException: a body calling sys.exit() (SystemExit) must fail the task, not escape
        # into the event loop, where it would kill the loop thread that runs every sync call.
        except BaseException as exc:
            if body_done is not None:
                body_done()
            await started_task
            await self._failed(record, error_from_exception(exc))
            return
        await started_task
        await self._completed(record, value)

    async def _completed(self, record: TaskRecord, value: object) -> None:
        payload: bytes | None = None
        if record.store_result:
            try:
                payload = self.serializer.dump_value(value, what=f"result of task {record.id!r}")
            except SerializationError as exc:
                await self._finish(
                    record,
                    TaskStatus.FAILED,
                    EventType.FAILED,
                    error_from_exception(exc),
                    "the result could not be stored",
                )
                return
        if not await self.completions.complete(record, payload):
            _log.warning("task %s: lease lost, its completed outcome was discarded", record.id)

    async def _failed(self, record: TaskRecord, error: TaskError) -> None:
        if not should_retry(record):
            detail = f"no retries left ({record.max_retries} allowed)"
            await self._finish(record, TaskStatus.FAILED, EventType.FAILED, error, detail)
            return
        delay = retry_delay(record)
        now = time.time()
        if not await self.task_queue.retry_later(record.id, self.worker_id, now + delay, error):
            _log.warning("task %s: lease lost before its retry could be scheduled", record.id)
            return
        detail = f"retry {record.retry_count + 1} of {record.max_retries} in {delay:.3f}s"
        await self.event_store.append(
            [self._event(record, EventType.RETRYING, now, error=error, detail=detail)]
        )
        _log.info("task %s failed (%s), %s", record.id, error.type, detail)
        self.channel.notify_tasks_at(now + delay)

    async def _finish(
        self,
        record: TaskRecord,
        status: TaskStatus,
        event_type: EventType,
        error: TaskError | None,
        detail: str | None,
    ) -> None:
        now = time.time()
        owned = await self.task_queue.finish(
            record.id, status, now, worker_id=self.worker_id, error=error
        )
        if not owned:
            _log.warning("task %s: lease lost, its %s outcome was discarded", record.id, status)
            return
        await self.event_store.append(
            [self._event(record, event_type, now, error=error, detail=detail)]
        )
        self.channel.notify_result(record.id)

    def _event(
        self,
        record: TaskRecord,
        event_type: EventType,
        now: float,
        *,
        error: TaskError | None = None,
        detail: str | None = None,
    ) -> TaskEvent:
        return TaskEvent(
            task_id=record.id,
            type=event_type,
            timestamp=now,
            worker_id=self.worker_id,
            error=None if error is None else f"{error.type}: {error.message}",
            detail=detail,
        )
