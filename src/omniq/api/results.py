"""Reading back and cancelling: results (waiting for them), tasks, events; ``cancel``."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from omniq.api.lifecycle import Lifecycle, refuse_on_worker_loop
from omniq.core import validation as check
from omniq.core.portal import portal
from omniq.core.results import PENDING, read_outcome
from omniq.core.task_builder import task_from_record
from omniq.exceptions import (
    ConfigurationError,
    ScheduleNotFoundError,
    TaskNotFoundError,
    TimeoutError,
)
from omniq.models.event import EventType, TaskEvent
from omniq.models.task import Task, TaskError, TaskStatus

__all__ = ["ResultMethods"]

#: What ``get_result(schedule_id=...)`` returns: every run's result, or the latest one.
_KINDS = ("all", "latest")

#: The error recorded on a task cancelled by :meth:`ResultMethods.cancel`.
_CANCELLED_ERROR = TaskError(
    type="omniq.exceptions.TaskCancelledError", message="cancelled on request"
)


class ResultMethods(Lifecycle):
    """Wait for results, read tasks and their events, cancel tasks."""

    async def get_result_async(
        self,
        task_id: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - the spec's public signature
        poll_interval: float = 0.1,
        *,
        schedule_id: str | None = None,
        kind: str = "latest",
    ) -> Any:
        """Wait for a task's result and return it (or the results of a schedule's runs).

        A result produced by a worker of this process wakes the call at once; so does one
        from another process when the store has a notifier (PostgreSQL LISTEN/NOTIFY...);
        otherwise it is seen by polling every ``poll_interval`` seconds.

        Args:
            task_id: The id ``enqueue`` returned.
            timeout: Seconds to wait at most (``None`` = for ever, 0 = just look).
            poll_interval: Seconds between looks at the store.
            schedule_id: Instead of ``task_id``: the id ``schedule`` returned.
            kind: With ``schedule_id``: ``"latest"`` waits for the newest run (and for a
                first run if none fired yet) and returns its result; ``"all"`` returns the
                results of every completed run so far, oldest first, without waiting.

        Returns:
            The value the task returned (``None`` if it ran with ``store_result=False``), or
            a list of values for ``kind="all"``.

        Raises:
            TaskNotFoundError: No task has this id.
            ScheduleNotFoundError: No schedule has this id.
            TaskFailedError: The task failed for good; carries the remote error and traceback.
            TaskExpiredError: The task's ttl passed before it started.
            TaskCancelledError: The task was cancelled.
            ResultExpiredError: The result was deleted after its ``result_ttl``.
            TimeoutError: No outcome within ``timeout`` seconds.
        """
        if timeout is not None:
            check.check_seconds(timeout, "timeout")
        check.check_seconds(poll_interval, "poll_interval", allow_zero=False)
        if (task_id is None) == (schedule_id is None):
            raise ConfigurationError(
                f"task_id {task_id!r} and schedule_id {schedule_id!r}: give exactly one"
            )
        if schedule_id is not None:
            return await self._schedule_results(schedule_id, kind, timeout, poll_interval)
        assert task_id is not None
        return await self._wait_for_task(task_id, timeout, poll_interval)

    async def _wait_for_task(
        self, task_id: str, wait_limit: float | None, poll_interval: float
    ) -> Any:
        check.check_id(task_id, "task_id")
        await self.open_async()
        loop = asyncio.get_running_loop()
        deadline = None if wait_limit is None else loop.time() + wait_limit
        while True:
            woken = self._channel.watch_result(task_id)
            try:
                outcome = await read_outcome(task_id, self.store, self.serializer)
                if outcome is not PENDING:
                    return outcome
                wait = poll_interval
                if deadline is not None:
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        raise TimeoutError(
                            f"task {task_id!r} has no result after waiting {wait_limit}s"
                        )
                    wait = min(wait, remaining)
                # asyncio.timeout, not wait_for, which can swallow a cancellation on 3.11.
                with contextlib.suppress(asyncio.TimeoutError):
                    async with asyncio.timeout(wait):
                        await woken.wait()
            finally:
                self._channel.unwatch_result(task_id, woken)

    def get_result(
        self,
        task_id: str | None = None,
        timeout: float | None = None,
        poll_interval: float = 0.1,
        *,
        schedule_id: str | None = None,
        kind: str = "latest",
    ) -> Any:
        """Sync twin of :meth:`get_result_async`."""
        refuse_on_worker_loop(self, "get_result")
        return portal().call(
            self.get_result_async(
                task_id, timeout, poll_interval, schedule_id=schedule_id, kind=kind
            )
        )

    async def get_task_async(self, task_id: str) -> Task | None:
        """Return the task with this id, or ``None`` if there is none.

        Args:
            task_id: The id ``enqueue`` returned.

        Returns:
            The task (arguments decoded, times as UTC datetimes), or ``None``.
        """
        check.check_id(task_id, "task_id")
        await self.open_async()
        record = await self.task_queue.get(task_id)
        return None if record is None else task_from_record(record, self.serializer)

    def get_task(self, task_id: str) -> Task | None:
        """Sync twin of :meth:`get_task_async`."""
        return portal().call(self.get_task_async(task_id))

    async def get_events_async(self, task_id: str) -> list[TaskEvent]:
        """Return a task's lifecycle events, oldest first.

        Where the task queue and the event store share one atomic write (every backend
        alone but NATS), an outcome's event is written with its status. Otherwise (NATS,
        roles from different backends) it is written just after: read right after
        ``get_result`` returned or raised, the list may lack that last event for a moment.

        Args:
            task_id: The id ``enqueue`` returned.

        Returns:
            The events (empty if the task is unknown).
        """
        check.check_id(task_id, "task_id")
        await self.open_async()
        return await self.event_store.for_task(task_id)

    def get_events(self, task_id: str) -> list[TaskEvent]:
        """Sync twin of :meth:`get_events_async`."""
        return portal().call(self.get_events_async(task_id))

    # -- cancellation ---------------------------------------------------------------------

    async def cancel_async(self, task_id: str) -> bool:
        """Cancel a task: it will not produce a result.

        * Not started yet (``waiting``, ``enqueued`` or ``retrying``, e.g. delayed or between
          attempts): it becomes ``cancelled`` at once and never runs.
        * Running (``executing``): it is marked ``cancel_requested``. Whatever its body
          returns or raises is discarded and its worker records it ``cancelled``, never
          ``completed`` or ``retrying``. The worker notices at once if it runs in this
          process on the same store, otherwise at its next lease renewal (every
          ``lease_duration / 3`` seconds) or when the body ends, whichever comes first.
          What happens to the body depends on the worker type:

          - ``async`` worker, coroutine function: interrupted (``asyncio.CancelledError`` is
            raised at its current ``await``).
          - ``process_pool``: the child process running it is killed. ``gevent``: the
            greenlet is killed.
          - ``thread_pool`` worker, or a plain function under the ``async`` worker: a thread
            cannot be interrupted, so the body runs on to its end, unobserved, and its
            result is discarded; its worker slot stays taken until then.

        * Final (completed, failed, expired or already cancelled): nothing changes.

        Tasks that depend on the cancelled task are cancelled too, transitively. A
        ``cancelled`` event is written when the task becomes ``cancelled``, and
        :meth:`get_result` of a cancelled task raises :class:`TaskCancelledError`.

        Args:
            task_id: The id ``enqueue`` returned.

        Returns:
            ``True`` if the task is cancelled (or will be, once its worker notices);
            ``False`` if it had already finished.

        Raises:
            TaskNotFoundError: No task has this id.
        """
        check.check_id(task_id, "task_id")
        await self.open_async()
        now = self.store.clock.now()
        before = await self.task_queue.cancel(task_id, now, _CANCELLED_ERROR)
        if before is None:
            raise TaskNotFoundError(task_id)
        if before.is_final:
            return False
        if before is TaskStatus.EXECUTING:
            self._channel.notify_cancel()
        else:
            await self.event_store.append([
                TaskEvent(task_id=task_id, type=EventType.CANCELLED, timestamp=now,
                          error=f"{_CANCELLED_ERROR.type}: {_CANCELLED_ERROR.message}",
                          detail=f"cancelled while {before.value}, before it ran")
            ])  # fmt: skip
            self._channel.notify_result(task_id)
        await self._dependencies.cancel_dependents(task_id, TaskStatus.CANCELLED)
        return True

    def cancel(self, task_id: str) -> bool:
        """Sync twin of :meth:`cancel_async`."""
        return portal().call(self.cancel_async(task_id))

    async def _schedule_results(
        self, schedule_id: str, kind: str, wait_limit: float | None, poll_interval: float
    ) -> Any:
        """Results of a schedule's runs: all completed ones, or the latest run's (waiting)."""
        check.check_id(schedule_id, "schedule_id")
        if kind not in _KINDS:
            raise ConfigurationError(f"kind {kind!r} is not one of 'all', 'latest'")
        await self.open_async()
        if await self.task_queue.get_schedule(schedule_id) is None:
            raise ScheduleNotFoundError(schedule_id)
        if kind == "all":
            return await self._completed_results(schedule_id)
        loop = asyncio.get_running_loop()
        deadline = None if wait_limit is None else loop.time() + wait_limit
        while True:
            runs = await self.task_queue.schedule_runs(schedule_id)
            if runs:
                remaining = None if deadline is None else max(0.0, deadline - loop.time())
                return await self._wait_for_task(runs[-1].id, remaining, poll_interval)
            wait = poll_interval
            if deadline is not None:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise TimeoutError(
                        f"schedule {schedule_id!r} fired no run within {wait_limit}s"
                    )
                wait = min(wait, remaining)
            await asyncio.sleep(wait)

    async def _completed_results(self, schedule_id: str) -> list[Any]:
        results = []
        for run in await self.task_queue.schedule_runs(schedule_id):
            if run.status is not TaskStatus.COMPLETED:  # a leftover of a lost lease is no result
                continue
            stored = await self.result_store.get(run.id, self.store.clock.now())
            if stored is not None:
                results.append(self.serializer.load_value(stored.payload))
        return results
