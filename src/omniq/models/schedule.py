"""The public view of a schedule: a task enqueued again and again."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

import msgspec

__all__ = ["Schedule", "ScheduleStatus", "ScheduleType"]


class ScheduleType(StrEnum):
    """How a schedule's runs are timed."""

    INTERVAL = "interval"
    CRON = "cron"
    RUN_AT = "run_at"


class ScheduleStatus(StrEnum):
    """Whether a schedule still fires.

    ``ACTIVE`` schedules fire when due; ``PAUSED`` ones fire nothing until resumed;
    ``COMPLETED`` ones reached ``max_runs`` (or their single ``run_at``); ``CANCELLED`` ones
    were cancelled. The last two are final.
    """

    ACTIVE = "active"
    PAUSED = "paused"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class Schedule(msgspec.Struct, frozen=True, kw_only=True):
    """A schedule as :meth:`omniq.OmniQ.get_schedule` returns it.

    Attributes:
        id: The id ``schedule`` returned.
        func: Readable reference of the callable, ``"module:qualname"``.
        args: The ``func_args`` of every run.
        kwargs: The ``func_kwargs`` of every run.
        schedule_type: ``interval``, ``cron`` or ``run_at``.
        interval: Time between runs (interval schedules).
        cron_expression: The cron expression (cron schedules).
        timezone: IANA time zone the cron expression is read in.
        run_at: The single run time (run_at schedules).
        status: Whether it still fires.
        next_run_at: When it fires next (UTC), ``None`` once final.
        last_run_at: When it last fired (UTC), or ``None``.
        run_count: How many runs it has fired.
        max_runs: Most runs it fires, or ``None`` for no limit.
        queue_name: Queue its runs are enqueued to.
        priority: Priority of its runs.
        name: Optional name.
        description: Optional description.
        tags: Tags.
        created_at: When it was created (UTC).
    """

    id: str
    func: str
    args: dict[str, Any]
    kwargs: dict[str, Any]
    schedule_type: ScheduleType
    interval: dt.timedelta | None
    cron_expression: str | None
    timezone: str
    run_at: dt.datetime | None
    status: ScheduleStatus
    next_run_at: dt.datetime | None
    last_run_at: dt.datetime | None
    run_count: int
    max_runs: int | None
    queue_name: str
    priority: int
    name: str | None
    description: str | None
    tags: list[str]
    created_at: dt.datetime
