"""The ``OmniQ`` facade: enqueue, run, and fetch back, with sync and async twins."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import msgspec

from omniq.backends import create_backend
from omniq.config import check_config, load_config_dict, load_config_env, load_config_file
from omniq.config.build import apply_logging, build_backend, describe, queues_of
from omniq.config.mixed import MixedBackend
from omniq.core import validation as check
from omniq.core.admin_api import AdminMethods
from omniq.core.dependencies import Dependencies, DependencyPlan
from omniq.core.notify import Channel, channel
from omniq.core.portal import portal
from omniq.core.results import PENDING, read_outcome
from omniq.core.schedule_api import ScheduleMethods
from omniq.core.task_builder import DEFAULT_MAX_RETRIES, TaskOptions, task_from_record
from omniq.exceptions import ConfigurationError, TaskNotFoundError, TimeoutError, WorkerError
from omniq.models.config import OmniQConfig, TaskDefaultsConfig
from omniq.models.event import EventType, TaskEvent
from omniq.models.task import Task, TaskError, TaskStatus
from omniq.serialization import Serializer
from omniq.storage.interfaces import (
    Backend,
    BlockingEnqueue,
    EventStorage,
    ResultStorage,
    TaskQueue,
    share_write_order,
)
from omniq.storage.records import TaskRecord
from omniq.workers.completions import CompletionBatcher
from omniq.workers.config import WorkerOptions, check_worker_type, create_executor
from omniq.workers.lifecycle import TaskRunner
from omniq.workers.worker import Worker, new_worker_id

__all__ = ["DEFAULT_QUEUE", "OmniQ"]

_log = logging.getLogger("omniq")


#: The queue of tasks enqueued without ``queue_name``; every worker serves it.
DEFAULT_QUEUE = "default"


class OmniQ(ScheduleMethods, AdminMethods):
    """A task queue: enqueue callables, run them with a worker, fetch results and events.

    Every method has an async twin (``enqueue`` / ``enqueue_async``...). The async ones hold
    the logic; the sync ones run them on one long-lived event-loop thread, so they work from
    scripts, threads and code that already runs an event loop. The instance opens its storage
    on first use; use it as a (sync or async) context manager to also close it.

    Args:
        project_name: Namespaces the storage (e.g. names the SQLite file).
        backend_type: ``"sqlite"`` (default) or ``"memory"``. ``"file"``, ``"postgres"``,
            ``"redis"`` and ``"nats"`` are planned.
        backend: A ready backend instance instead of ``backend_type`` (not closed by OmniQ).
        task_queue: Use this task queue instead of the backend's.
        result_store: Use this result storage instead of the backend's.
        event_store: Use this event storage instead of the backend's.
        queues: Queue names in service order (first served first). ``"default"`` is always
            served, last unless listed. Enqueueing to an unlisted queue declares it (served
            after the listed ones, in order of first use) in this instance.
        worker_type: Default worker type for :meth:`start_worker`: ``"thread_pool"``
            (default), ``"async"``, ``"process_pool"`` or ``"gevent"`` (the last one only in
            a process started by ``python -m omniq.workers.gevent_main``).
        worker_config: Default worker options (see :class:`omniq.workers.WorkerOptions`).
        strict_serialization: Refuse pickle in both directions (see
            :mod:`omniq.serialization`).
        secret_key: Sign every stored payload with HMAC and refuse any that fails
            verification.
        **kwargs: Passed to the backend constructor, e.g. ``db_path=`` or ``synchronous=``
            for SQLite.

    Raises:
        ConfigurationError: A bad argument; the message names it and what was expected.

    Example:
        >>> with OmniQ(project_name="demo", backend_type="memory") as oq:
        ...     oq.start_worker(worker_type="thread_pool", max_workers=2)
        ...     task_id = oq.enqueue(func=pow, func_args={"base": 2, "exp": 10})
        ...     oq.get_result(task_id)
        1024
    """

    def __init__(
        self,
        project_name: str,
        backend_type: str | None = None,
        backend: Backend | None = None,
        task_queue: TaskQueue | None = None,
        result_store: ResultStorage | None = None,
        event_store: EventStorage | None = None,
        queues: Sequence[str] | None = None,
        worker_type: str | None = None,
        worker_config: Mapping[str, Any] | None = None,
        *,
        strict_serialization: bool = False,
        secret_key: str | bytes | None = None,
        **kwargs: Any,
    ) -> None:
        if not isinstance(project_name, str) or not project_name:
            raise ConfigurationError(f"project_name {project_name!r} is not a non-empty string")
        self.project_name = project_name
        if backend is not None and backend_type is not None:
            raise ConfigurationError(
                f"backend {backend!r} and backend_type {backend_type!r} were both given: "
                "expected one"
            )
        if backend is None and None in (task_queue, result_store, event_store):
            backend = create_backend(backend_type or "sqlite", project_name, **kwargs)
            self._owns_backend = True
        else:
            if kwargs:
                raise ConfigurationError(
                    f"backend option {sorted(kwargs)[0]!r} was given with a ready backend: "
                    "pass options to the backend's constructor instead"
                )
            self._owns_backend = False
        self.backend = backend
        self._roles = (task_queue, result_store, event_store)
        self._channel: Channel = channel(backend.channel if backend else f"omniq:{id(self)}")
        self._declared_queues = _queue_list(queues)
        self._queues = self._service_order([])
        if worker_type is not None:
            check_worker_type(worker_type)
        self.worker_type = worker_type or "thread_pool"
        self.worker_config = dict(worker_config or {})
        WorkerOptions.from_mapping(self.worker_config)
        if not isinstance(strict_serialization, bool):
            raise ConfigurationError(
                f"strict_serialization {strict_serialization!r} is not True or False"
            )
        if secret_key is not None and (not isinstance(secret_key, str | bytes) or not secret_key):
            raise ConfigurationError("secret_key is not a non-empty str or bytes")
        self.serializer = Serializer(strict=strict_serialization, secret_key=secret_key)
        self._config = describe(
            project_name=project_name, backend=backend, roles=self._roles,
            queues=self._declared_queues, worker_type=self.worker_type,
            worker_config=self.worker_config, strict_serialization=strict_serialization,
            secret_key=secret_key, backend_options=kwargs,
        )  # fmt: skip
        self.worker: Worker | None = None
        self._opened = False
        # The backend's blocking enqueue, found at open (see _find_blocking_enqueue).
        self._direct_enqueue: Callable[[list[TaskRecord], list[TaskEvent]], None] | None = None
        # Opening is shared by every caller, whatever its loop or thread: the first one opens,
        # the others wait for it (so the backend is never initialized twice at once).
        self._open_lock = threading.Lock()
        self._opening: concurrent.futures.Future[None] | None = None

    # -- configuration --------------------------------------------------------------------

    @property
    def config(self) -> OmniQConfig:
        """The effective configuration; secrets are masked when it is printed.

        Backend options are read back from the backends (e.g. SQLite's resolved
        ``db_path``), so ``OmniQ.from_config(oq.config)`` builds the same setup.
        """
        return self._config

    @classmethod
    def from_config(cls, config: OmniQConfig) -> OmniQ:
        """Create an instance from a configuration object.

        Storage roles with the same backend type and options share one backend instance;
        different ones get their own (e.g. the queue in SQLite, the results in memory). The
        instance closes the backends it builds. See :mod:`omniq.config` for precedence.

        Args:
            config: The configuration (validated here).

        Returns:
            A new OmniQ instance.

        Raises:
            ConfigurationError: A bad setting; the message starts with its key path.
        """
        config = check_config(config)
        instance = cls(
            config.project_name, backend=build_backend(config), queues=queues_of(config),
            worker_type=config.worker.type, worker_config=config.worker.config,
            strict_serialization=config.strict_serialization, secret_key=config.secret_key,
        )  # fmt: skip
        instance._owns_backend = True
        instance._config = msgspec.structs.replace(
            instance._config, task_defaults=config.task_defaults, logging=config.logging
        )
        apply_logging(config.logging)
        return instance

    @classmethod
    def from_config_dict(cls, config: Mapping[str, Any]) -> OmniQ:
        """Create an instance from a configuration dictionary (shaped like the YAML file).

        Args:
            config: The settings, e.g. ``{"project_name": "p", "task_queue": {"type":
                "sqlite", "config": {"queues": ["high", "low"]}}}``.

        Returns:
            A new OmniQ instance.

        Raises:
            ConfigurationError: Unknown key, bad type or value, named by its key path.
        """
        return cls.from_config(load_config_dict(config))

    @classmethod
    def from_config_file(
        cls, config_path: str | Path, env_vars: bool = False, **kwargs: Any
    ) -> OmniQ:
        """Create an instance from a YAML file, the environment and overrides.

        Precedence: defaults < file < ``OMNIQ_*`` environment variables < ``kwargs``.

        Args:
            config_path: The YAML file.
            env_vars: Replace ``${VAR}`` and ``${VAR:-default}`` in the file's values.
            **kwargs: Overrides: top-level keys (``project_name``, ``worker={...}``...) or
                constructor names (``backend_type``, ``queues``, ``worker_type``,
                ``worker_config``).

        Returns:
            A new OmniQ instance.

        Raises:
            ConfigurationError: Missing file, malformed YAML (with its line), unset
                variable, or a bad setting; the message names the file and the key path.
        """
        return cls.from_config(load_config_file(config_path, env_vars, **kwargs))

    @classmethod
    def from_env(cls, prefix: str = "OMNIQ_") -> OmniQ:
        """Create an instance from environment variables.

        ``OMNIQ_PROJECT_NAME``, ``OMNIQ_TASK_QUEUE_TYPE``,
        ``OMNIQ_TASK_QUEUE_CONFIG_QUEUES=high,medium,low``, ``OMNIQ_WORKER_CONFIG_MAX_WORKERS``
        ... (see :mod:`omniq.config.env`); values get the configuration's types.

        Args:
            prefix: The prefix of the variable names.

        Returns:
            A new OmniQ instance.

        Raises:
            ConfigurationError: A bad or missing variable, named in the message.
        """
        return cls.from_config(load_config_env(prefix))

    @classmethod
    def from_backend(
        cls,
        backend: Backend,
        result_store_backend: Backend | None = None,
        event_store_backend: Backend | None = None,
        worker_type: str | None = None,
        worker_config: Mapping[str, Any] | None = None,
        queues: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> OmniQ:
        """Create an instance on ready backends (which it does not close).

        Args:
            backend: The backend of the task queue (and of the other roles by default).
            result_store_backend: The backend whose result storage to use.
            event_store_backend: The backend whose event storage to use.
            worker_type: Default worker type.
            worker_config: Default worker options.
            queues: Queue names in service order.
            **kwargs: ``project_name`` (default: the backend's), ``strict_serialization``,
                ``secret_key``.

        Returns:
            A new OmniQ instance.
        """
        project_name = kwargs.pop("project_name", None) or getattr(backend, "project_name", None)
        if not isinstance(project_name, str) or not project_name:
            raise ConfigurationError(f"backend {backend!r} has no project_name: pass one")
        results = backend if result_store_backend is None else result_store_backend
        events = backend if event_store_backend is None else event_store_backend
        store = backend
        if results is not backend or events is not backend:
            store = MixedBackend(backend, results, events)
        return cls(
            project_name, backend=store, queues=queues, worker_type=worker_type,
            worker_config=worker_config, **kwargs,
        )  # fmt: skip

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def queues(self) -> list[str]:
        """Queue names in service order.

        The listed ones, then ``"default"`` (unless listed), then undeclared queues in order
        of first use by ``enqueue``.
        """
        return list(self._queues)

    def _service_order(self, extra: list[str]) -> list[str]:
        order = list(self._declared_queues)
        if DEFAULT_QUEUE not in order:
            order.append(DEFAULT_QUEUE)
        return order + [name for name in extra if name not in order]

    @property
    def task_queue(self) -> TaskQueue:
        """The task queue in use (available once the instance is open)."""
        return self._role(0, "task_queue")  # type: ignore[no-any-return]

    @property
    def result_store(self) -> ResultStorage:
        """The result storage in use (available once the instance is open)."""
        return self._role(1, "result_store")  # type: ignore[no-any-return]

    @property
    def event_store(self) -> EventStorage:
        """The event storage in use (available once the instance is open)."""
        return self._role(2, "event_store")  # type: ignore[no-any-return]

    @property
    def _dependencies(self) -> Dependencies:
        """The dependency policy on this instance's store (available once open)."""
        return Dependencies(self.task_queue, self.event_store, self._channel)

    def _role(self, index: int, name: str) -> Any:
        given = self._roles[index]
        if given is not None:
            return given
        if self.backend is None or not hasattr(self.backend, name):
            raise ConfigurationError(
                f"{name} is not available before the instance is opened: "
                "use it as a context manager or call open()"
            )
        return getattr(self.backend, name)

    async def open_async(self) -> OmniQ:
        """Open the storage (idempotent; also done on first use)."""
        if self._opened:
            return self
        with self._open_lock:
            opening = self._opening
            if opening is None:
                self._opening = mine = concurrent.futures.Future[None]()
        if opening is not None:  # another caller is opening it: wait for that
            await asyncio.wrap_future(opening)
            return self
        try:
            if self.backend is not None:
                await self.backend.initialize_async()
            self._direct_enqueue = self._find_blocking_enqueue()
            self._opened = True
        except BaseException as exc:
            mine.set_exception(exc)
            raise
        else:
            mine.set_result(None)
        finally:
            with self._open_lock:
                self._opening = None
        return self

    def open(self) -> OmniQ:
        """Sync twin of :meth:`open_async`."""
        return portal().call(self.open_async())

    async def close_async(self) -> None:
        """Stop the worker (gracefully) and close storage this instance opened."""
        await self.stop_worker_async()
        if self._owns_backend and self.backend is not None and self._opened:
            await self.backend.close_async()
        self._opened = False
        self._direct_enqueue = None

    def close(self) -> None:
        """Sync twin of :meth:`close_async`."""
        self._refuse_on_worker_loop("close")
        portal().call(self.close_async())

    def __enter__(self) -> OmniQ:
        return self.open()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> OmniQ:
        return await self.open_async()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close_async()

    # -- enqueue --------------------------------------------------------------------------

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
        **kwargs: Any,
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
            **kwargs: ``retry_backoff`` (multiplier per retry, >= 1, default 1) and
                ``retry_max_delay`` (cap of the computed delay).

        ``ttl``, ``result_ttl``, ``max_retries`` (default 3), ``retry_delay`` and the
        ``retry_*`` keywords not given take the configured ``task_defaults``.

        Returns:
            The task id.

        Raises:
            ConfigurationError: A bad argument, named in the message; also a ``depends_on``
                id that names no task (nothing is stored then), or a ``callback`` that is
                not callable.
            SerializationError: ``func``, ``callback`` or an argument cannot be stored.
        """
        options, record = self._new_task(
            func, func_args, func_kwargs, queue_name, name, description, tags, priority,
            run_at, run_in, ttl, result_ttl, depends_on, callback, callback_args,
            max_retries, retry_delay, store_result, timeout, kwargs,
        )  # fmt: skip
        await self._store([record], options.queue_name, options.depends_on)
        return record.id

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
        **kwargs: Any,
    ) -> str:
        """Sync twin of :meth:`enqueue_async` (same arguments, same result)."""
        store_blocking = self._direct_enqueue if self._opened else None
        if store_blocking is not None and not depends_on:
            # The common case skips the event-loop thread: the record is built here and
            # handed straight to the backend's writer (one thread hop less each way).
            options, record = self._new_task(
                func, func_args, func_kwargs, queue_name, name, description, tags, priority,
                run_at, run_in, ttl, result_ttl, None, callback, callback_args,
                max_retries, retry_delay, store_result, timeout, kwargs,
            )  # fmt: skip
            self._declare_queue(options.queue_name)
            now = time.time()
            store_blocking([record], [TaskEvent(task_id=record.id, type=EventType.ENQUEUED,
                                                timestamp=now)])  # fmt: skip
            self._announce([record], now)
            return record.id
        return portal().call(
            self.enqueue_async(
                func, func_args, func_kwargs, queue_name, name, description, tags, priority,
                run_at, run_in, ttl, result_ttl, depends_on, callback, callback_args,
                max_retries, retry_delay, store_result, timeout, **kwargs,
            )
        )  # fmt: skip

    async def enqueue_many_async(
        self,
        func: Callable[..., Any],
        args_list: Iterable[Mapping[str, Any]],
        **options: Any,
    ) -> list[str]:
        """Enqueue ``func`` once per mapping of ``args_list``, in one atomic write.

        Much faster than a loop of :meth:`enqueue_async` (one commit for the batch).

        Args:
            func: The function to run.
            args_list: One ``func_args`` mapping per task.
            **options: Any ``enqueue`` option except ``func_args`` (shared by every task),
                including ``timeout``, ``depends_on``, ``callback`` and ``callback_args``.

        Returns:
            The task ids, in the order of ``args_list``.
        """
        func_kwargs = options.pop("func_kwargs", None)
        if "func_args" in options:
            raise ConfigurationError("func_args was given to enqueue_many: use args_list")
        build_args = {key: options.pop(key, default) for key, default in _ENQUEUE_DEFAULTS.items()}
        task_options = TaskOptions.build(
            **build_args, extra=options, defaults=self._config.task_defaults
        )
        records = [
            task_options.record(self.serializer, func, args, func_kwargs) for args in args_list
        ]
        if records:
            await self._store(records, task_options.queue_name, task_options.depends_on)
        return [record.id for record in records]

    def enqueue_many(
        self,
        func: Callable[..., Any],
        args_list: Iterable[Mapping[str, Any]],
        **options: Any,
    ) -> list[str]:
        """Sync twin of :meth:`enqueue_many_async`."""
        return portal().call(self.enqueue_many_async(func, args_list, **options))

    def _task_defaults(self) -> TaskDefaultsConfig:
        """Defaults of the configuration for options an enqueue or schedule call omits."""
        return self._config.task_defaults

    def _declare_queue(self, queue_name: str) -> None:
        """Serve an undeclared queue in this instance, after the declared ones."""
        if queue_name in self._queues:
            return
        self._queues = self._service_order([*self._queues, queue_name])
        _log.info(
            "queue %r was not declared: declared it in this instance (served after %s); "
            "workers of other processes serve it only if they declare it",
            queue_name,
            ", ".join(repr(name) for name in self._queues[:-1]),
        )

    async def _store(
        self, records: list[TaskRecord], queue_name: str, depends_on: Sequence[str] = ()
    ) -> None:
        await self.open_async()
        plan = await self._dependencies.plan(depends_on) if depends_on else None
        self._declare_queue(queue_name)
        now = time.time()
        events = [TaskEvent(task_id=r.id, type=EventType.ENQUEUED, timestamp=now) for r in records]
        if plan is not None:
            events = _planned(records, events, plan, now)
        if share_write_order(self.task_queue, self.event_store):
            # One atomic write: no worker can claim a task before its "enqueued" event exists.
            await self.task_queue.enqueue(records, events)
        else:
            await asyncio.gather(self.task_queue.enqueue(records), self.event_store.append(events))
        if plan is not None and plan.status is not TaskStatus.ENQUEUED:
            if plan.status is TaskStatus.WAITING:
                await self._dependencies.settle(plan.pending)
            else:
                for record in records:
                    self._channel.notify_result(record.id)
            return
        self._announce(records, now)

    def _new_task(
        self,
        func: Callable[..., Any],
        func_args: Mapping[str, Any] | None,
        func_kwargs: Mapping[str, Any] | None,
        queue_name: str,
        name: str | None,
        description: str | None,
        tags: Sequence[str] | None,
        priority: int,
        run_at: dt.datetime | None,
        run_in: dt.timedelta | float | None,
        ttl: dt.timedelta | float | None,
        result_ttl: dt.timedelta | float | None,
        depends_on: Sequence[str] | None,
        callback: Callable[..., Any] | None,
        callback_args: Mapping[str, Any] | None,
        max_retries: int,
        retry_delay: dt.timedelta | float | None,
        store_result: bool,
        timeout: dt.timedelta | float | None,
        extra: dict[str, Any],
    ) -> tuple[TaskOptions, TaskRecord]:
        """Validate ``enqueue``'s arguments and build the task's record (nothing stored)."""
        options = TaskOptions.build(
            queue_name=queue_name, name=name, description=description, tags=tags,
            priority=priority, run_at=run_at, run_in=run_in, ttl=ttl, result_ttl=result_ttl,
            max_retries=max_retries, retry_delay=retry_delay, store_result=store_result,
            extra=extra, defaults=self._config.task_defaults, timeout=timeout,
            depends_on=depends_on, callback=callback, callback_args=callback_args,
        )  # fmt: skip
        return options, options.record(self.serializer, func, func_args, func_kwargs)

    def _announce(self, records: list[TaskRecord], now: float) -> None:
        """Wake this process's idle workers for tasks just stored (or note when they are due)."""
        due = min(record.run_at for record in records)
        if due > now:
            self._channel.notify_tasks_at(due)
        else:
            self._channel.notify_tasks()

    def _find_blocking_enqueue(
        self,
    ) -> Callable[[list[TaskRecord], list[TaskEvent]], None] | None:
        """The backend's blocking enqueue, when a sync ``enqueue`` may use it directly.

        Only when the task and its ``enqueued`` event go in one atomic write (same store):
        otherwise :meth:`enqueue_async` does the work. Looked up once, at open.
        """
        queue = self.task_queue
        if not share_write_order(queue, self.event_store):
            return None
        return queue.enqueue_blocking if isinstance(queue, BlockingEnqueue) else None

    # -- results, tasks, events ---------------------------------------------------------

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

        A result produced by a worker of this process wakes the call at once; results from
        other processes are seen by polling every ``poll_interval`` seconds.

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
        _check_task_id(task_id)
        await self.open_async()
        loop = asyncio.get_running_loop()
        deadline = None if wait_limit is None else loop.time() + wait_limit
        while True:
            woken = self._channel.watch_result(task_id)
            try:
                outcome = await read_outcome(
                    task_id, self.task_queue, self.result_store, self.serializer
                )
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
        self._refuse_on_worker_loop("get_result")
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
        _check_task_id(task_id)
        await self.open_async()
        record = await self.task_queue.get(task_id)
        return None if record is None else task_from_record(record, self.serializer)

    def get_task(self, task_id: str) -> Task | None:
        """Sync twin of :meth:`get_task_async`."""
        return portal().call(self.get_task_async(task_id))

    async def get_events_async(self, task_id: str) -> list[TaskEvent]:
        """Return a task's lifecycle events, oldest first.

        Args:
            task_id: The id ``enqueue`` returned.

        Returns:
            The events (empty if the task is unknown).
        """
        _check_task_id(task_id)
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
        _check_task_id(task_id)
        await self.open_async()
        now = time.time()
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

    # -- workers --------------------------------------------------------------------------

    async def start_worker_async(
        self,
        worker_type: str | None = None,
        worker_config: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> None:
        """Start a worker in this process, on the running event loop.

        Args:
            worker_type: ``"thread_pool"``, ``"async"``, ``"process_pool"`` or ``"gevent"``
                (default: the instance's).
            worker_config: Worker options, e.g. ``{"max_workers": 4}``.
            **options: The same options as keywords, e.g. ``max_workers=4``; they win over
                ``worker_config``.

        Raises:
            WorkerError: A worker of this instance is already running.
            ConfigurationError: Unknown worker type or option.
        """
        if self.worker is not None and self.worker.is_running:
            raise WorkerError("a worker is already running; call stop_worker() first")
        if worker_config is not None and not isinstance(worker_config, Mapping):
            raise ConfigurationError(f"worker_config {worker_config!r} is not a mapping")
        settings = WorkerOptions.from_mapping(
            {**self.worker_config, **(worker_config or {}), **options}
        )
        executor = create_executor(worker_type or self.worker_type, settings.max_workers)
        await self.open_async()
        worker_id = new_worker_id()
        runner = TaskRunner(
            task_queue=self.task_queue,
            result_store=self.result_store,
            event_store=self.event_store,
            serializer=self.serializer,
            channel=self._channel,
            executor=executor,
            worker_id=worker_id,
            completions=CompletionBatcher(
                task_queue=self.task_queue,
                result_store=self.result_store,
                event_store=self.event_store,
                channel=self._channel,
                worker_id=worker_id,
            ),
        )
        self.worker = Worker(
            runner,
            lambda: self._queues,
            lease_duration=settings.lease_duration,
            poll_interval=settings.poll_interval,
            grace_period=settings.grace_period,
            prefetch_multiplier=settings.prefetch_multiplier,
        )
        await self.worker.start()

    def start_worker(
        self,
        worker_type: str | None = None,
        worker_config: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> None:
        """Sync twin of :meth:`start_worker_async`; the worker runs on OmniQ's loop thread."""
        portal().call(self.start_worker_async(worker_type, worker_config, **options))

    async def stop_worker_async(self, grace_period: float | None = None) -> None:
        """Stop the worker: stop claiming, wait for running tasks, release the rest.

        Args:
            grace_period: Seconds to wait for running tasks (default: the worker's,
                30 s unless configured). Tasks still running then are released, so another
                worker runs them again.
        """
        if grace_period is not None:  # before forgetting the worker, which must keep running
            check.check_seconds(grace_period, "grace_period")
        worker, self.worker = self.worker, None
        if worker is None:
            return
        if worker.loop is None or worker.loop is asyncio.get_running_loop():
            await worker.stop(grace_period)
        elif worker.loop.is_closed():
            # Its loop ended without stopping it (e.g. asyncio.run returned): its tasks were
            # cancelled with the loop, and their leases lapse so other workers re-run them.
            worker.runner.executor.shutdown()
        else:
            await asyncio.wrap_future(
                asyncio.run_coroutine_threadsafe(worker.stop(grace_period), worker.loop)
            )

    def stop_worker(self, grace_period: float | None = None) -> None:
        """Sync twin of :meth:`stop_worker_async`."""
        self._refuse_on_worker_loop("stop_worker")
        portal().call(self.stop_worker_async(grace_period))

    def _refuse_on_worker_loop(self, method: str) -> None:
        """Raise if called on the loop running this instance's worker (it would deadlock)."""
        worker = self.worker
        if worker is None or worker.loop is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            return
        if running is worker.loop:
            raise WorkerError(
                f"{method}() was called from the event loop that runs this instance's worker "
                f"(started with start_worker_async), where it would block the worker for "
                f"ever: await {method}_async() instead (or use 'async with')"
            )

    def __repr__(self) -> str:
        store = self.backend if self.backend is not None else self.task_queue
        return f"OmniQ(project_name={self.project_name!r}, backend={store!r})"


#: The error recorded on a task cancelled by :meth:`OmniQ.cancel`.
_CANCELLED_ERROR = TaskError(
    type="omniq.exceptions.TaskCancelledError", message="cancelled on request"
)

_ENQUEUE_DEFAULTS: dict[str, Any] = {
    "queue_name": DEFAULT_QUEUE, "name": None, "description": None, "tags": None,
    "priority": 0, "run_at": None, "run_in": None, "ttl": None, "result_ttl": None,
    "max_retries": DEFAULT_MAX_RETRIES, "retry_delay": None, "store_result": True, "timeout": None,
    "depends_on": None, "callback": None, "callback_args": None,
}  # fmt: skip


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


def _queue_list(queues: Sequence[str] | None) -> list[str]:
    if queues is None:
        return [DEFAULT_QUEUE]
    if isinstance(queues, str) or not isinstance(queues, Sequence):
        raise ConfigurationError(f"queues {queues!r} is not a list of queue names")
    names = [check.check_queue_name(name, "queue name") for name in queues]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ConfigurationError(f"queue {duplicates[0]!r} is listed more than once in queues")
    return names


def _check_task_id(task_id: object) -> None:
    if not isinstance(task_id, str) or not task_id:
        raise ConfigurationError(f"task_id {task_id!r} is not a non-empty string")
