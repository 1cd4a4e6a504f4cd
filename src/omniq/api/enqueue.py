"""The enqueue methods of :class:`omniq.OmniQ`: one task, or many in one write."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Unpack, cast

import msgspec

from omniq.api.lifecycle import Lifecycle
from omniq.core.dependencies import DependencyPlan
from omniq.core.portal import portal
from omniq.core.task_builder import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_QUEUE,
    ENQUEUE_OPTION_NAMES,
    EnqueueExtras,
    EnqueueOptions,
    TaskOptions,
)
from omniq.exceptions import ConfigurationError
from omniq.models.event import EventType, TaskEvent
from omniq.models.task import TaskStatus
from omniq.monitoring.tracing import traced_enqueue
from omniq.storage.interfaces import TransactionalEnqueue
from omniq.storage.records import TaskRecord

__all__ = ["EnqueueMethods"]


class EnqueueMethods(Lifecycle):
    """Store tasks: ``enqueue`` one call, ``enqueue_many`` a batch in one atomic write."""

    @traced_enqueue
    async def enqueue_async(
        self,
        func: Callable[..., Any],
        func_args: Mapping[str, Any] | None = None,
        func_kwargs: Mapping[str, Any] | None = None,
        queue_name: str = DEFAULT_QUEUE,
        name: str | None = None,
        description: str | None = None,
        tags: Sequence[str] | None = None,
        priority: int = 0,
        run_at: dt.datetime | None = None,
        run_in: dt.timedelta | float | None = None,
        ttl: dt.timedelta | float | None = None,
        result_ttl: dt.timedelta | float | None = None,
        depends_on: Sequence[str] | None = None,
        callback: Callable[..., Any] | None = None,
        callback_args: Mapping[str, Any] | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        retry_delay: dt.timedelta | float | None = None,
        store_result: bool = True,
        timeout: dt.timedelta | float | None = None,  # noqa: ASYNC109 - a task option
        **kwargs: Unpack[EnqueueExtras],
    ) -> str:
        """Enqueue ``func(**func_args, **func_kwargs)`` and return the new task's id.

        Args:
            func: The function to run: importable functions are stored by reference,
                lambdas, closures and ``__main__`` functions by value (cloudpickle).
            func_args: Keyword arguments for ``func``.
            func_kwargs: More keyword arguments for ``func`` (must not repeat a key).
            queue_name: The queue; an undeclared one is declared in this instance.
            name: A name for the task.
            description: A description.
            tags: Tags.
            priority: Higher runs first within its queue.
            run_at: Do not run before this time (naive datetimes are local time).
            run_in: Do not run before this delay has passed (``timedelta`` or seconds).
            ttl: If not started within this long after it is due, the task expires unrun.
            result_ttl: Delete the result this long after it is stored.
            depends_on: Ids of tasks that must all complete before this one runs. Until
                then the task is ``waiting`` (not claimable); the last one to complete
                releases it. A dependency already completed counts as done. If one fails for
                good, expires or is cancelled (before or after this call), this task never
                runs: it ends ``cancelled`` with an error naming that dependency, and so do
                the tasks that depend on it in turn. ``ttl`` counts from ``run_at``,
                including the wait for dependencies.
            callback: Called by the worker after the task **completes**, as
                ``callback(result, **callback_args)``: the task's return value as the only
                positional argument, then ``callback_args`` as keyword arguments (so its
                signature is e.g. ``def on_done(result, *, user_id): ...``; plain or
                ``async def``). It is stored like ``func`` (by reference, or by value with
                cloudpickle) and runs in the worker's executor once the result is durable,
                even with ``store_result=False``. It does not run if the task fails, expires
                or is cancelled. If it raises, the task stays ``completed`` with its result,
                a ``callback_failed`` event records the error, and it is not retried: it
                runs at most once (a worker that dies, or is stopped past its grace period,
                between storing the result and running the callback skips it). It has no
                timeout and takes one of the worker's slots while it runs.
            callback_args: Keyword arguments for ``callback`` (requires ``callback``).
            max_retries: Retries after a failed attempt (0 = run once).
            retry_delay: Delay before a retry (``timedelta`` or seconds).
            store_result: Whether to store the result (the status is recorded either way).
            timeout: Longest an attempt may run (``timedelta`` or seconds, > 0), counted
                from the start of its body. An attempt running longer fails with
                :class:`omniq.exceptions.TaskTimeoutError` and is retried per
                ``max_retries``/``retry_delay``. What happens to the body: the ``async``
                worker cancels a coroutine at its current ``await``; ``process_pool`` kills
                the child process running it; ``gevent`` kills the greenlet. A plain function
                in a thread (``thread_pool``, or a sync function under ``async``) cannot be
                stopped, so the attempt is abandoned: the timeout is recorded at once while
                the thread runs on to its end, unobserved, its result discarded, and its
                worker slot stays taken until then (``max_workers`` is never exceeded).
            **kwargs: ``retry_backoff`` (multiplier per retry, 1 to 100, default 1),
                ``retry_max_delay`` (cap of the computed delay) and ``connection``: the
                application's own database connection, inside its transaction, to store
                the task in that transaction (PostgreSQL: a psycopg 3 ``AsyncConnection``
                here, a ``Connection`` for the sync ``enqueue``). The task then exists if
                and only if that transaction commits, and workers see it from the commit.

        ``ttl``, ``result_ttl``, ``max_retries`` (default 3), ``retry_delay`` and the
        ``retry_*`` keywords not given take the configured ``task_defaults``.

        Returns:
            The task id.

        ``func_args`` and ``func_kwargs`` are bound to ``func``'s signature here (nothing is
        called): a missing or unexpected argument is refused. A task that still does not
        fit when a worker runs it fails at once, without retries. Times must fall from
        1970-01-01 to 9000-01-01 UTC, durations be at most 100 years, ``priority`` and
        ``max_retries`` be 32-bit integers, ``retry_backoff`` from 1 to 100.

        Raises:
            ConfigurationError: A bad argument, named in the message (e.g. an argument
                ``func`` does not take, or a time out of range); also a ``depends_on``
                id that names no task (nothing is stored then), or a ``callback`` that is
                not callable.
            SerializationError: ``func``, ``callback`` or an argument cannot be stored.
        """
        connection = kwargs.pop("connection", None)
        task_options = TaskOptions.cached(_options(locals(), kwargs), self._task_defaults())
        await self.open_async()
        record = task_options.record(
            self.serializer, func, func_args, func_kwargs, self.store.clock.now()
        )
        if connection is None:
            await self._store_tasks([record], task_options)
        else:
            queue = self._transactional_queue(connection)
            events, plan, now = await self._prepare([record], task_options)
            await queue.enqueue_in_async(connection, [record], events)
            self._stored_in_transaction([record], plan, now)
        return record.id

    def _enqueue_in_transaction(
        self,
        func: Callable[..., Any],
        func_args: Mapping[str, Any] | None,
        func_kwargs: Mapping[str, Any] | None,
        options: EnqueueOptions,
        connection: Any,
    ) -> str:
        """The sync ``enqueue`` with ``connection=``: the write runs in the caller's thread."""
        task_options = TaskOptions.cached(options, self._task_defaults())
        self.open()
        queue = self._transactional_queue(connection)
        record = task_options.record(
            self.serializer, func, func_args, func_kwargs, self.store.clock.now()
        )
        events, plan, now = portal().call(self._prepare([record], task_options))
        queue.enqueue_in(connection, [record], events)
        self._stored_in_transaction([record], plan, now)
        return record.id

    def _transactional_queue(self, connection: Any) -> TransactionalEnqueue:
        """The task queue, if it can store tasks in the application's own transaction."""
        store = self.store
        queue = store.task_queue
        if not isinstance(queue, TransactionalEnqueue) or not store.capabilities.fused_events:
            raise ConfigurationError(
                f"connection {connection!r} was given, but {type(queue).__name__} cannot "
                "store tasks in the application's transaction (the PostgreSQL backend can)"
            )
        return queue

    def _stored_in_transaction(
        self, records: list[TaskRecord], plan: DependencyPlan | None, now: float
    ) -> None:
        """What follows a transactional enqueue (the transaction may still be open).

        Workers are woken (they find the tasks once the transaction commits; the store's
        notification wakes them again then). Waiting tasks are not re-checked here, as the
        write is not visible yet: a dependency finishing before the commit leaves them to
        the workers' maintenance pass (within half a lease).
        """
        if plan is not None and plan.status is TaskStatus.CANCELLED:
            for record in records:
                self._channel.notify_result(record.id)
        elif plan is None or plan.status is TaskStatus.ENQUEUED:
            self._announce(records, now)

    def _enqueue_directly(
        self,
        func: Callable[..., Any],
        func_args: Mapping[str, Any] | None,
        func_kwargs: Mapping[str, Any] | None,
        options: EnqueueOptions,
    ) -> str | None:
        """The sync ``enqueue``'s shortcut: hand the task straight to the backend's writer.

        Skips the event-loop thread (one thread hop less each way) when the store is open
        and writes a task and its event in one blocking call; returns ``None`` (and
        ``enqueue`` goes through :meth:`enqueue_async`) otherwise, or with dependencies.
        """
        store = self._store
        store_blocking = None if store is None else store.blocking_enqueue
        if store is None or store_blocking is None or options.get("depends_on"):
            return None
        task_options = TaskOptions.cached(options, self._task_defaults())
        now = store.clock.now()
        record = task_options.record(self.serializer, func, func_args, func_kwargs, now)
        self._declare_queue(task_options.queue_name)
        store_blocking([record], [TaskEvent(task_id=record.id, type=EventType.ENQUEUED,
                                            timestamp=now)])  # fmt: skip
        self._announce([record], now)
        return record.id

    @traced_enqueue
    def enqueue(
        self,
        func: Callable[..., Any],
        func_args: Mapping[str, Any] | None = None,
        func_kwargs: Mapping[str, Any] | None = None,
        queue_name: str = DEFAULT_QUEUE,
        name: str | None = None,
        description: str | None = None,
        tags: Sequence[str] | None = None,
        priority: int = 0,
        run_at: dt.datetime | None = None,
        run_in: dt.timedelta | float | None = None,
        ttl: dt.timedelta | float | None = None,
        result_ttl: dt.timedelta | float | None = None,
        depends_on: Sequence[str] | None = None,
        callback: Callable[..., Any] | None = None,
        callback_args: Mapping[str, Any] | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        retry_delay: dt.timedelta | float | None = None,
        store_result: bool = True,
        timeout: dt.timedelta | float | None = None,
        **kwargs: Unpack[EnqueueExtras],
    ) -> str:
        """Sync twin of :meth:`enqueue_async` (same arguments, same result)."""
        connection = kwargs.pop("connection", None)
        options = _options(locals(), kwargs)
        if connection is not None:
            return self._enqueue_in_transaction(func, func_args, func_kwargs, options, connection)
        task_id = self._enqueue_directly(func, func_args, func_kwargs, options)
        if task_id is not None:
            return task_id
        return portal().call(self.enqueue_async(func, func_args, func_kwargs, **options))

    @traced_enqueue
    async def enqueue_many_async(
        self,
        func: Callable[..., Any],
        args_list: Iterable[Mapping[str, Any]],
        func_kwargs: Mapping[str, Any] | None = None,
        **options: Unpack[EnqueueOptions],
    ) -> list[str]:
        """Enqueue ``func`` once per mapping of ``args_list``, in one atomic write.

        Much faster than a loop of :meth:`enqueue_async` (one write for the batch).

        Args:
            func: The function to run.
            args_list: One ``func_args`` mapping per task.
            func_kwargs: Keyword arguments shared by every task.
            **options: Any ``enqueue`` option (shared by every task), including
                ``timeout``, ``depends_on``, ``callback`` and ``callback_args``.

        Returns:
            The task ids, in the order of ``args_list``.

        Raises:
            ConfigurationError: A bad option, ``args_list`` not a list of mappings, or a
                mapping that does not fit ``func``'s signature (nothing is stored then).
            SerializationError: ``func`` or an argument cannot be stored.
        """
        if "func_args" in options:
            raise ConfigurationError("func_args was given to enqueue_many: use args_list")
        task_options = TaskOptions.cached(options, self._task_defaults(), what="enqueue_many")
        await self.open_async()
        now = self.store.clock.now()
        records = [
            task_options.record(self.serializer, func, args, func_kwargs, now)
            for args in _args_list(args_list)
        ]
        if records:
            await self._store_tasks(records, task_options)
        return [record.id for record in records]

    def enqueue_many(
        self,
        func: Callable[..., Any],
        args_list: Iterable[Mapping[str, Any]],
        func_kwargs: Mapping[str, Any] | None = None,
        **options: Unpack[EnqueueOptions],
    ) -> list[str]:
        """Sync twin of :meth:`enqueue_many_async`."""
        return portal().call(self.enqueue_many_async(func, args_list, func_kwargs, **options))

    async def _prepare(
        self, records: list[TaskRecord], options: TaskOptions
    ) -> tuple[list[TaskEvent], DependencyPlan | None, float]:
        """Plan new tasks by their dependencies (statuses set on ``records``); their events."""
        depends_on = options.depends_on
        plan = await self._dependencies.plan(depends_on) if depends_on else None
        self._declare_queue(options.queue_name)
        now = self.store.clock.now()
        events = [TaskEvent(task_id=r.id, type=EventType.ENQUEUED, timestamp=now) for r in records]
        if plan is not None:
            events = _planned(records, events, plan, now)
        return events, plan, now

    async def _store_tasks(self, records: list[TaskRecord], options: TaskOptions) -> None:
        """Store new tasks and their events, as their dependencies allow; wake workers."""
        store = self.store
        events, plan, now = await self._prepare(records, options)
        if store.capabilities.fused_events:
            # One atomic write: no worker can claim a task before its "enqueued" event exists.
            await store.task_queue.enqueue(records, events)
        else:
            # The event first, so it still precedes the claim's; if the tasks then fail to
            # be stored, the caller gets the error and the log an event of no task.
            await store.event_store.append(events)
            await store.task_queue.enqueue(records)
        if plan is not None and plan.status is not TaskStatus.ENQUEUED:
            if plan.status is TaskStatus.WAITING:
                await self._dependencies.settle(plan.pending)
            else:
                for record in records:
                    store.channel.notify_result(record.id)
            return
        self._announce(records, now)

    def _announce(self, records: Sequence[TaskRecord], now: float) -> None:
        """Wake this process's idle workers for tasks just stored (or note when they are due)."""
        due = min(record.run_at for record in records)
        channel = self._channel
        if due > now:
            channel.notify_tasks_at(due)
        else:
            channel.notify_tasks()


def _args_list(args_list: object) -> list[Any]:
    """``enqueue_many``'s ``args_list`` as a list (each item is checked as ``func_args``)."""
    if isinstance(args_list, str | bytes | Mapping) or not isinstance(args_list, Iterable):
        raise ConfigurationError(
            f"args_list {args_list!r} is not valid: expected a list of func_args mappings, "
            "e.g. [{'x': 1}, {'x': 2}]"
        )
    return list(args_list)


def _options(arguments: Mapping[str, Any], extra: EnqueueExtras) -> EnqueueOptions:
    """The options of an ``enqueue`` call as one mapping, from its ``locals()``.

    The spec fixes ``enqueue``'s signature, so its options arrive as parameters; from here
    on they travel as one :class:`EnqueueOptions` (``tests/unit/test_api_parity.py`` keeps
    its keys and the parameters in step).
    """
    options: dict[str, Any] = {
        key: value for key, value in arguments.items() if key in ENQUEUE_OPTION_NAMES
    }
    options.update(extra)
    return cast(EnqueueOptions, options)


def _planned(
    records: list[TaskRecord], events: list[TaskEvent], plan: DependencyPlan, now: float
) -> list[TaskEvent]:
    """Apply a dependency plan to new records; return their events (``cancelled`` added)."""
    if plan.status is TaskStatus.ENQUEUED:
        return events
    for record in records:
        record.status = plan.status
        record.error = plan.error
        if plan.status is TaskStatus.CANCELLED:
            record.finished_at = now
    if plan.status is TaskStatus.WAITING:
        detail = f"waiting for {len(plan.pending)} of its {len(records[0].depends_on)} dependencies"
        return [msgspec.structs.replace(event, detail=detail) for event in events]
    error = None if plan.error is None else f"{plan.error.type}: {plan.error.message}"
    cancelled = [
        TaskEvent(task_id=record.id, type=EventType.CANCELLED, timestamp=now, error=error,
                  detail="a task it depends on will never complete")
        for record in records
    ]  # fmt: skip
    return events + cancelled
