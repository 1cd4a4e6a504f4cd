"""Schedule policy: validating a definition, computing the next run, building each run.

A schedule fires at most once per due time, however many workers watch it: the worker that
fires a run advances ``next_run_at`` atomically with enqueuing the run (see
:meth:`omniq.storage.TaskQueue.fire_schedule`). After downtime a schedule fires **once** for
all the runs it missed, then continues from the next time after now (no burst of catch-up
runs). A paused schedule fires nothing; resuming continues from the next time after now.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
from croniter import CroniterError, croniter

from omniq.core import validation as check
from omniq.core.task_builder import TaskOptions
from omniq.core.validation import MIN_INTERVAL
from omniq.exceptions import ConfigurationError
from omniq.models.schedule import Schedule, ScheduleStatus, ScheduleType
from omniq.serialization import Serializer
from omniq.storage.records import ScheduleRecord, TaskRecord

__all__ = [
    "ScheduleSpec",
    "check_cron",
    "check_interval",
    "infer_schedule_type",
    "next_run_after",
    "run_id",
    "run_record",
    "view",
]

#: Namespace of the run ids (UUID 5 of the schedule id and the due time).
_RUN_NAMESPACE = uuid.UUID("5f3c8f0e-4d0a-4c52-9a8e-2f1d6b7c9e10")


class ScheduleSpec(msgspec.Struct, frozen=True, kw_only=True):
    """A schedule's definition, stored (encoded) in :attr:`ScheduleRecord.spec`.

    Attributes:
        schedule_type: ``interval``, ``cron`` or ``run_at``.
        interval: Seconds between runs (interval).
        cron_expression: Cron expression (cron).
        timezone: IANA zone the cron expression is read in.
        run_at: Epoch time of the single run (run_at).
        queue_name: Queue of the runs.
        priority: Priority of the runs.
        name: Name of the schedule (and of its runs).
        description: Description.
        tags: Tags of the runs.
        ttl: ``ttl`` of each run, seconds.
        result_ttl: ``result_ttl`` of each run, seconds.
        max_retries: Retries of each run.
        retry_delay: Retry delay of each run, seconds.
        retry_backoff: Retry backoff multiplier of each run.
        retry_max_delay: Cap of the retry delay, seconds.
        store_result: Whether runs store their result.
    """

    schedule_type: ScheduleType
    interval: float | None = None
    cron_expression: str | None = None
    timezone: str = "UTC"
    run_at: float | None = None
    queue_name: str = "default"
    priority: int = 0
    name: str | None = None
    description: str | None = None
    tags: list[str] = msgspec.field(default_factory=list)
    ttl: float | None = None
    result_ttl: float | None = None
    max_retries: int = 3
    retry_delay: float = 0.0
    retry_backoff: float = 1.0
    retry_max_delay: float | None = None
    store_result: bool = True


_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(ScheduleSpec).decode


def encode_spec(spec: ScheduleSpec) -> bytes:
    """The bytes stored for a definition."""
    return _encode(spec)


def decode_spec(data: bytes) -> ScheduleSpec:
    """The definition stored in :attr:`ScheduleRecord.spec`."""
    return _decode(data)


def infer_schedule_type(
    schedule_type: str | None,
    interval: object,
    cron_expression: object,
    run_at: object,
) -> ScheduleType:
    """Decide the type from which timing argument is given; contradictions are errors.

    Args:
        schedule_type: What the caller asked for, or ``None`` to infer it.
        interval: The ``interval`` argument.
        cron_expression: The ``cron_expression`` argument.
        run_at: The ``run_at`` argument.

    Raises:
        ConfigurationError: None or several of them are given, or they contradict
            ``schedule_type``.
    """
    given = {
        ScheduleType.INTERVAL: interval is not None,
        ScheduleType.CRON: cron_expression is not None,
        # With an interval, run_at is the time of the first run, not a type of its own.
        ScheduleType.RUN_AT: run_at is not None and interval is None,
    }
    present = [kind for kind, here in given.items() if here]
    if len(present) > 1:
        names = ", ".join(kind.value if kind is not ScheduleType.CRON else "cron_expression"
                          for kind in present)  # fmt: skip
        raise ConfigurationError(f"{names} were all given: a schedule takes exactly one of them")
    if not present:
        raise ConfigurationError(
            "a schedule needs one of interval=, cron_expression= or run_at=; none was given"
        )
    inferred = present[0]
    if schedule_type is not None and schedule_type != inferred.value:
        allowed = ", ".join(repr(kind.value) for kind in ScheduleType)
        if schedule_type not in {kind.value for kind in ScheduleType}:
            raise ConfigurationError(f"schedule_type {schedule_type!r} is not one of {allowed}")
        argument = "cron_expression" if inferred is ScheduleType.CRON else inferred.value
        raise ConfigurationError(
            f"schedule_type {schedule_type!r} contradicts the {argument}= that was given "
            f"(which makes it {inferred.value!r})"
        )
    return inferred


def check_timezone(timezone: object) -> str:
    """Return ``timezone`` if it is a known IANA zone name."""
    if not isinstance(timezone, str):
        raise ConfigurationError(f"timezone {timezone!r} is not an IANA zone name")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigurationError(
            f"timezone {timezone!r} is not a known IANA zone name (e.g. 'UTC', 'Europe/Paris')"
        ) from None
    return timezone


def check_interval(interval: object) -> float:
    """Return an interval schedule's interval in seconds, at least :data:`MIN_INTERVAL`."""
    seconds = check.check_seconds(interval, "interval", allow_zero=False, allow_none=False)
    if seconds is None or seconds < MIN_INTERVAL:
        raise ConfigurationError(
            f"interval {interval!r} is too short: expected at least {MIN_INTERVAL:g} s"
        )
    return seconds


def check_cron(expression: object, timezone: str = "UTC") -> str:
    """Return ``expression`` if croniter accepts it and it ever fires; the error quotes it.

    An expression that names no real date (e.g. ``'0 0 31 2 *'``, February 31st) is refused.
    """
    if not isinstance(expression, str) or not croniter.is_valid(expression):
        raise ConfigurationError(
            f"cron_expression {expression!r} is not a valid cron expression "
            "(five fields: minute hour day-of-month month day-of-week, e.g. '0 9 * * *')"
        )
    start = dt.datetime.now(ZoneInfo(timezone))
    try:
        croniter(expression, start).get_next(dt.datetime)
    except CroniterError:
        raise ConfigurationError(
            f"cron_expression {expression!r} never fires: no date matches it "
            "(e.g. day 31 of a month that has 30 days or fewer)"
        ) from None
    return expression


def next_run_after(spec: ScheduleSpec, after: float, previous: float | None) -> float | None:
    """The first due time strictly after ``after``.

    Args:
        spec: The definition.
        after: Usually now: missed runs before it are skipped.
        previous: The due time just fired (keeps interval runs on their grid), or ``None``.

    Returns:
        An epoch time, or ``None`` when a ``run_at`` schedule has no further run. A cron
        time that daylight saving skips fires at the next valid instant; one it repeats
        fires once, at its first occurrence.
    """
    if spec.schedule_type is ScheduleType.RUN_AT:
        return None
    if spec.schedule_type is ScheduleType.INTERVAL:
        interval = spec.interval or 1.0
        if previous is None:
            return after + interval
        steps = max(1, math.floor((after - previous) / interval) + 1)
        return previous + steps * interval
    zone = ZoneInfo(spec.timezone)
    runs = croniter(spec.cron_expression or "", dt.datetime.fromtimestamp(after, zone))
    while True:
        following: dt.datetime = runs.get_next(dt.datetime)
        # Daylight saving: a wall time that does not exist (spring forward) fires at the
        # next valid instant (croniter's answer); one that occurs twice (fall back) fires
        # at its first occurrence only.
        if not _second_occurrence(following, zone):
            return following.timestamp()


def _second_occurrence(moment: dt.datetime, zone: ZoneInfo) -> bool:
    """Whether ``moment`` is the repeat of a wall time that ``zone`` shows twice."""
    wall = moment.astimezone(zone).replace(tzinfo=None)
    first = wall.replace(tzinfo=zone, fold=0).timestamp()
    second = wall.replace(tzinfo=zone, fold=1).timestamp()
    return first < second and moment.timestamp() == second


def first_run(spec: ScheduleSpec, now: float) -> float:
    """When a new schedule fires first.

    ``run_at`` when given (for an interval schedule: the start of its grid), else one
    interval from now, or the next cron time after now.
    """
    if spec.run_at is not None:
        return spec.run_at
    following = next_run_after(spec, now, None)
    if following is None:  # pragma: no cover - only run_at schedules have no next run
        raise ConfigurationError("a run_at schedule needs run_at")
    return following


def new_schedule_id() -> str:
    """A fresh schedule id."""
    return str(uuid.uuid4())


def run_id(schedule_id: str, due: float) -> str:
    """The task id of the run of ``schedule_id`` due at ``due``: the same in every process.

    Every worker that fires the same run builds the same task, so a store can make firing
    exactly once by creating the run only if absent (see
    :meth:`omniq.storage.TaskQueue.fire_schedule`). ``due`` enters as ``float.hex``: exact.
    """
    return str(uuid.uuid5(_RUN_NAMESPACE, f"{schedule_id}@{due.hex()}"))


def run_record(schedule: ScheduleRecord, spec: ScheduleSpec, now: float, due: float) -> TaskRecord:
    """The task of the run of ``schedule`` due at ``due``, enqueued at ``now`` when it fires."""
    return TaskRecord(
        id=run_id(schedule.id, due),
        func_name=schedule.func_name,
        payload=schedule.payload,
        queue_name=spec.queue_name,
        priority=spec.priority,
        created_at=now,
        run_at=now,
        expires_at=None if spec.ttl is None else now + spec.ttl,
        name=spec.name,
        description=spec.description,
        tags=list(spec.tags),
        max_retries=spec.max_retries,
        retry_delay=spec.retry_delay,
        retry_backoff=spec.retry_backoff,
        retry_max_delay=spec.retry_max_delay,
        result_ttl=spec.result_ttl,
        store_result=spec.store_result,
        schedule_id=schedule.id,
    )


def spec_from_options(
    schedule_type: ScheduleType,
    options: TaskOptions,
    *,
    interval: float | None,
    cron_expression: str | None,
    timezone: str,
    run_at: float | None,
) -> ScheduleSpec:
    """Combine the timing and the (already validated) task options into a definition."""
    return ScheduleSpec(
        schedule_type=schedule_type, interval=interval, cron_expression=cron_expression,
        timezone=timezone, run_at=run_at, queue_name=options.queue_name,
        priority=options.priority, name=options.name, description=options.description,
        tags=list(options.tags), ttl=options.ttl, result_ttl=options.result_ttl,
        max_retries=options.max_retries, retry_delay=options.retry_delay,
        retry_backoff=options.retry_backoff, retry_max_delay=options.retry_max_delay,
        store_result=options.store_result,
    )  # fmt: skip


def _utc(timestamp: float | None) -> dt.datetime | None:
    return None if timestamp is None else dt.datetime.fromtimestamp(timestamp, dt.UTC)


def view(record: ScheduleRecord, serializer: Serializer) -> Schedule:
    """The public view of a stored schedule."""
    spec = decode_spec(record.spec)
    args, kwargs = serializer.load_call_arguments(record.payload)
    return Schedule(
        id=record.id,
        func=record.func_name,
        args=args,
        kwargs=kwargs,
        schedule_type=spec.schedule_type,
        interval=None if spec.interval is None else dt.timedelta(seconds=spec.interval),
        cron_expression=spec.cron_expression,
        timezone=spec.timezone,
        run_at=_utc(spec.run_at),
        status=record.status,
        next_run_at=_utc(record.next_run_at),
        last_run_at=_utc(record.last_run_at),
        run_count=record.run_count,
        max_runs=record.max_runs,
        queue_name=spec.queue_name,
        priority=spec.priority,
        name=spec.name,
        description=spec.description,
        tags=list(spec.tags),
        created_at=dt.datetime.fromtimestamp(record.created_at, dt.UTC),
    )


def status_after_firing(record: ScheduleRecord, next_run_at: float | None) -> ScheduleStatus:
    """``completed`` if this run is the last one (max_runs reached, or no next time)."""
    if next_run_at is None:
        return ScheduleStatus.COMPLETED
    if record.max_runs is not None and record.run_count + 1 >= record.max_runs:
        return ScheduleStatus.COMPLETED
    return ScheduleStatus.ACTIVE
