"""Turning ``enqueue`` arguments into a stored record, and a record into the public Task."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict

from omniq.core import validation as check
from omniq.exceptions import ConfigurationError
from omniq.models.config import TaskDefaultsConfig
from omniq.models.task import Task
from omniq.monitoring.tracing import producer
from omniq.serialization import Serializer
from omniq.storage.records import TaskRecord

__all__ = [
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_QUEUE",
    "ENQUEUE_OPTIONS",
    "ENQUEUE_OPTION_NAMES",
    "EnqueueExtras",
    "EnqueueOptions",
    "TaskOptions",
    "task_from_record",
]

#: Task defaults when the instance configures none.
_DEFAULTS = TaskDefaultsConfig()

#: The queue of tasks enqueued without ``queue_name``; every worker serves it.
DEFAULT_QUEUE = "default"


class _SpecDefault(int):
    """An int default that is recognisable by identity (``x is DEFAULT_MAX_RETRIES``)."""

    __slots__ = ()


#: ``schedule``'s default ``max_retries``: 3, as the spec's signature says, unless the instance
#: configures ``task_defaults.max_retries`` (a caller passing 3 explicitly gets 3). An
#: ``enqueue`` without ``max_retries`` takes the configured default the same way.
DEFAULT_MAX_RETRIES: int = _SpecDefault(3)


class EnqueueOptions(TypedDict, total=False):
    """The options of ``enqueue`` beyond the call itself (see :meth:`omniq.OmniQ.enqueue`).

    Every key is optional; a missing one takes its default, or the instance's configured
    ``task_defaults`` for ``ttl``, ``result_ttl``, ``max_retries``, ``retry_delay``,
    ``retry_backoff`` and ``retry_max_delay``.
    """

    queue_name: str
    name: str | None
    description: str | None
    tags: Sequence[str] | None
    priority: int
    run_at: dt.datetime | None
    run_in: dt.timedelta | float | None
    ttl: dt.timedelta | float | None
    result_ttl: dt.timedelta | float | None
    depends_on: Sequence[str] | None
    callback: Callable[..., Any] | None
    callback_args: Mapping[str, Any] | None
    max_retries: int
    retry_delay: dt.timedelta | float | None
    store_result: bool
    timeout: dt.timedelta | float | None
    retry_backoff: float
    retry_max_delay: dt.timedelta | float | None


#: Every option name of :class:`EnqueueOptions`, in declaration order.
ENQUEUE_OPTIONS: tuple[str, ...] = tuple(EnqueueOptions.__annotations__)

#: The same names as a set, for membership tests on every ``enqueue``.
ENQUEUE_OPTION_NAMES: frozenset[str] = frozenset(ENQUEUE_OPTIONS)


class EnqueueExtras(TypedDict, total=False):
    """``enqueue`` keyword arguments beyond the spec's named ones (its ``**kwargs``).

    Attributes:
        retry_backoff: Multiplier of the retry delay per retry (from 1 to 100; 1 = constant).
        retry_max_delay: Cap of the computed retry delay (``timedelta`` or seconds).
        connection: The application's own database connection, in a transaction: the
            task is stored in that transaction (it exists if and only if the transaction
            commits). PostgreSQL only: a psycopg 3 ``Connection`` for ``enqueue``, an
            ``AsyncConnection`` for ``enqueue_async``.
    """

    retry_backoff: float
    retry_max_delay: dt.timedelta | float | None
    connection: Any


@dataclass(frozen=True, slots=True)
class TaskOptions:
    """Validated per-task options shared by every task of one ``enqueue`` call."""

    queue_name: str
    name: str | None
    description: str | None
    tags: list[str]
    priority: int
    run_at: dt.datetime | None
    run_in: dt.timedelta | float | None
    ttl: float | None
    result_ttl: float | None
    max_retries: int
    retry_delay: float
    retry_backoff: float
    retry_max_delay: float | None
    store_result: bool
    timeout: float | None = None
    depends_on: tuple[str, ...] = ()
    callback: Callable[..., Any] | None = None
    callback_args: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        options: Mapping[str, Any],
        defaults: TaskDefaultsConfig | None = None,
        *,
        what: str = "enqueue",
    ) -> TaskOptions:
        """Validate every option, raising ConfigurationError naming the first bad one.

        Args:
            options: Any keys of :class:`EnqueueOptions`; missing ones take their default.
            defaults: The instance's configured task defaults (by default no ttl, 3
                retries), for ``ttl``, ``result_ttl``, ``max_retries``, ``retry_delay``,
                ``retry_backoff`` and ``retry_max_delay`` when missing or ``None``.
            what: The method named in the error of an unknown option.

        Raises:
            ConfigurationError: An unknown option or a bad value, named in the message.
        """
        unknown = [key for key in options if key not in ENQUEUE_OPTION_NAMES]
        if unknown:
            raise ConfigurationError(f"{what} got an unexpected keyword argument {unknown[0]!r}")
        defaults = _DEFAULTS if defaults is None else defaults

        def pick(key: str, default: Any) -> Any:
            value = options.get(key)
            return default if value is None else value

        priority = check.check_int(options.get("priority", 0), "priority")
        store_result = options.get("store_result", True)
        if not isinstance(store_result, bool):
            raise ConfigurationError(f"store_result {store_result!r} is not True or False")
        backoff = check.check_backoff(pick("retry_backoff", defaults.retry_backoff))
        run_at, run_in = options.get("run_at"), options.get("run_in")
        check.check_run_time(run_at, run_in, 0.0)  # type and exclusivity only
        callback, callback_args = options.get("callback"), options.get("callback_args")
        if callback is not None:
            check.check_callable(callback, "callback")
            arguments = check.check_kwargs_mapping(callback_args, "callback_args")
            check.check_call(callback, arguments, "callback", leading=1)
        elif callback_args is not None:
            raise ConfigurationError(
                f"callback_args {callback_args!r} was given without a callback"
            )
        max_retries = options.get("max_retries", DEFAULT_MAX_RETRIES)
        if max_retries is DEFAULT_MAX_RETRIES:
            max_retries = defaults.max_retries
        return cls(
            queue_name=check.check_queue_name(options.get("queue_name", DEFAULT_QUEUE)),
            name=check.check_optional_text(options.get("name"), "name"),
            description=check.check_optional_text(options.get("description"), "description"),
            tags=check.check_tags(options.get("tags")),
            priority=priority,
            run_at=run_at,
            run_in=run_in,
            ttl=check.check_seconds(pick("ttl", defaults.ttl), "ttl", allow_zero=False),
            result_ttl=check.check_seconds(
                pick("result_ttl", defaults.result_ttl), "result_ttl", allow_zero=False
            ),
            max_retries=check.check_non_negative_int(max_retries, "max_retries"),
            retry_delay=check.check_seconds(
                pick("retry_delay", defaults.retry_delay), "retry_delay"
            )
            or 0.0,
            retry_backoff=backoff,
            retry_max_delay=check.check_seconds(
                pick("retry_max_delay", defaults.retry_max_delay), "retry_max_delay"
            ),
            store_result=store_result,
            timeout=check.check_seconds(options.get("timeout"), "timeout", allow_zero=False),
            depends_on=_task_ids(options.get("depends_on")),
            callback=callback if callable(callback) else None,
            callback_args=check.check_kwargs_mapping(callback_args, "callback_args"),
        )

    @classmethod
    def cached(
        cls,
        options: Mapping[str, Any],
        defaults: TaskDefaultsConfig | None = None,
        *,
        what: str = "enqueue",
    ) -> TaskOptions:
        """:meth:`build`, remembered for options seen before (same values of the same types).

        Most programs enqueue with a few fixed sets of options: validating them again on
        every call cost about as much as serializing the call. Options holding a value
        that cannot be hashed (a list of tags, ``callback_args``) are validated each time.

        Args:
            options: As for :meth:`build`.
            defaults: As for :meth:`build` (compared by identity).
            what: As for :meth:`build`.

        Raises:
            ConfigurationError: As :meth:`build` (bad options are never remembered).
        """
        try:
            key = (what, id(defaults), *((k, type(v), v) for k, v in options.items()))
            entry = _BUILT.get(key)
        except TypeError:  # an unhashable value
            return cls.build(options, defaults, what=what)
        if entry is not None and entry[0] is defaults:
            return entry[1]
        built = cls.build(options, defaults, what=what)
        if len(_BUILT) >= _BUILT_LIMIT:
            _BUILT.clear()
        _BUILT[key] = (defaults, built)  # holding ``defaults`` keeps its id from reuse
        return built

    def record(
        self,
        serializer: Serializer,
        func: Callable[..., Any],
        func_args: object,
        func_kwargs: object,
        now: float,
    ) -> TaskRecord:
        """Serialize one call into a new record enqueued at ``now`` (store clock).

        Raises at once if it cannot be stored.
        """
        check.check_callable(func)
        args = check.check_kwargs_mapping(func_args, "func_args")
        kwargs = check.check_kwargs_mapping(func_kwargs, "func_kwargs")
        clash = sorted(set(args) & set(kwargs))
        if clash:
            raise ConfigurationError(
                f"argument {clash[0]!r} is in both func_args and func_kwargs: give it once"
            )
        span = producer()  # None unless OpenTelemetry traces this enqueue
        headers = None if span is None else span.headers
        func_name, payload = serializer.dump_call(func, args, kwargs, headers)
        check.check_call(func, {**args, **kwargs})
        run_at = check.check_run_time(self.run_at, self.run_in, now)
        record = TaskRecord(
            id=str(uuid.uuid4()),
            func_name=func_name,
            payload=payload,
            queue_name=self.queue_name,
            priority=self.priority,
            created_at=now,
            run_at=run_at,
            expires_at=None if self.ttl is None else max(now, run_at) + self.ttl,
            name=self.name,
            description=self.description,
            tags=list(self.tags),
            max_retries=self.max_retries,
            retry_delay=self.retry_delay,
            retry_backoff=self.retry_backoff,
            retry_max_delay=self.retry_max_delay,
            result_ttl=self.result_ttl,
            store_result=self.store_result,
            timeout=self.timeout,
            depends_on=list(self.depends_on),
            callback=self._callback_payload(serializer),
        )
        if span is not None:
            span.add(record)
        return record

    def _callback_payload(self, serializer: Serializer) -> bytes | None:
        """The stored callback call: ``callback(result, **callback_args)`` (see ``enqueue``)."""
        if self.callback is None:
            return None
        return serializer.dump_call(self.callback, self.callback_args, {})[1]


#: :meth:`TaskOptions.cached`'s memory: key -> (defaults, options); cleared when full.
_BUILT: dict[tuple[Any, ...], tuple[TaskDefaultsConfig | None, TaskOptions]] = {}
_BUILT_LIMIT = 256


def _task_ids(depends_on: object) -> tuple[str, ...]:
    """Validate ``depends_on``: task ids, without repeats (``None`` gives none)."""
    if depends_on is None:
        return ()
    if isinstance(depends_on, str | bytes) or not isinstance(depends_on, Iterable):
        raise ConfigurationError(
            f"depends_on {depends_on!r} is not valid: expected a list of task ids"
        )
    ids = list(depends_on)
    for task_id in ids:
        if not isinstance(task_id, str) or not task_id:
            raise ConfigurationError(f"depends_on item {task_id!r} is not a task id (a string)")
    return tuple(dict.fromkeys(ids))


def _datetime(timestamp: float | None) -> dt.datetime | None:
    return None if timestamp is None else dt.datetime.fromtimestamp(timestamp, dt.UTC)


def task_from_record(record: TaskRecord, serializer: Serializer) -> Task:
    """The public view of a stored task (arguments decoded, times as UTC datetimes)."""
    args, kwargs = serializer.load_call_arguments(record.payload)
    return Task(
        id=record.id,
        func=record.func_name,
        args=args,
        kwargs=kwargs,
        queue_name=record.queue_name,
        priority=record.priority,
        status=record.status,
        name=record.name,
        description=record.description,
        tags=list(record.tags),
        created_at=dt.datetime.fromtimestamp(record.created_at, dt.UTC),
        run_at=dt.datetime.fromtimestamp(record.run_at, dt.UTC),
        expires_at=_datetime(record.expires_at),
        started_at=_datetime(record.started_at),
        finished_at=_datetime(record.finished_at),
        retry_count=record.retry_count,
        max_retries=record.max_retries,
        worker_id=record.worker_id,
        error=record.error,
        depends_on=list(record.depends_on),
        timeout=record.timeout,
        cancel_requested=record.cancel_requested,
        attempts=record.attempts,
    )
