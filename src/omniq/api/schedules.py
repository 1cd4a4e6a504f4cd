"""The schedule methods of :class:`omniq.OmniQ` (a mixin, to keep the facade readable)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from omniq.api.lifecycle import Lifecycle
from omniq.core import validation as check
from omniq.core.portal import portal
from omniq.core.schedules import (
    check_cron,
    check_interval,
    check_timezone,
    decode_spec,
    encode_spec,
    first_run,
    infer_schedule_type,
    new_schedule_id,
    next_run_after,
    spec_from_options,
    view,
)
from omniq.core.task_builder import DEFAULT_MAX_RETRIES, TaskOptions
from omniq.exceptions import ConfigurationError, ScheduleNotFoundError
from omniq.models.schedule import Schedule, ScheduleStatus, ScheduleType
from omniq.storage.records import ScheduleRecord

__all__ = ["ScheduleMethods"]

#: Extra ``schedule`` keyword arguments beyond the spec's named ones.
_SCHEDULE_EXTRAS = ("timezone", "retry_backoff", "retry_max_delay")


class ScheduleMethods(Lifecycle):
    """Create, inspect and steer schedules; fetch the results of their runs."""

    async def schedule_async(
        self,
        func: Callable[..., Any],
        func_args: Mapping[str, Any] | None = None,
        func_kwargs: Mapping[str, Any] | None = None,
        queue_name: str = "default",
        name: str | None = None,
        description: str | None = None,
        tags: Sequence[str] | None = None,
        priority: int = 0,
        schedule_type: str | None = None,
        cron_expression: str | None = None,
        interval: dt.timedelta | float | None = None,
        run_at: dt.datetime | None = None,
        max_runs: int | None = None,
        ttl: dt.timedelta | float | None = None,
        result_ttl: dt.timedelta | float | None = None,
        depends_on: Sequence[str] | None = None,
        callback: Callable[..., Any] | None = None,
        callback_args: Mapping[str, Any] | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        retry_delay: dt.timedelta | float | None = None,
        store_result: bool = True,
        **kwargs: Any,
    ) -> str:
        """Schedule ``func(**func_args, **func_kwargs)`` to run repeatedly; return the schedule id.

        Any worker on the same store fires the runs (each due run exactly once, however many
        workers there are). Each run is an ordinary task with the options given here.

        Args:
            func: The function to run (stored like ``enqueue`` stores it).
            func_args: Keyword arguments of every run.
            func_kwargs: More keyword arguments of every run.
            queue_name: Queue of the runs.
            name: Name of the schedule and of its runs.
            description: Description.
            tags: Tags of the runs.
            priority: Priority of the runs.
            schedule_type: ``"interval"``, ``"cron"`` or ``"run_at"``; inferred from which of
                ``interval``, ``cron_expression`` and ``run_at`` is given when omitted.
            cron_expression: Five-field cron expression, read in ``timezone`` (default UTC).
            interval: Time between runs (``timedelta`` or seconds, at least 0.1 s). The
                first run is one interval from now, or at ``run_at`` when that is given too.
            run_at: The single run of a ``run_at`` schedule, or the first run of an interval
                schedule.
            max_runs: Stop (status ``completed``) after this many runs.
            ttl: ``ttl`` of each run.
            result_ttl: ``result_ttl`` of each run.
            depends_on: Not available for schedules; must be ``None``.
            callback: Not available for schedules yet; must be ``None``.
            callback_args: Not available for schedules yet; must be ``None``.
            max_retries: Retries of each run.
            retry_delay: Retry delay of each run.
            store_result: Whether runs store their results.
            **kwargs: ``timezone`` (IANA name for cron, default ``"UTC"``), ``retry_backoff``,
                ``retry_max_delay``.

        Returns:
            The schedule id.

        Raises:
            ConfigurationError: A bad or contradictory argument, e.g. an invalid cron
                expression or one that matches no date (quoted in the message), an interval
                under 0.1 s, or arguments that do not fit ``func``'s signature.
            SerializationError: ``func`` or an argument cannot be stored.
        """
        for option, value in (("depends_on", depends_on), ("callback", callback),
                              ("callback_args", callback_args)):  # fmt: skip
            if value is not None:
                raise ConfigurationError(f"{option}={value!r} is not available for schedules")
        unknown = sorted(set(kwargs) - set(_SCHEDULE_EXTRAS))
        if unknown:
            raise ConfigurationError(f"schedule got an unexpected keyword argument {unknown[0]!r}")
        kind = infer_schedule_type(schedule_type, interval, cron_expression, run_at)
        every = None
        if kind is ScheduleType.INTERVAL:
            every = check_interval(interval)
        timezone = check_timezone(kwargs.get("timezone", "UTC"))
        cron = check_cron(cron_expression, timezone) if kind is ScheduleType.CRON else None
        start = None if run_at is None else check.check_time(run_at, "run_at")
        if max_runs is not None:
            check.check_int(max_runs, "max_runs", minimum=1)
        options = TaskOptions.build(
            {
                "queue_name": queue_name, "name": name, "description": description,
                "tags": tags, "priority": priority, "ttl": ttl, "result_ttl": result_ttl,
                "max_retries": max_retries, "retry_delay": retry_delay,
                "store_result": store_result,
                **{key: kwargs[key] for key in ("retry_backoff", "retry_max_delay")
                   if key in kwargs},
            },
            self._task_defaults(),
            what="schedule",
        )  # fmt: skip
        check.check_callable(func)
        args = check.check_kwargs_mapping(func_args, "func_args")
        more = check.check_kwargs_mapping(func_kwargs, "func_kwargs")
        clash = sorted(set(args) & set(more))
        if clash:
            raise ConfigurationError(
                f"argument {clash[0]!r} is in both func_args and func_kwargs: give it once"
            )
        func_name, payload = self.serializer.dump_call(func, args, more)
        check.check_call(func, {**args, **more})
        spec = spec_from_options(
            kind, options, interval=every, cron_expression=cron, timezone=timezone,
            run_at=start,
        )  # fmt: skip
        await self.open_async()
        now = self.store.clock.now()
        first = first_run(spec, now)
        record = ScheduleRecord(
            id=new_schedule_id(), func_name=func_name, payload=payload, spec=encode_spec(spec),
            next_run_at=first, max_runs=max_runs, created_at=now,
        )  # fmt: skip
        self._declare_queue(options.queue_name)
        await self.task_queue.add_schedule(record)
        self._channel.notify_schedules_at(first)
        return record.id

    def schedule(
        self,
        func: Callable[..., Any],
        func_args: Mapping[str, Any] | None = None,
        func_kwargs: Mapping[str, Any] | None = None,
        queue_name: str = "default",
        name: str | None = None,
        description: str | None = None,
        tags: Sequence[str] | None = None,
        priority: int = 0,
        schedule_type: str | None = None,
        cron_expression: str | None = None,
        interval: dt.timedelta | float | None = None,
        run_at: dt.datetime | None = None,
        max_runs: int | None = None,
        ttl: dt.timedelta | float | None = None,
        result_ttl: dt.timedelta | float | None = None,
        depends_on: Sequence[str] | None = None,
        callback: Callable[..., Any] | None = None,
        callback_args: Mapping[str, Any] | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        retry_delay: dt.timedelta | float | None = None,
        store_result: bool = True,
        **kwargs: Any,
    ) -> str:
        """Sync twin of :meth:`schedule_async`."""
        return portal().call(
            self.schedule_async(
                func,
                func_args,
                func_kwargs,
                queue_name,
                name,
                description,
                tags,
                priority,
                schedule_type,
                cron_expression,
                interval,
                run_at,
                max_runs,
                ttl,
                result_ttl,
                depends_on,
                callback,
                callback_args,
                max_retries,
                retry_delay,
                store_result,
                **kwargs,
            )
        )

    async def get_schedule_async(self, schedule_id: str) -> Schedule | None:
        """Return the schedule with this id, or ``None``.

        Args:
            schedule_id: The id ``schedule`` returned.

        Returns:
            The schedule (status, next run, run count...), or ``None``.
        """
        check.check_id(schedule_id, "schedule_id")
        await self.open_async()
        record = await self.task_queue.get_schedule(schedule_id)
        return None if record is None else view(record, self.serializer)

    def get_schedule(self, schedule_id: str) -> Schedule | None:
        """Sync twin of :meth:`get_schedule_async`."""
        return portal().call(self.get_schedule_async(schedule_id))

    async def list_schedules_async(self) -> list[Schedule]:
        """Return every schedule of the store, oldest first."""
        await self.open_async()
        return [view(r, self.serializer) for r in await self.task_queue.list_schedules()]

    def list_schedules(self) -> list[Schedule]:
        """Sync twin of :meth:`list_schedules_async`."""
        return portal().call(self.list_schedules_async())

    async def pause_schedule_async(self, schedule_id: str) -> bool:
        """Stop an active schedule from firing until it is resumed.

        Args:
            schedule_id: The schedule.

        Returns:
            Whether it was active (and is now paused).

        Raises:
            ScheduleNotFoundError: No schedule has this id.
        """
        return await self._set_status(
            schedule_id, ScheduleStatus.PAUSED, (ScheduleStatus.ACTIVE,), keep_next=True
        )

    def pause_schedule(self, schedule_id: str) -> bool:
        """Sync twin of :meth:`pause_schedule_async`."""
        return portal().call(self.pause_schedule_async(schedule_id))

    async def resume_schedule_async(self, schedule_id: str) -> bool:
        """Let a paused schedule fire again, from its next due time after now.

        Runs missed while paused are not replayed.

        Args:
            schedule_id: The schedule.

        Returns:
            Whether it was paused (and is now active).

        Raises:
            ScheduleNotFoundError: No schedule has this id.
        """
        return await self._set_status(
            schedule_id, ScheduleStatus.ACTIVE, (ScheduleStatus.PAUSED,), keep_next=False
        )

    def resume_schedule(self, schedule_id: str) -> bool:
        """Sync twin of :meth:`resume_schedule_async`."""
        return portal().call(self.resume_schedule_async(schedule_id))

    async def cancel_schedule_async(self, schedule_id: str) -> bool:
        """Cancel a schedule for good (runs already enqueued are not affected).

        Args:
            schedule_id: The schedule.

        Returns:
            Whether it was active or paused (and is now cancelled).

        Raises:
            ScheduleNotFoundError: No schedule has this id.
        """
        return await self._set_status(
            schedule_id,
            ScheduleStatus.CANCELLED,
            (ScheduleStatus.ACTIVE, ScheduleStatus.PAUSED),
            keep_next=False,
        )

    def cancel_schedule(self, schedule_id: str) -> bool:
        """Sync twin of :meth:`cancel_schedule_async`."""
        return portal().call(self.cancel_schedule_async(schedule_id))

    async def _set_status(
        self,
        schedule_id: str,
        status: ScheduleStatus,
        from_statuses: tuple[ScheduleStatus, ...],
        *,
        keep_next: bool,
    ) -> bool:
        check.check_id(schedule_id, "schedule_id")
        await self.open_async()
        record = await self.task_queue.get_schedule(schedule_id)
        if record is None:
            raise ScheduleNotFoundError(schedule_id)
        next_run_at: float | None = None
        if keep_next:
            next_run_at = record.next_run_at
        elif status is ScheduleStatus.ACTIVE:
            spec = decode_spec(record.spec)
            now = self.store.clock.now()
            due = record.next_run_at
            if due is not None and due > now:
                next_run_at = due
            else:
                next_run_at = next_run_after(spec, now, previous=due)
                if next_run_at is None:  # a run_at schedule whose time passed while paused
                    next_run_at = now
        changed = await self.task_queue.set_schedule_status(
            schedule_id, status, from_statuses, next_run_at
        )
        if changed and next_run_at is not None and status is ScheduleStatus.ACTIVE:
            self._channel.notify_schedules_at(next_run_at)
        return changed
