"""What happens to one claimed task: the policy every worker type shares.

Expiry, the attempt limit, running the body through an executor (with its timeout), storing
the result, retries with backoff, cancellation, releasing or cancelling dependents, the
completion callback, and the lifecycle events: all decided here, once, for every backend.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from omniq.core.dependencies import Dependencies
from omniq.core.retry import retry_delay, should_retry
from omniq.core.store import Store
from omniq.core.validation import check_call
from omniq.exceptions import ConfigurationError, SerializationError, StoreUnavailableError
from omniq.models.event import EventType, TaskEvent
from omniq.models.task import TaskError, TaskStatus
from omniq.monitoring.observer import TaskObserver
from omniq.serialization import Serializer
from omniq.storage.records import TaskRecord
from omniq.workers.completions import CompletionBatcher
from omniq.workers.executors import TaskExecutor, watch_start, watch_threads
from omniq.workers.persistence import Patience, landed

__all__ = ["TaskRunner", "error_from_exception"]

_log = logging.getLogger("omniq.worker")


def _since(clock: list[float]) -> float:
    """Seconds since the body started (``clock`` holds its start, once it started)."""
    return time.perf_counter() - clock[0] if clock else 0.0


def error_from_exception(exc: BaseException) -> TaskError:
    """Capture an exception's type, message and traceback text."""
    kind = type(exc)
    return TaskError(
        type=f"{kind.__module__}.{kind.__qualname__}",
        message=str(exc),
        traceback="".join(traceback.format_exception(exc)),
    )


#: The error of a task whose cancellation was requested while it ran.
_CANCELLED_RUNNING = TaskError(
    type="omniq.exceptions.TaskCancelledError",
    message="cancelled on request while executing; its outcome was discarded",
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
        store: Where tasks, results and events live, with this process's wake-ups for
            result waiters and idle workers.
        serializer: Decodes calls, encodes results.
        executor: Runs the bodies.
        worker_id: Written on events and used for lease ownership.
        completions: Batches the writes of successful outcomes.
        patience: How long an outcome write keeps trying through a store outage.
        observer: Told as tasks start, end and are recorded (metrics, traces), or ``None``;
            completions are told by :attr:`completions`, which should hold the same one.
    """

    store: Store
    serializer: Serializer
    executor: TaskExecutor
    worker_id: str
    completions: CompletionBatcher
    patience: Patience = field(default_factory=Patience)
    observer: TaskObserver | None = None
    # id -> the running body (None until it starts) of every attempt in progress here
    _bodies: dict[str, asyncio.Future[Any] | None] = field(default_factory=dict, init=False)
    _interrupted: set[str] = field(default_factory=set, init=False)
    # id -> the thread futures of its body, if it runs in a thread (cannot be interrupted)
    _threads: dict[str, list[asyncio.Future[Any]]] = field(default_factory=dict, init=False)

    @property
    def dependencies(self) -> Dependencies:
        """The dependency policy, acting as this worker."""
        return Dependencies(self.store, self.worker_id)

    def interrupt(self, task_id: str) -> bool:
        """Stop waiting for a running body whose cancellation was requested.

        The body is cancelled through the executor (a coroutine is interrupted, a thread is
        abandoned and runs on unobserved) and :meth:`run` records the task ``cancelled``.

        Returns:
            Whether a body of that task was running (or waiting for a slot) here.
        """
        if task_id not in self._bodies:
            return False
        body = self._bodies[task_id]
        if body is not None and body.done():
            return False  # too late: its outcome is being recorded
        self._interrupted.add(task_id)
        if body is not None:
            body.cancel()
        return True

    def running_in_threads(self, task_ids: list[str]) -> list[str]:
        """Those of ``task_ids`` whose body runs in a thread here that has not ended.

        Such a body cannot be interrupted: cancelling :meth:`run` would leave it running
        while another worker could claim its task.
        """
        return [
            task_id
            for task_id in task_ids
            if any(not body.done() for body in self._threads.get(task_id, ()))
        ]

    def refusal(self, record: TaskRecord, now: float) -> _Refusal | None:
        """Why a claimed task must not run (cancelled, expired, too many lost attempts)."""
        if record.cancel_requested:
            detail = "cancellation requested before this attempt started"
            return _Refusal(TaskStatus.CANCELLED, EventType.CANCELLED, _CANCELLED_RUNNING, detail)
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
        """Take one claimed task to its next state: completed, retrying or a final one.

        Args:
            record: The claimed task.
            body_done: Called as soon as the task body has returned or raised, before the
                outcome is written, so the worker can start another body meanwhile; called
                at once, before anything is written, when no body will run (a refused task
                or a call that cannot be loaded).
            started: The write of this task's :meth:`start_events`, awaited before any later
                event is written so events stay in order; when ``None`` they are written here.
        """
        now = self.store.clock.now()
        refusal = self.refusal(record, now)
        if refusal is not None:
            if body_done is not None:
                body_done()  # no body will run: the worker must not count this task as busy
            await self._finish(record, *refusal)
            return
        if started is None:
            started = self.store.event_store.append(self.start_events([record], now))
        started_task = asyncio.ensure_future(started)
        try:
            func, args, kwargs, headers = self.serializer.load_call_with_headers(record.payload)
            arguments = {**args, **kwargs}
            # No retry can make a call fit its function's signature: it fails at once.
            check_call(func, arguments)
        except (SerializationError, ConfigurationError) as exc:
            if body_done is not None:
                body_done()
            await started_task
            detail = (
                "the call could not be loaded"
                if isinstance(exc, SerializationError)
                else "its arguments do not fit the function's signature (not retried)"
            )
            await self._finish(
                record, TaskStatus.FAILED, EventType.FAILED, error_from_exception(exc), detail
            )
            return
        self._bodies[record.id] = None  # from here on, interrupt() can reach this attempt
        observer = self.observer
        if observer is not None:
            observer.task_started(record, headers, max(0.0, now - record.run_at))
        try:
            await self._attempt(record, func, arguments, started_task, body_done)
        finally:
            self._bodies.pop(record.id, None)
            self._threads.pop(record.id, None)
            self._interrupted.discard(record.id)
            if observer is not None:
                observer.attempt_ended(record)

    async def _attempt(
        self,
        record: TaskRecord,
        func: Callable[..., Any],
        kwargs: dict[str, Any],
        started_task: asyncio.Future[None],
        body_done: Callable[[], None] | None,
    ) -> None:
        """Run the body through the executor (with the task's timeout) and record the outcome."""
        # The body starts once its "executing" event is durable: a crash mid-body never
        # leaves a task whose events stop at "enqueued".
        await started_task
        # The body runs as its own future so that a requested cancellation can interrupt it
        # (see interrupt) without cancelling this coroutine, which then records the outcome.
        threads = self._threads[record.id] = []
        clock: list[float] = []  # when the body started (after waiting for a free slot)
        with watch_threads(threads), watch_start(clock):
            body = asyncio.ensure_future(self.executor.run(func, kwargs, record.timeout))
        self._bodies[record.id] = body
        if record.id in self._interrupted:  # requested while its start event was written
            body.cancel()
        observer = self.observer
        try:
            value = await body
            if body_done is not None:
                body_done()
            if observer is not None:
                observer.body_ended(record, _since(clock), None)
        except asyncio.CancelledError as exc:
            current = asyncio.current_task()
            if current is not None and current.cancelling():  # the worker is stopping
                await asyncio.shield(started_task)
                raise
            if body_done is not None:
                body_done()
            if observer is not None:
                observer.body_ended(record, _since(clock), exc)
            if record.id in self._interrupted:
                await self._cancelled(record, "its body was interrupted (or abandoned)")
            else:  # the body itself raised CancelledError
                await self._failed(record, error_from_exception(exc))
            return
        # BaseException: a body calling sys.exit() (SystemExit) must fail the task, not escape
        # into the event loop, where it would kill the loop thread that runs every sync call.
        # A timeout arrives here too, as TaskTimeoutError: the attempt failed and may be retried.
        except BaseException as exc:
            if body_done is not None:
                body_done()
            if observer is not None:
                observer.body_ended(record, _since(clock), exc)
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
            await self._discarded(record, "completed", stored_result=payload is not None)
            return
        if record.callback is not None:
            await self._run_callback(record, value)

    async def _run_callback(self, record: TaskRecord, value: object) -> None:
        """Call ``callback(value, **callback_args)``; a failure is an event, never retried."""
        try:
            callback, args, kwargs = self.serializer.load_call(record.callback or b"")
            await self.executor.run(functools.partial(callback, value), {**args, **kwargs})
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # as for bodies: SystemExit must not reach the loop
            error = error_from_exception(exc)
            _log.warning("task %s: its callback failed: %s: %s", record.id, error.type,
                         error.message)  # fmt: skip
            detail = "the task stays completed with its result; callbacks are not retried"
            await self.store.event_store.append([
                self._event(record, EventType.CALLBACK_FAILED, self.store.clock.now(),
                            error=error, detail=detail)
            ])  # fmt: skip

    async def _failed(self, record: TaskRecord, error: TaskError) -> None:
        if not should_retry(record):
            detail = f"no retries left ({record.max_retries} allowed)"
            await self._finish(record, TaskStatus.FAILED, EventType.FAILED, error, detail)
            return
        delay = retry_delay(record)
        store = self.store
        now = store.clock.now()
        detail = f"retry {record.retry_count + 1} of {record.max_retries} in {delay:.3f}s"
        event = self._event(record, EventType.RETRYING, now, error=error, detail=detail)
        # With fused events the event commits with the status, before any worker can claim
        # the next attempt; otherwise it follows in a second write.
        fused = store.capabilities.fused_events

        def retry() -> Awaitable[bool]:
            return store.task_queue.retry_later(
                record.id, self.worker_id, now + delay, error, [event] if fused else ()
            )

        if not await self._write_outcome(retry, record.id, TaskStatus.RETRYING):
            await self._discarded(record, "retrying", stored_result=False)
            return
        if self.observer is not None:
            self.observer.task_finished(record, TaskStatus.RETRYING, error)
        if not fused:
            await self.patience.run(
                lambda: store.event_store.append([event]), f"task {record.id}: its event"
            )
        _log.info("task %s failed (%s), %s", record.id, error.type, detail)
        store.channel.notify_tasks_at(now + delay)

    async def _cancelled(self, record: TaskRecord, detail: str) -> None:
        """Record a task whose cancellation was requested while it ran as ``cancelled``."""
        detail = f"cancelled on request while executing: {detail}"
        await self._finish(record, TaskStatus.CANCELLED, EventType.CANCELLED,
                           _CANCELLED_RUNNING, detail)  # fmt: skip

    async def _discarded(self, record: TaskRecord, outcome: str, *, stored_result: bool) -> None:
        """An outcome was refused: its cancellation was requested meanwhile, or lease lost."""
        current = await self.store.task_queue.get(record.id)
        if (
            current is None
            or not current.cancel_requested
            or current.status is not TaskStatus.EXECUTING
            or current.worker_id != self.worker_id
        ):
            _log.warning("task %s: lease lost, its %s outcome was discarded", record.id, outcome)
            return
        if stored_result:  # written just before the refusal: a cancelled task has none
            await self.store.result_store.delete(record.id)
        detail = f"cancelled on request while executing: its {outcome} outcome was discarded"
        if not await self._record_final(record, TaskStatus.CANCELLED, EventType.CANCELLED,
                                        _CANCELLED_RUNNING, detail):  # fmt: skip
            _log.warning("task %s: lease lost, its cancelled outcome was discarded", record.id)

    async def _finish(
        self,
        record: TaskRecord,
        status: TaskStatus,
        event_type: EventType,
        error: TaskError | None,
        detail: str | None,
    ) -> None:
        if not await self._record_final(record, status, event_type, error, detail):
            await self._discarded(record, status.value, stored_result=False)

    async def _record_final(
        self,
        record: TaskRecord,
        status: TaskStatus,
        event_type: EventType,
        error: TaskError | None,
        detail: str | None,
    ) -> bool:
        """Write a final outcome (not ``completed``), its event, and cancel its dependents."""
        store = self.store
        now = store.clock.now()
        event = self._event(record, event_type, now, error=error, detail=detail)
        fused = store.capabilities.fused_events

        def finish() -> Awaitable[bool]:
            return store.task_queue.finish(
                record.id, status, now, worker_id=self.worker_id, error=error,
                events=[event] if fused else (),
            )  # fmt: skip

        if not await self._write_outcome(finish, record.id, status):
            return False
        if self.observer is not None:
            self.observer.task_finished(record, status, error)
        if not fused:  # a reader woken by the status may read the events a moment early
            await self.patience.run(
                lambda: store.event_store.append([event]), f"task {record.id}: its event"
            )
        store.channel.notify_result(record.id)
        await self.patience.run(
            lambda: self.dependencies.cancel_dependents(record.id, status),
            f"task {record.id}: cancelling its dependents",
        )
        return True

    async def _write_outcome(
        self, write: Callable[[], Awaitable[bool]], task_id: str, status: TaskStatus
    ) -> bool:
        """Write an outcome, patiently through an outage; whether this worker's write holds.

        A refused write that finds the task already so counts as this worker's: a retry
        (here, or the backend's own after a dropped connection) of a write whose commit
        went through while its answer was lost.
        """
        try:
            done = await write()
        except StoreUnavailableError:
            done = await self.patience.run(write, f"task {task_id}: recording it {status.value}")
        return done or await landed(self.store.task_queue, task_id, status, self.worker_id)

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
