"""Cron schedules across daylight-saving changes: each run fires once, a skipped wall time
fires at the next valid instant, a repeated one at its first occurrence only."""

from __future__ import annotations

import datetime as dt

import pytest

from omniq.core.schedules import ScheduleSpec, next_run_after
from omniq.models.schedule import ScheduleType

UTC = dt.UTC


def runs(expression: str, zone: str, start: dt.datetime, count: int) -> list[str]:
    """The next ``count`` due times from ``start``, each computed after the previous one."""
    spec = ScheduleSpec(schedule_type=ScheduleType.CRON, cron_expression=expression, timezone=zone)
    after, previous, found = start.timestamp(), None, []
    for _ in range(count):
        due = next_run_after(spec, after, previous)
        assert due is not None
        found.append(dt.datetime.fromtimestamp(due, UTC).strftime("%m-%d %H:%M"))
        after = previous = due
    return found


@pytest.mark.parametrize(
    ("zone", "start", "expected"),
    [
        # Berlin, 2026-03-29: 02:00 CET -> 03:00 CEST; 02:30 does not exist that day.
        ("Europe/Berlin", dt.datetime(2026, 3, 27, 12, tzinfo=UTC),
         ["03-28 01:30", "03-29 01:00", "03-30 00:30"]),
        # New York, 2026-03-08: 02:00 EST -> 03:00 EDT.
        ("America/New_York", dt.datetime(2026, 3, 6, 12, tzinfo=UTC),
         ["03-07 07:30", "03-08 07:00", "03-09 06:30"]),
    ],
)  # fmt: skip
def test_a_skipped_wall_time_fires_once_at_the_next_valid_instant(
    zone: str, start: dt.datetime, expected: list[str]
) -> None:
    assert runs("30 2 * * *", zone, start, 3) == expected


@pytest.mark.parametrize(
    ("zone", "start", "expected"),
    [
        # Berlin, 2026-10-25: 03:00 CEST -> 02:00 CET; 02:30 happens twice, fires once.
        ("Europe/Berlin", dt.datetime(2026, 10, 23, 12, tzinfo=UTC),
         ["10-24 00:30", "10-25 00:30", "10-26 01:30"]),
        # New York, 2026-11-01: 02:00 EDT -> 01:00 EST; 01:30 happens twice.
        ("America/New_York", dt.datetime(2026, 10, 30, 12, tzinfo=UTC),
         ["10-31 05:30", "11-01 05:30", "11-02 06:30"]),
    ],
)  # fmt: skip
def test_a_repeated_wall_time_fires_once_at_its_first_occurrence(
    zone: str, start: dt.datetime, expected: list[str]
) -> None:
    expression = "30 2 * * *" if zone == "Europe/Berlin" else "30 1 * * *"
    assert runs(expression, zone, start, 3) == expected


def test_an_hourly_schedule_across_both_changes() -> None:
    # Spring forward: 01:00 CET, then 03:00 CEST (02:00 does not exist): one hour apart.
    assert runs("0 * * * *", "Europe/Berlin", dt.datetime(2026, 3, 28, 23, 30, tzinfo=UTC), 3) == [
        "03-29 00:00", "03-29 01:00", "03-29 02:00",
    ]  # fmt: skip
    # Fall back: 02:00 CEST fires, the repeated 02:00 CET does not, 03:00 CET does.
    assert runs("0 * * * *", "Europe/Berlin", dt.datetime(2026, 10, 24, 22, 30, tzinfo=UTC), 4) == [
        "10-24 23:00", "10-25 00:00", "10-25 02:00", "10-25 03:00",
    ]  # fmt: skip


def test_every_half_hour_in_the_repeated_hour_fires_once_each() -> None:
    assert runs("*/30 2 * * *", "Europe/Berlin", dt.datetime(2026, 10, 24, 23, tzinfo=UTC), 3) == [
        "10-25 00:00", "10-25 00:30", "10-26 01:00",
    ]  # fmt: skip


def test_a_schedule_created_inside_the_repeated_hour_waits_for_the_next_day() -> None:
    # 01:10 UTC is 02:10 CET, the second 02:10: 02:30 CET is a repeat, so the next run is
    # the following day's 02:30 (its first occurrence, 00:30 UTC, was before creation).
    assert runs("30 2 * * *", "Europe/Berlin", dt.datetime(2026, 10, 25, 1, 10, tzinfo=UTC), 1) == [
        "10-26 01:30"
    ]
