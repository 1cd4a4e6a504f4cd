"""Schedules through the public API: create, inspect, steer, and the runs real workers fire.

Every behavioural test runs a real worker on the memory and on the SQLite backend, with short
intervals. Nothing sleeps as synchronisation: waits poll with a deadline (``wait_until``), and
"nothing happens" is checked by polling throughout an observation window (``holds_for``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from backend_targets import Target, new_project
from omniq import ConfigurationError, EventType, OmniQ, TaskFailedError, TaskStatus
from omniq.core.portal import portal
from omniq.exceptions import ScheduleNotFoundError
from omniq.models.schedule import Schedule, ScheduleStatus, ScheduleType
from omniq.storage.records import TaskRecord

from . import tasks
from .conftest import MakeOmniQ
from .helpers import wait_for_time, wait_until

INTERVAL = 0.2
#: Slack for times that went through a ``datetime`` (microsecond resolution).
EPS = 1e-3


# -- helpers ---------------------------------------------------------------------------------


def sched(oq: OmniQ, schedule_id: str) -> Schedule:
    found = oq.get_schedule(schedule_id)
    assert found is not None, schedule_id
    return found


def runs_of(oq: OmniQ, schedule_id: str) -> list[TaskRecord]:
    """The tasks the schedule fired, oldest first (straight from the store)."""
    return portal().call(oq.task_queue.schedule_runs(schedule_id))


def ts(moment: dt.datetime | None) -> float:
    assert moment is not None
    assert moment.tzinfo is not None
    return moment.timestamp()


def holds_for(condition: Callable[[], bool], seconds: float, what: str) -> None:
    """Check ``condition`` over and over for ``seconds``; fail the first time it is false."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert condition(), f"{what} stopped holding"
        time.sleep(0.01)
    assert condition(), f"{what} stopped holding"


def ref(func: Callable[..., Any]) -> str:
    return f"{func.__module__}:{func.__qualname__}"


def label() -> str:
    return uuid.uuid4().hex


async def async_wait_until(condition: Callable[[], Any], limit: float = 5.0, what: str = "") -> Any:
    deadline = time.monotonic() + limit
    while True:
        value = await condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {limit}s waiting for {what}")
        await asyncio.sleep(0.005)


# -- interval schedules ------------------------------------------------------------------------


def test_interval_with_max_runs_runs_exactly_that_many_then_completes(make_oq: MakeOmniQ) -> None:
    oq = make_oq().open()
    key = label()
    sid = oq.schedule(
        tasks.flaky, func_args={"key": key, "failures": 0}, interval=INTERVAL, max_runs=3
    )

    first = sched(oq, sid)
    assert first.id == sid
    assert first.status is ScheduleStatus.ACTIVE
    assert first.schedule_type is ScheduleType.INTERVAL
    assert first.interval == dt.timedelta(seconds=INTERVAL)
    assert first.cron_expression is None
    assert first.max_runs == 3
    assert first.run_count == 0
    assert first.last_run_at is None
    # The first run is one interval after creation.
    assert ts(first.next_run_at) == pytest.approx(ts(first.created_at) + INTERVAL, abs=EPS)
    oq.start_worker(max_workers=2)  # only now: a stall above could not let a run fire first

    done = wait_until(
        lambda: (s := sched(oq, sid)).status is ScheduleStatus.COMPLETED and s,
        timeout=10,
        what="the schedule to complete",
    )
    assert done.run_count == 3
    assert done.next_run_at is None
    assert done.last_run_at is not None
    wait_until(lambda: len(tasks.ATTEMPTS[key]) == 3, what="the third run to execute")
    holds_for(
        lambda: len(tasks.ATTEMPTS[key]) == 3 and sched(oq, sid).run_count == 3,
        3 * INTERVAL,
        "max_runs=3",
    )

    runs = runs_of(oq, sid)
    assert len({run.id for run in runs}) == 3
    assert all(run.schedule_id == sid for run in runs)
    for i, run in enumerate(runs):  # no run fired before its due time
        assert run.created_at >= ts(first.next_run_at) + i * INTERVAL - EPS
    # kind="all" does not wait: the third run's body has started, maybe not completed.
    wait_until(lambda: all(t.status is TaskStatus.COMPLETED for t in runs_of(oq, sid)))
    assert oq.get_result(schedule_id=sid, kind="all") == [1, 2, 3]
    assert oq.get_result(schedule_id=sid, kind="latest", timeout=5) == 3
    assert oq.get_result(schedule_id=sid, timeout=5) == 3  # "latest" is the default
    assert sched(oq, sid).status is ScheduleStatus.COMPLETED


def test_interval_accepts_a_timedelta(make_oq: MakeOmniQ) -> None:
    oq = make_oq().open()
    oq.start_worker(max_workers=1)
    sid = oq.schedule(
        tasks.add_numbers,
        func_args={"x": 20, "y": 22},
        interval=dt.timedelta(milliseconds=200),
        max_runs=1,
    )
    assert sched(oq, sid).interval == dt.timedelta(milliseconds=200)
    assert oq.get_result(schedule_id=sid, kind="latest", timeout=5) == 42
    wait_until(lambda: sched(oq, sid).status is ScheduleStatus.COMPLETED)


def test_get_result_all_is_empty_before_the_first_run_and_latest_waits_for_it(
    make_oq: MakeOmniQ,
) -> None:
    oq = make_oq().open()
    sid = oq.schedule(tasks.add_numbers, func_args={"x": 1, "y": 2}, interval=0.5, max_runs=1)
    assert oq.get_result(schedule_id=sid, kind="all") == []
    oq.start_worker(max_workers=1)
    assert oq.get_result(schedule_id=sid, kind="latest", timeout=5) == 3
    wait_until(lambda: oq.get_result(schedule_id=sid, kind="all") == [3])


def test_get_result_latest_times_out_without_a_run(make_oq: MakeOmniQ) -> None:
    oq = make_oq().open()
    oq.start_worker(max_workers=1)
    sid = oq.schedule(tasks.add_numbers, func_args={"x": 1, "y": 2}, interval=3600)
    with pytest.raises(TimeoutError):
        oq.get_result(schedule_id=sid, kind="latest", timeout=0.2)
    assert oq.get_result(schedule_id=sid, kind="all") == []


def test_get_result_of_a_failed_run(make_oq: MakeOmniQ) -> None:
    oq = make_oq().open()
    oq.start_worker(max_workers=1)
    sid = oq.schedule(
        tasks.always_fails,
        func_args={"message": "scheduled boom"},
        interval=INTERVAL,
        max_runs=1,
        max_retries=0,
    )
    with pytest.raises(TaskFailedError, match="scheduled boom"):
        oq.get_result(schedule_id=sid, kind="latest", timeout=5)
    assert oq.get_result(schedule_id=sid, kind="all") == []  # failed runs have no result


def test_schedule_and_run_options(make_oq: MakeOmniQ) -> None:
    oq = make_oq(queues=["reports"]).open()
    oq.start_worker(max_workers=1)
    sid = oq.schedule(
        tasks.echo,
        func_args={"a": 1},
        func_kwargs={"b": [2, 3]},
        queue_name="reports",
        name="nightly",
        description="the nightly report",
        tags=["x", "y"],
        priority=5,
        interval=INTERVAL,
        max_runs=1,
    )
    view = sched(oq, sid)
    assert view.func == ref(tasks.echo)
    assert (view.args, view.kwargs) == ({"a": 1}, {"b": [2, 3]})
    assert (view.queue_name, view.name, view.description) == (
        "reports",
        "nightly",
        "the nightly report",
    )
    assert (view.tags, view.priority, view.timezone) == (["x", "y"], 5, "UTC")
    assert view.run_at is None

    assert oq.get_result(schedule_id=sid, kind="latest", timeout=5) == {"a": 1, "b": [2, 3]}
    [run] = runs_of(oq, sid)
    task = oq.get_task(run.id)
    assert task is not None
    assert (task.queue_name, task.name, task.tags, task.priority) == (
        "reports",
        "nightly",
        ["x", "y"],
        5,
    )


def test_runs_in_an_undeclared_queue_are_served_like_enqueued_tasks(make_oq: MakeOmniQ) -> None:
    """``enqueue`` to an undeclared queue declares it in the instance; ``schedule`` must too."""
    oq = make_oq().open()
    oq.start_worker(max_workers=1)
    sid = oq.schedule(
        tasks.add_numbers,
        func_args={"x": 2, "y": 3},
        queue_name="reports",
        interval=INTERVAL,
        max_runs=1,
    )
    assert oq.get_result(schedule_id=sid, kind="latest", timeout=5) == 5


def test_two_instances_on_one_store_fire_each_run_once(
    make_oq: MakeOmniQ, same_store: Callable[..., OmniQ]
) -> None:
    first = make_oq().open()
    second = same_store(first)
    first.start_worker(max_workers=2)
    second.start_worker(max_workers=2)
    key = label()
    sid = first.schedule(tasks.record, func_args={"label": key}, interval=0.1, max_runs=10)
    wait_until(lambda: sched(second, sid).status is ScheduleStatus.COMPLETED, timeout=10)
    wait_until(lambda: tasks.ORDER.count(key) >= 10)
    holds_for(lambda: tasks.ORDER.count(key) == 10, 0.3, "ten executions")
    runs = runs_of(first, sid)
    assert len({run.id for run in runs}) == len(runs) == 10
    assert sched(first, sid).run_count == 10


class PausesAfterCommit:
    """A task queue whose process stalls ``delay`` seconds right after storing new tasks.

    Stands in for a process descheduled just after its commit (CPU contention, GC): the
    window this widens is real. Six processes racing on one SQLite file showed a run's
    ``dequeued`` event (written by another process's worker) before its ``enqueued`` event,
    which the firer writes in a write of its own after the run became claimable.
    """

    def __init__(self, inner: Any, delay: float) -> None:
        self.inner = inner
        self.delay = delay

    async def enqueue(self, records: Any, events: Any = ()) -> None:
        await self.inner.enqueue(records, events)
        await asyncio.sleep(self.delay)  # the stall, not synchronisation

    async def fire_schedule(self, *args: Any) -> bool:
        fired: bool = await self.inner.fire_schedule(*args)
        if fired:
            await asyncio.sleep(self.delay)  # the stall, not synchronisation
        return fired

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class PausingBackend:
    """A backend whose task queue stalls after each commit (see :class:`PausesAfterCommit`)."""

    def __init__(self, inner: Any, delay: float) -> None:
        self.inner = inner
        self.task_queue = PausesAfterCommit(inner.task_queue, delay)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


LIFECYCLE = [EventType.ENQUEUED, EventType.DEQUEUED, EventType.EXECUTING, EventType.COMPLETED]


@pytest.mark.capability("fused_events")
def test_a_run_is_enqueued_before_it_is_claimed(
    make_oq: MakeOmniQ, backend_target: Target, tmp_path: Path
) -> None:
    """A run's events read enqueued, dequeued, executing, completed, like any task's.

    With fused events the run and its ``enqueued`` event are one write: a claim cannot
    come between them, however long the process stalls after the commit.
    """
    project = new_project("api")
    backend = backend_target.make(project, tmp_path)
    backend.initialize()
    oq = make_oq(project_name=project, backend=PausingBackend(backend, 0.5))
    try:
        oq.open()
        oq.start_worker(max_workers=1)
        # Control: an ordinary task's events are in order despite the stall.
        task_id = oq.enqueue(tasks.add_numbers, func_args={"x": 2, "y": 2})
        assert oq.get_result(task_id, timeout=5) == 4
        wait_until(lambda: len(oq.get_events(task_id)) >= 4, what="the task's four events")
        assert [event.type for event in oq.get_events(task_id)] == LIFECYCLE

        sid = oq.schedule(
            tasks.add_numbers, func_args={"x": 1, "y": 1}, interval=INTERVAL, max_runs=1
        )
        assert oq.get_result(schedule_id=sid, kind="latest", timeout=5) == 2
        [run] = runs_of(oq, sid)
        wait_until(lambda: len(oq.get_events(run.id)) >= 4, what="the run's four events")
        assert [event.type for event in oq.get_events(run.id)] == LIFECYCLE
    finally:
        oq.close()
        backend.close()


# -- cron schedules ----------------------------------------------------------------------------


def next_local(zone: str, now: float, *, hour: int | None, minute: int) -> dt.datetime:
    """The next local ``hour:minute`` (every hour when ``hour`` is None) after ``now``.

    Computed by hand (no croniter), for zones without DST changes.
    """
    local = dt.datetime.fromtimestamp(now, ZoneInfo(zone))
    candidate = local.replace(minute=minute, second=0, microsecond=0)
    step = dt.timedelta(hours=1)
    if hour is not None:
        candidate = candidate.replace(hour=hour)
        step = dt.timedelta(days=1)
    while candidate <= local:
        candidate += step
    return candidate


@pytest.mark.parametrize(
    ("expression", "zone", "hour", "minute"),
    [
        ("0 9 * * *", "Asia/Tokyo", 9, 0),  # UTC+9: 00:00 UTC
        ("0 9 * * *", None, 9, 0),  # default UTC
        ("0 * * * *", "Asia/Kolkata", None, 0),  # UTC+5:30: every hour at :30 UTC
        ("45 23 * * *", "Asia/Kathmandu", 23, 45),  # UTC+5:45
    ],
)
def test_cron_next_run_is_the_next_matching_time_in_the_timezone(
    make_oq: MakeOmniQ, expression: str, zone: str | None, hour: int | None, minute: int
) -> None:
    oq = make_oq().open()
    oq.start_worker(max_workers=1)
    extra = {} if zone is None else {"timezone": zone}
    before = time.time()
    sid = oq.schedule(
        tasks.add_numbers, func_args={"x": 1, "y": 1}, cron_expression=expression, **extra
    )
    after = time.time()
    view = sched(oq, sid)
    tz = zone or "UTC"
    expected = {
        next_local(tz, before, hour=hour, minute=minute),
        next_local(tz, after, hour=hour, minute=minute),  # if a boundary passed meanwhile
    }
    assert view.next_run_at in expected
    assert view.next_run_at is not None
    local = view.next_run_at.astimezone(ZoneInfo(tz))
    assert (local.minute, local.second) == (minute, 0)
    if hour is not None:
        assert local.hour == hour
    assert view.schedule_type is ScheduleType.CRON
    assert view.cron_expression == expression
    assert view.timezone == tz
    assert view.interval is None
    assert view.status is ScheduleStatus.ACTIVE
    assert view.run_count == 0


def test_cron_kolkata_hour_is_half_past_in_utc(make_oq: MakeOmniQ) -> None:
    oq = make_oq().open()
    sid = oq.schedule(
        tasks.add_numbers,
        func_args={"x": 1, "y": 1},
        cron_expression="0 * * * *",
        timezone="Asia/Kolkata",
    )
    nxt = sched(oq, sid).next_run_at
    assert nxt is not None
    utc = nxt.astimezone(dt.UTC)
    assert (utc.minute, utc.second, utc.microsecond) == (30, 0, 0)
    assert 0 < nxt.timestamp() - time.time() <= 3600


@pytest.mark.parametrize(
    "expression",
    ["61 * * * *", "0 25 * * *", "not a cron", "* * *", "", "0 9 * * mon-xyz", "0 0 31 2 *"],
)
def test_invalid_cron_expression_is_refused_with_it_quoted(oq: OmniQ, expression: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        oq.schedule(tasks.add_numbers, func_args={"x": 1, "y": 1}, cron_expression=expression)
    assert repr(expression) in str(caught.value)
    assert oq.list_schedules() == []


# -- run_at schedules ---------------------------------------------------------------------------


def test_run_at_fires_once_then_completes(make_oq: MakeOmniQ) -> None:
    oq = make_oq().open()
    key = label()
    when = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=0.3)
    sid = oq.schedule(tasks.record, func_args={"label": key}, run_at=when)
    view = sched(oq, sid)
    assert view.schedule_type is ScheduleType.RUN_AT
    assert view.run_at == when
    assert view.next_run_at == when
    assert view.interval is None
    oq.start_worker(max_workers=1)  # only now: a stall above could not let it fire first

    assert oq.get_result(schedule_id=sid, kind="latest", timeout=5) == key
    wait_until(lambda: sched(oq, sid).status is ScheduleStatus.COMPLETED)
    done = sched(oq, sid)
    assert (done.run_count, done.next_run_at) == (1, None)
    assert done.last_run_at is not None
    assert done.last_run_at >= when
    holds_for(
        lambda: tasks.ORDER.count(key) == 1 and sched(oq, sid).run_count == 1,
        3 * INTERVAL,
        "a single run",
    )
    [run] = runs_of(oq, sid)
    assert run.created_at >= when.timestamp()
    assert oq.get_result(schedule_id=sid, kind="all") == [key]


def test_run_at_in_the_past_fires_once_at_once(make_oq: MakeOmniQ) -> None:
    oq = make_oq().open()
    oq.start_worker(max_workers=1)
    key = label()
    sid = oq.schedule(
        tasks.record,
        func_args={"label": key},
        run_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1),
    )
    assert oq.get_result(schedule_id=sid, kind="latest", timeout=5) == key
    wait_until(lambda: sched(oq, sid).status is ScheduleStatus.COMPLETED)
    holds_for(lambda: tasks.ORDER.count(key) == 1, 3 * INTERVAL, "a single run")


def test_interval_with_run_at_starts_at_run_at(make_oq: MakeOmniQ) -> None:
    oq = make_oq().open()
    key = label()
    start = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=0.5)
    sid = oq.schedule(
        tasks.record, func_args={"label": key}, interval=INTERVAL, run_at=start, max_runs=2
    )
    view = sched(oq, sid)
    assert view.schedule_type is ScheduleType.INTERVAL
    assert view.next_run_at == start
    oq.start_worker(max_workers=1)  # only now: a stall above could not let it fire first
    wait_until(lambda: sched(oq, sid).status is ScheduleStatus.COMPLETED, timeout=10)
    runs = runs_of(oq, sid)
    assert len(runs) == 2
    assert runs[0].created_at >= start.timestamp()
    assert runs[1].created_at >= start.timestamp() + INTERVAL - EPS
    wait_until(lambda: tasks.ORDER.count(key) == 2)


# -- arguments ----------------------------------------------------------------------------------

FAR = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"interval": 3600}, ScheduleType.INTERVAL),
        ({"interval": dt.timedelta(hours=1)}, ScheduleType.INTERVAL),
        ({"interval": 3600, "schedule_type": "interval"}, ScheduleType.INTERVAL),
        ({"interval": 3600, "run_at": FAR}, ScheduleType.INTERVAL),
        ({"cron_expression": "0 9 * * *"}, ScheduleType.CRON),
        ({"cron_expression": "0 9 * * *", "schedule_type": "cron"}, ScheduleType.CRON),
        ({"run_at": FAR}, ScheduleType.RUN_AT),
        ({"run_at": FAR, "schedule_type": "run_at"}, ScheduleType.RUN_AT),
    ],
)
def test_schedule_type_is_inferred(
    oq: OmniQ, kwargs: dict[str, Any], expected: ScheduleType
) -> None:
    sid = oq.schedule(tasks.add_numbers, func_args={"x": 1, "y": 1}, **kwargs)
    assert sched(oq, sid).schedule_type is expected


@pytest.mark.parametrize(
    ("kwargs", "mentions"),
    [
        ({"interval": 10, "cron_expression": "0 9 * * *"}, ["interval", "cron_expression"]),
        ({"cron_expression": "0 9 * * *", "run_at": FAR}, ["cron_expression", "run_at"]),
        ({"schedule_type": "cron", "interval": 10}, ["'cron'", "interval"]),
        (
            {"schedule_type": "interval", "cron_expression": "0 9 * * *"},
            ["'interval'", "cron_expression"],
        ),
        ({"schedule_type": "run_at", "interval": 10, "run_at": FAR}, ["'run_at'", "interval"]),
        ({"schedule_type": "interval", "run_at": FAR}, ["'interval'", "run_at"]),
        ({"schedule_type": "weekly", "interval": 10}, ["'weekly'"]),
        ({}, ["interval", "cron_expression", "run_at"]),
        ({"schedule_type": "cron"}, ["interval", "cron_expression", "run_at"]),
    ],
)
def test_missing_or_contradictory_timing_is_a_clear_error(
    oq: OmniQ, kwargs: dict[str, Any], mentions: list[str]
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        oq.schedule(tasks.add_numbers, func_args={"x": 1, "y": 1}, **kwargs)
    for word in mentions:
        assert word in str(caught.value)
    assert oq.list_schedules() == []


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "utc+2", "", 9])
def test_bad_timezone_is_refused(oq: OmniQ, zone: object) -> None:
    with pytest.raises(ConfigurationError) as caught:
        oq.schedule(
            tasks.add_numbers,
            func_args={"x": 1, "y": 1},
            cron_expression="0 9 * * *",
            timezone=zone,
        )
    assert repr(zone) in str(caught.value)
    assert oq.list_schedules() == []


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_runs": 0},
        {"max_runs": -1},
        {"max_runs": True},
        {"max_runs": 1.5},
        {"max_runs": "3"},
        {"interval": 0},
        {"interval": -1},
        {"interval": dt.timedelta(0)},
        {"interval": "1s"},
        {"interval": math.nan},
        {"interval": 1e-9},
        {"interval": 0.099},
        {"interval": dt.timedelta(milliseconds=50)},
        {"interval": 1e20},
        {"run_at": dt.datetime(9999, 12, 31, tzinfo=dt.UTC)},
        {"max_runs": 2**40},
        {"priority": 2**63},
        {"max_retries": 10**30},
        {"name": "\ud800"},
        {"description": "\ud800"},
        {"tags": ["\ud800"]},
        {"queue_name": "high\n"},
        {"ttl": 1e20},
        {"retry_backoff": 1e200},
        {"run_at": time.time() + 60},
        {"run_at": "tomorrow"},
        {"depends_on": ["some-task"]},
        {"callback": tasks.add_numbers},
        {"no_such_option": 1},
    ],
)
def test_bad_arguments_are_refused(oq: OmniQ, kwargs: dict[str, Any]) -> None:
    options: dict[str, Any] = {"interval": 3600}
    if "run_at" in kwargs:
        options = {}
    options.update(kwargs)
    with pytest.raises(ConfigurationError) as caught:
        oq.schedule(tasks.add_numbers, func_args={"x": 1, "y": 1}, **options)
    assert next(iter(kwargs)) in str(caught.value)
    assert oq.list_schedules() == []


def test_max_runs_one_is_valid(make_oq: MakeOmniQ) -> None:
    oq = make_oq().open()
    oq.start_worker(max_workers=1)
    sid = oq.schedule(tasks.add_numbers, func_args={"x": 1, "y": 1}, interval=INTERVAL, max_runs=1)
    wait_until(lambda: sched(oq, sid).status is ScheduleStatus.COMPLETED)
    holds_for(lambda: sched(oq, sid).run_count == 1, 2 * INTERVAL, "max_runs=1")


# -- pause / resume / cancel ------------------------------------------------------------------


def test_pause_fires_nothing_and_resume_does_not_replay_missed_runs(make_oq: MakeOmniQ) -> None:
    oq = make_oq().open()
    oq.start_worker(max_workers=2)
    key = label()
    sid = oq.schedule(tasks.record, func_args={"label": key}, interval=INTERVAL)
    grid_start = ts(sched(oq, sid).next_run_at)
    wait_until(lambda: sched(oq, sid).run_count >= 2, timeout=10, what="two runs")

    assert oq.pause_schedule(sid) is True
    paused = sched(oq, sid)
    assert paused.status is ScheduleStatus.PAUSED
    count = paused.run_count
    assert oq.pause_schedule(sid) is False  # already paused
    # Runs fired before the pause still execute; nothing fires afterwards.
    wait_until(lambda: tasks.ORDER.count(key) == count, what="the runs fired before the pause")
    holds_for(
        lambda: sched(oq, sid).run_count == count and tasks.ORDER.count(key) == count,
        5 * INTERVAL,
        "no run while paused",
    )
    assert sched(oq, sid).status is ScheduleStatus.PAUSED
    assert len(runs_of(oq, sid)) == count

    before = time.time()
    assert oq.resume_schedule(sid) is True
    resumed = sched(oq, sid)
    assert resumed.status is ScheduleStatus.ACTIVE
    nxt = ts(resumed.next_run_at)
    # The next run is the next time after now on the schedule's grid: missed ones are skipped.
    assert before - EPS < nxt <= time.time() + INTERVAL + EPS
    steps = (nxt - grid_start) / INTERVAL
    assert steps == pytest.approx(round(steps), abs=0.01)
    wait_until(lambda: sched(oq, sid).run_count >= count + 2, what="the schedule to continue")
    runs = runs_of(oq, sid)
    assert runs[count].created_at >= nxt - EPS
    # Right after resuming, only that one run fired (no burst of the ~5 missed ones): the
    # next one waited for its own time on the grid.
    assert runs[count + 1].created_at >= nxt + INTERVAL - EPS
    assert oq.resume_schedule(sid) is False  # already active
    assert oq.cancel_schedule(sid) is True


def test_pause_keeps_a_future_next_run(make_oq: MakeOmniQ) -> None:
    oq = make_oq().open()
    sid = oq.schedule(tasks.add_numbers, func_args={"x": 1, "y": 1}, interval=3600)
    due = sched(oq, sid).next_run_at
    assert oq.pause_schedule(sid) is True
    assert oq.resume_schedule(sid) is True
    assert sched(oq, sid).next_run_at == due


def test_cancel_stops_a_schedule_for_good(make_oq: MakeOmniQ) -> None:
    oq = make_oq().open()
    oq.start_worker(max_workers=2)
    key = label()
    sid = oq.schedule(tasks.record, func_args={"label": key}, interval=INTERVAL)
    wait_until(lambda: sched(oq, sid).run_count >= 1, timeout=10, what="a first run")

    assert oq.cancel_schedule(sid) is True
    cancelled = sched(oq, sid)
    assert cancelled.status is ScheduleStatus.CANCELLED
    assert cancelled.next_run_at is None
    count = cancelled.run_count
    wait_until(lambda: tasks.ORDER.count(key) == count, what="runs fired before the cancel")
    holds_for(
        lambda: sched(oq, sid).run_count == count and tasks.ORDER.count(key) == count,
        4 * INTERVAL,
        "no run after cancel",
    )
    assert oq.cancel_schedule(sid) is False
    assert oq.pause_schedule(sid) is False
    assert oq.resume_schedule(sid) is False
    assert sched(oq, sid).status is ScheduleStatus.CANCELLED
    assert [s.id for s in oq.list_schedules()] == [sid]  # still listed, still readable


def test_cancel_a_paused_schedule(oq: OmniQ) -> None:
    sid = oq.schedule(tasks.add_numbers, func_args={"x": 1, "y": 1}, interval=3600)
    assert oq.pause_schedule(sid) is True
    assert oq.cancel_schedule(sid) is True
    assert sched(oq, sid).status is ScheduleStatus.CANCELLED
    assert oq.resume_schedule(sid) is False
    assert sched(oq, sid).status is ScheduleStatus.CANCELLED


def test_a_completed_schedule_cannot_be_steered(make_oq: MakeOmniQ) -> None:
    oq = make_oq().open()
    oq.start_worker(max_workers=1)
    sid = oq.schedule(tasks.add_numbers, func_args={"x": 1, "y": 1}, interval=INTERVAL, max_runs=1)
    wait_until(lambda: sched(oq, sid).status is ScheduleStatus.COMPLETED)
    assert oq.pause_schedule(sid) is False
    assert oq.resume_schedule(sid) is False
    assert oq.cancel_schedule(sid) is False
    view = sched(oq, sid)
    assert (view.status, view.run_count, view.next_run_at) == (ScheduleStatus.COMPLETED, 1, None)


@pytest.mark.parametrize(
    "call",
    [
        lambda oq, sid: oq.pause_schedule(sid),
        lambda oq, sid: oq.resume_schedule(sid),
        lambda oq, sid: oq.cancel_schedule(sid),
        lambda oq, sid: oq.get_result(schedule_id=sid),
        lambda oq, sid: oq.get_result(schedule_id=sid, kind="all"),
        lambda oq, sid: oq.get_result(schedule_id=sid, kind="latest", timeout=0),
    ],
    ids=["pause", "resume", "cancel", "get_result", "get_result_all", "get_result_latest"],
)
def test_unknown_schedule_id_raises(oq: OmniQ, call: Callable[[OmniQ, str], Any]) -> None:
    with pytest.raises(ScheduleNotFoundError):
        call(oq, "no-such-schedule")


def test_unknown_schedule_is_none(oq: OmniQ) -> None:
    assert oq.get_schedule("no-such-schedule") is None
    assert oq.list_schedules() == []


def test_get_result_argument_errors(oq: OmniQ) -> None:
    sid = oq.schedule(tasks.add_numbers, func_args={"x": 1, "y": 1}, interval=3600)
    with pytest.raises(ConfigurationError, match="kind"):
        oq.get_result(schedule_id=sid, kind="first")
    with pytest.raises(ConfigurationError):
        oq.get_result("some-task", schedule_id=sid)
    with pytest.raises(ConfigurationError):
        oq.get_schedule("")


def test_list_schedules_oldest_first(oq: OmniQ) -> None:
    ids = [
        oq.schedule(tasks.add_numbers, func_args={"x": i, "y": 1}, interval=3600 + i)
        for i in range(4)
    ]
    oq.pause_schedule(ids[1])
    oq.cancel_schedule(ids[2])
    listed = oq.list_schedules()
    assert [s.id for s in listed] == ids
    assert [s.status for s in listed] == [
        ScheduleStatus.ACTIVE,
        ScheduleStatus.PAUSED,
        ScheduleStatus.CANCELLED,
        ScheduleStatus.ACTIVE,
    ]
    assert [s.args for s in listed] == [{"x": i, "y": 1} for i in range(4)]


# -- persistence and downtime --------------------------------------------------------------------


@pytest.mark.capability("shared")  # only a store outside the process outlives it
def test_a_schedule_survives_a_restart(make_oq: MakeOmniQ, backend_name: str) -> None:
    first = make_oq().open()
    sid = first.schedule(
        tasks.add_numbers,
        func_args={"x": 4, "y": 5},
        interval=INTERVAL,
        max_runs=2,
        name="persistent",
    )
    created = sched(first, sid)
    first.close()

    second = make_oq(project_name=first.project_name).open()
    assert sched(second, sid) == created
    assert [s.id for s in second.list_schedules()] == [sid]
    second.start_worker(max_workers=1)
    wait_until(lambda: sched(second, sid).status is ScheduleStatus.COMPLETED, timeout=10)
    assert sched(second, sid).run_count == 2
    wait_until(lambda: second.get_result(schedule_id=sid, kind="all") == [9, 9])
    second.close()

    third = make_oq(project_name=first.project_name).open()
    done = sched(third, sid)
    assert (done.status, done.run_count, done.name) == (ScheduleStatus.COMPLETED, 2, "persistent")
    assert third.get_result(schedule_id=sid, kind="all") == [9, 9]


def test_after_downtime_missed_runs_fire_once(make_oq: MakeOmniQ) -> None:
    oq = make_oq().open()
    key = label()
    sid = oq.schedule(tasks.record, func_args={"label": key}, interval=INTERVAL)
    first_due = ts(sched(oq, sid).next_run_at)
    # No worker: at least six due times (first_due, +0.2, ..., +1.0) pass unfired.
    wait_for_time(oq, first_due + 5 * INTERVAL)
    assert sched(oq, sid).run_count == 0
    assert runs_of(oq, sid) == []

    started = time.time()
    oq.start_worker(max_workers=2)
    wait_until(lambda: sched(oq, sid).run_count >= 1, what="the catch-up run")
    fired_at = runs_of(oq, sid)[0].created_at
    assert fired_at >= started
    # The next due time is the first one on the grid after the catch-up run.
    grid_next = first_due + (math.floor((fired_at - first_due) / INTERVAL) + 1) * INTERVAL
    # (Checked below from the runs' creation times: watching run_count until just before
    # grid_next would race the next run when the catch-up fired a few ms before it.)
    wait_until(lambda: sched(oq, sid).run_count >= 3, timeout=5, what="runs to continue")
    observed_until = time.time()

    runs = runs_of(oq, sid)
    fired = [run.created_at for run in runs]
    assert len({run.id for run in runs}) == len(runs)
    # Exactly one run before the first due time after the catch-up; then each on its time.
    assert sum(1 for t in fired if t < grid_next - EPS) == 1
    for i, t in enumerate(fired[1:]):
        assert t >= grid_next + i * INTERVAL - EPS, (i, fired)
    assert len(runs) <= 2 + (observed_until - grid_next) / INTERVAL + 1  # no burst later either
    view = sched(oq, sid)
    steps = (ts(view.next_run_at) - first_due) / INTERVAL
    assert steps == pytest.approx(round(steps), abs=0.01)
    assert oq.cancel_schedule(sid) is True


# -- async twins ---------------------------------------------------------------------------------


async def test_async_twins(make_oq: MakeOmniQ) -> None:
    async with make_oq() as oq:
        await oq.start_worker_async(max_workers=2)
        key = label()
        sid = await oq.schedule_async(
            tasks.flaky, func_args={"key": key, "failures": 0}, interval=INTERVAL, max_runs=2
        )
        view = await oq.get_schedule_async(sid)
        assert view is not None
        assert (view.status, view.max_runs) == (ScheduleStatus.ACTIVE, 2)
        assert [s.id for s in await oq.list_schedules_async()] == [sid]
        assert await oq.get_result_async(schedule_id=sid, kind="latest", timeout=5) in (1, 2)

        async def completed() -> bool:
            found = await oq.get_schedule_async(sid)
            return found is not None and found.status is ScheduleStatus.COMPLETED

        await async_wait_until(completed, limit=10, what="the schedule to complete")

        async def all_results() -> bool:
            return await oq.get_result_async(schedule_id=sid, kind="all") == [1, 2]

        await async_wait_until(all_results, what="both results")

        other = await oq.schedule_async(
            tasks.add_numbers,
            func_args={"x": 1, "y": 1},
            cron_expression="0 9 * * *",
            timezone="Asia/Tokyo",
        )
        assert await oq.pause_schedule_async(other) is True
        assert await oq.pause_schedule_async(other) is False
        assert await oq.resume_schedule_async(other) is True
        assert await oq.cancel_schedule_async(other) is True
        found = await oq.get_schedule_async(other)
        assert found is not None
        assert found.status is ScheduleStatus.CANCELLED

        for verb in (oq.pause_schedule_async, oq.resume_schedule_async, oq.cancel_schedule_async):
            with pytest.raises(ScheduleNotFoundError):
                await verb("no-such-schedule")
        with pytest.raises(ScheduleNotFoundError):
            await oq.get_result_async(schedule_id="no-such-schedule", kind="all")
        assert await oq.get_schedule_async("no-such-schedule") is None
        with pytest.raises(ConfigurationError, match="'61 \\* \\* \\* \\*'"):
            await oq.schedule_async(tasks.add_numbers, cron_expression="61 * * * *")
