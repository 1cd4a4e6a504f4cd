"""Turning ``enqueue`` arguments into a stored record, and a record into the public Task."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from omniq.core import validation as check
from omniq.exceptions import ConfigurationError
from omniq.models.config import TaskDefaultsConfig
from omniq.models.task import Task
from omniq.serialization import Serializer
from omniq.storage.records import TaskRecord

__all__ = ["DEFAULT_MAX_RETRIES", "TaskOptions", "task_from_record"]

#: ``enqueue`` keyword arguments beyond the spec's named ones.
EXTRA_OPTIONS = ("retry_backoff", "retry_max_delay")
#: Task defaults when the instance configures none.
_DEFAULTS = TaskDefaultsConfig()


class _SpecDefault(int):
    """An int default that is recognisable by identity (``x is DEFAULT_MAX_RETRIES``)."""

    __slots__ = ()


#: ``enqueue``'s default ``max_retries``: 3, as the spec's signature says, unless the instance
#: configures ``task_defaults.max_retries`` (a caller passing 3 explicitly gets 3).
DEFAULT_MAX_RETRIES: int = _SpecDefault(3)


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
        *,
        queue_name: object,
        name: object,
        description: object,
        tags: object,
        priority: object,
        run_at: Any,
        run_in: Any,
        ttl: object,
        result_ttl: object,
        max_retries: object,
        retry_delay: object,
        store_result: object,
        extra: Mapping[str, Any],
        defaults: TaskDefaultsConfig | None = None,
        timeout: object = None,
        depends_on: object = None,
        callback: object = None,
        callback_args: object = None,
    ) -> TaskOptions:
        """Validate every option, raising ConfigurationError naming the first bad one.

        ``ttl``, ``result_ttl`` and ``retry_delay`` given as ``None``, ``max_retries`` given
        as :data:`DEFAULT_MAX_RETRIES`, and ``retry_backoff`` / ``retry_max_delay`` absent
        from ``extra`` take the value of ``defaults`` (the instance's configured task
        defaults; by default no ttl, 3 retries).
        """
        defaults = _DEFAULTS if defaults is None else defaults
        ttl = defaults.ttl if ttl is None else ttl
        result_ttl = defaults.result_ttl if result_ttl is None else result_ttl
        if max_retries is DEFAULT_MAX_RETRIES:
            max_retries = defaults.max_retries
        retry_delay = defaults.retry_delay if retry_delay is None else retry_delay
        unknown = sorted(set(extra) - set(EXTRA_OPTIONS))
        if unknown:
            raise ConfigurationError(f"enqueue got an unexpected keyword argument {unknown[0]!r}")
        if isinstance(priority, bool) or not isinstance(priority, int):
            raise ConfigurationError(f"priority {priority!r} is not an integer")
        if not isinstance(store_result, bool):
            raise ConfigurationError(f"store_result {store_result!r} is not True or False")
        backoff = extra.get("retry_backoff", defaults.retry_backoff)
        if isinstance(backoff, bool) or not isinstance(backoff, int | float) or backoff < 1:
            raise ConfigurationError(
                f"retry_backoff {backoff!r} is not valid: expected a number >= 1 "
                "(1 = constant delay, 2 = doubling)"
            )
        check.check_run_time(run_at, run_in, 0.0)  # type and exclusivity only
        if callback is not None:
            check.check_callable(callback, "callback")
        elif callback_args is not None:
            raise ConfigurationError(
                f"callback_args {callback_args!r} was given without a callback"
            )
        return cls(
            queue_name=check.check_queue_name(queue_name),
            name=check.check_optional_text(name, "name"),
            description=check.check_optional_text(description, "description"),
            tags=check.check_tags(tags),
            priority=priority,
            run_at=run_at,
            run_in=run_in,
            ttl=check.check_seconds(ttl, "ttl", allow_zero=False),
            result_ttl=check.check_seconds(result_ttl, "result_ttl", allow_zero=False),
            max_retries=check.check_non_negative_int(max_retries, "max_retries"),
            retry_delay=check.check_seconds(retry_delay, "retry_delay") or 0.0,
            retry_backoff=float(backoff),
            retry_max_delay=check.check_seconds(
                extra.get("retry_max_delay", defaults.retry_max_delay), "retry_max_delay"
            ),
            store_result=store_result,
            timeout=check.check_seconds(timeout, "timeout", allow_zero=False),
            depends_on=_task_ids(depends_on),
            callback=callback if callable(callback) else None,
            callback_args=check.check_kwargs_mapping(callback_args, "callback_args"),
        )

    def record(
        self,
        serializer: Serializer,
        func: Callable[..., Any],
        func_args: object,
        func_kwargs: object,
    ) -> TaskRecord:
        """Serialize one call into a new record (raises at once if it cannot be stored)."""
        check.check_callable(func)
        args = check.check_kwargs_mapping(func_args, "func_args")
        kwargs = check.check_kwargs_mapping(func_kwargs, "func_kwargs")
        clash = sorted(set(args) & set(kwargs))
        if clash:
            raise ConfigurationError(
                f"argument {clash[0]!r} is in both func_args and func_kwargs: give it once"
            )
        func_name, payload = serializer.dump_call(func, args, kwargs)
        now = time.time()
        run_at = check.check_run_time(self.run_at, self.run_in, now)
        return TaskRecord(
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

    def _callback_payload(self, serializer: Serializer) -> bytes | None:
        """The stored callback call: ``callback(result, **callback_args)`` (see ``enqueue``)."""
        if self.callback is None:
            return None
        return serializer.dump_call(self.callback, self.callback_args, {})[1]


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
    )
