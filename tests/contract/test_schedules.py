"""The schedule verbs of the TaskQueue contract, run against every backend.

The spec of a schedule is opaque to backends: these tests store arbitrary bytes in it. Every
time is a fixed offset from ``NOW``: backends must use the times they are given.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import Counter
from collections.abc import Coroutine
from typing import Any

import pytest

from omniq.exceptions import OmniQError
from omniq.models.schedule import ScheduleStatus
from omniq.models.task import TaskStatus
from omniq.storage.interfaces import Backend, TaskQueue
from omniq.storage.records import ScheduleRecord, TaskRecord

from .records import NOW, MakeBackend, make_task, new_id

ACTIVE = ScheduleStatus.ACTIVE
PAUSED = ScheduleStatus.PAUSED
COMPLETED = ScheduleStatus.COMPLETED
CANCELLED = ScheduleStatus.CANCELLED


def make_schedule(
    schedule_id: str | None = None,
    *,
    next_run_at: float | None = NOW,
    created_at: float = NOW - 100.0,
    **fields: Any,
) -> ScheduleRecord:
    """A fresh ``active`` schedule; extra keyword arguments set any other field."""
    return ScheduleRecord(
        id=schedule_id or new_id("s"),
        func_name="tests.contract:scheduled",
        payload=b"\x00call\xff",
        spec=b"\x93opaque-spec\x00",
        next_run_at=next_run_at,
        created_at=created_at,
        **fields,
    )


def run_of(schedule: ScheduleRecord, fired_at: float = NOW, **fields: Any) -> TaskRecord:
    """The task a run of ``schedule`` enqueues when it fires at ``fired_at``."""
    return make_task(schedule_id=schedule.id, created_at=fired_at, run_at=fired_at, **fields)


def ids(records: list[Any]) -> list[str]:
    return [record.id for record in records]


async def stored(tq: TaskQueue, schedule_id: str) -> ScheduleRecord:
    found = await tq.get_schedule(schedule_id)
    assert found is not None, schedule_id
    return found


# -- add / get / list ------------------------------------------------------------------------


async def test_add_get_round_trips_every_field(backend: Backend) -> None:
    tq = backend.task_queue
    schedule = ScheduleRecord(
        id=new_id("s"),
        func_name="pkg.mod:Class.method",
        payload=bytes(range(256)),
        spec=bytes(reversed(range(256))),
        status=PAUSED,
        next_run_at=NOW + 0.125,
        run_count=7,
        max_runs=10,
        created_at=NOW - 1.5,
        last_run_at=NOW - 0.25,
    )
    await tq.add_schedule(schedule)
    got = await stored(tq, schedule.id)
    assert got == schedule
    assert got.status is PAUSED
    assert isinstance(got.payload, bytes)
    assert isinstance(got.spec, bytes)


async def test_add_get_round_trips_defaults_and_nones(backend: Backend) -> None:
    tq = backend.task_queue
    schedule = make_schedule(next_run_at=None)
    await tq.add_schedule(schedule)
    got = await stored(tq, schedule.id)
    assert got == schedule
    assert got.status is ACTIVE
    assert (got.next_run_at, got.run_count, got.max_runs, got.last_run_at) == (None, 0, None, None)


async def test_get_unknown_schedule_is_none(backend: Backend) -> None:
    assert await backend.task_queue.get_schedule("no-such-schedule") is None


async def test_add_schedule_with_an_existing_id_is_refused(backend: Backend) -> None:
    tq = backend.task_queue
    original = make_schedule(run_count=3, last_run_at=NOW - 1)
    await tq.add_schedule(original)
    with pytest.raises(OmniQError):
        await tq.add_schedule(make_schedule(original.id, next_run_at=NOW + 99))
    assert await stored(tq, original.id) == original
    assert ids(await tq.list_schedules()) == [original.id]


async def test_returned_schedules_are_copies(backend: Backend) -> None:
    tq = backend.task_queue
    schedule = make_schedule()
    await tq.add_schedule(schedule)
    schedule.run_count = 99  # the caller's record is not the stored one
    got = await stored(tq, schedule.id)
    assert got.run_count == 0
    got.status = CANCELLED
    listed = await tq.list_schedules()
    listed[0].next_run_at = None
    due = await tq.due_schedules(NOW, 10)
    due[0].run_count = 5
    again = await stored(tq, schedule.id)
    assert (again.status, again.next_run_at, again.run_count) == (ACTIVE, NOW, 0)


async def test_list_schedules_oldest_first(backend: Backend) -> None:
    tq = backend.task_queue
    assert await tq.list_schedules() == []
    ages = [5.0, 1.0, 3.0, 2.0, 4.0]
    schedules = [make_schedule(created_at=NOW - age) for age in ages]
    for schedule in schedules:
        await tq.add_schedule(schedule)
    expected = sorted(schedules, key=lambda s: s.created_at)
    listed = await tq.list_schedules()
    assert ids(listed) == ids(expected)
    assert listed == expected


async def test_list_schedules_includes_every_status(backend: Backend) -> None:
    tq = backend.task_queue
    schedules = [
        make_schedule(status=status, created_at=NOW - 10 + i, next_run_at=None)
        for i, status in enumerate(ScheduleStatus)
    ]
    for schedule in schedules:
        await tq.add_schedule(schedule)
    assert [s.status for s in await tq.list_schedules()] == list(ScheduleStatus)


async def test_schedules_are_shared_by_backends_on_one_store(
    backend: Backend, make_backend: MakeBackend
) -> None:
    schedule = make_schedule()
    await backend.task_queue.add_schedule(schedule)
    other = await make_backend()
    assert await other.task_queue.get_schedule(schedule.id) == schedule
    assert ids(await other.task_queue.due_schedules(NOW, 10)) == [schedule.id]


# -- due_schedules -----------------------------------------------------------------------------


async def test_due_schedules_filters_and_orders(backend: Backend) -> None:
    tq = backend.task_queue
    late = make_schedule(next_run_at=NOW - 1.0, created_at=NOW - 1)
    earliest = make_schedule(next_run_at=NOW - 30.0, created_at=NOW - 2)
    exactly_now = make_schedule(next_run_at=NOW, created_at=NOW - 3)
    middle = make_schedule(next_run_at=NOW - 10.0, created_at=NOW - 4)
    not_yet = [
        make_schedule(next_run_at=NOW + 0.001),
        make_schedule(next_run_at=NOW + 3600.0),
    ]
    not_active = [
        make_schedule(next_run_at=NOW - 50.0, status=PAUSED),
        make_schedule(next_run_at=NOW - 50.0, status=COMPLETED),
        make_schedule(next_run_at=NOW - 50.0, status=CANCELLED),
    ]
    unscheduled = make_schedule(next_run_at=None)
    for schedule in [late, *not_yet, earliest, *not_active, exactly_now, unscheduled, middle]:
        await tq.add_schedule(schedule)

    due = await tq.due_schedules(NOW, 100)
    assert ids(due) == ids([earliest, middle, late, exactly_now])
    assert due[0] == earliest
    assert all(s.status is ACTIVE for s in due)


async def test_due_schedules_limit_takes_the_earliest(backend: Backend) -> None:
    tq = backend.task_queue
    schedules = [make_schedule(next_run_at=NOW - offset) for offset in (3.0, 9.0, 1.0, 7.0, 5.0)]
    for schedule in schedules:
        await tq.add_schedule(schedule)
    by_time = sorted(schedules, key=lambda s: s.next_run_at or 0.0)
    assert ids(await tq.due_schedules(NOW, 2)) == ids(by_time[:2])
    assert ids(await tq.due_schedules(NOW, 1)) == ids(by_time[:1])
    assert ids(await tq.due_schedules(NOW, 5)) == ids(by_time)
    assert ids(await tq.due_schedules(NOW - 6.0, 10)) == ids(by_time[:2])


async def test_due_schedules_empty_store(backend: Backend) -> None:
    assert await backend.task_queue.due_schedules(NOW, 10) == []


async def test_due_schedules_follows_status_changes(backend: Backend) -> None:
    tq = backend.task_queue
    schedule = make_schedule(next_run_at=NOW - 1.0)
    await tq.add_schedule(schedule)
    assert await tq.set_schedule_status(schedule.id, PAUSED, [ACTIVE], NOW - 1.0)
    assert await tq.due_schedules(NOW, 10) == []
    assert await tq.set_schedule_status(schedule.id, ACTIVE, [PAUSED], NOW + 5.0)
    assert await tq.due_schedules(NOW, 10) == []
    assert ids(await tq.due_schedules(NOW + 5.0, 10)) == [schedule.id]


# -- fire_schedule -----------------------------------------------------------------------------


async def test_fire_schedule_advances_and_enqueues_the_run(backend: Backend) -> None:
    tq = backend.task_queue
    schedule = make_schedule(next_run_at=NOW - 2.0, max_runs=5, run_count=1)
    await tq.add_schedule(schedule)
    run = run_of(schedule, fired_at=NOW, queue="reports", priority=3, name="nightly")

    assert await tq.fire_schedule(schedule.id, NOW - 2.0, NOW + 8.0, ACTIVE, run) is True

    after = await stored(tq, schedule.id)
    assert after.next_run_at == NOW + 8.0
    assert after.run_count == 2
    assert after.last_run_at == run.created_at == NOW
    assert after.status is ACTIVE
    # What the backend must not touch.
    assert (after.func_name, after.payload, after.spec) == (
        schedule.func_name,
        schedule.payload,
        schedule.spec,
    )
    assert (after.max_runs, after.created_at) == (5, schedule.created_at)

    task = await tq.get(run.id)
    assert task == run
    assert task is not None
    assert task.schedule_id == schedule.id
    assert task.status is TaskStatus.ENQUEUED
    assert ids(await tq.schedule_runs(schedule.id)) == [run.id]
    # The run is an ordinary task: a worker claims it.
    claimed = await tq.claim(["reports"], 10, "w1", NOW, NOW + 30.0)
    assert ids(claimed) == [run.id]
    assert claimed[0].schedule_id == schedule.id


async def test_fire_schedule_twice_for_one_due_time_fires_once(backend: Backend) -> None:
    tq = backend.task_queue
    schedule = make_schedule(next_run_at=NOW)
    await tq.add_schedule(schedule)
    first, second = run_of(schedule), run_of(schedule, fired_at=NOW + 0.01)

    assert await tq.fire_schedule(schedule.id, NOW, NOW + 10.0, ACTIVE, first) is True
    before = await stored(tq, schedule.id)
    assert await tq.fire_schedule(schedule.id, NOW, NOW + 10.0, ACTIVE, second) is False

    assert await stored(tq, schedule.id) == before
    assert before.run_count == 1
    assert await tq.get(second.id) is None
    assert ids(await tq.schedule_runs(schedule.id)) == [first.id]
    assert ids(await tq.claim(["default"], 10, "w1", NOW + 1, NOW + 30)) == [first.id]


async def test_fire_schedule_with_a_stale_or_wrong_time_changes_nothing(backend: Backend) -> None:
    tq = backend.task_queue
    schedule = make_schedule(next_run_at=NOW)
    await tq.add_schedule(schedule)
    for expected in (NOW - 10.0, NOW + 10.0, NOW + 1e-6):
        run = run_of(schedule)
        assert await tq.fire_schedule(schedule.id, expected, NOW + 60.0, ACTIVE, run) is False
        assert await tq.get(run.id) is None
    assert await stored(tq, schedule.id) == schedule
    assert await tq.schedule_runs(schedule.id) == []


async def test_fire_schedule_keeps_exact_float_times(backend: Backend) -> None:
    tq = backend.task_queue
    due = NOW + 0.1 + 0.2  # not exactly representable: must still compare equal
    schedule = make_schedule(next_run_at=due)
    await tq.add_schedule(schedule)
    got = await stored(tq, schedule.id)
    assert got.next_run_at == due
    assert await tq.fire_schedule(schedule.id, got.next_run_at, due + 0.3, ACTIVE, run_of(schedule))
    nxt = (await stored(tq, schedule.id)).next_run_at
    assert nxt == due + 0.3
    assert nxt is not None
    assert await tq.fire_schedule(schedule.id, nxt, nxt + 0.3, ACTIVE, run_of(schedule))
    assert (await stored(tq, schedule.id)).run_count == 2


@pytest.mark.parametrize("status", [PAUSED, COMPLETED, CANCELLED])
async def test_fire_schedule_only_fires_active_schedules(
    backend: Backend, status: ScheduleStatus
) -> None:
    tq = backend.task_queue
    schedule = make_schedule(next_run_at=NOW, status=status)
    await tq.add_schedule(schedule)
    run = run_of(schedule)
    assert await tq.fire_schedule(schedule.id, NOW, NOW + 10.0, ACTIVE, run) is False
    assert await stored(tq, schedule.id) == schedule
    assert await tq.get(run.id) is None
    assert await tq.schedule_runs(schedule.id) == []


async def test_fire_unknown_schedule_is_false(backend: Backend) -> None:
    tq = backend.task_queue
    run = make_task(schedule_id="no-such-schedule")
    assert await tq.fire_schedule("no-such-schedule", NOW, NOW + 1.0, ACTIVE, run) is False
    assert await tq.get(run.id) is None


async def test_fire_schedule_last_run_completes_it(backend: Backend) -> None:
    tq = backend.task_queue
    schedule = make_schedule(next_run_at=NOW, max_runs=2, run_count=1)
    await tq.add_schedule(schedule)
    last = run_of(schedule, fired_at=NOW + 0.5)
    assert await tq.fire_schedule(schedule.id, NOW, None, COMPLETED, last) is True
    after = await stored(tq, schedule.id)
    assert (after.status, after.next_run_at, after.run_count, after.last_run_at) == (
        COMPLETED,
        None,
        2,
        NOW + 0.5,
    )
    assert await tq.due_schedules(NOW + 1000.0, 10) == []
    extra = run_of(schedule)
    assert await tq.fire_schedule(schedule.id, NOW, None, COMPLETED, extra) is False
    assert await tq.get(extra.id) is None
    assert ids(await tq.schedule_runs(schedule.id)) == [last.id]


async def test_fire_schedule_is_all_or_nothing(backend: Backend) -> None:
    """If the run cannot be stored, the schedule is not advanced either (one atomic write)."""
    tq = backend.task_queue
    existing = make_task(name="unrelated")
    await tq.enqueue([existing])
    schedule = make_schedule(next_run_at=NOW)
    await tq.add_schedule(schedule)
    clashing = run_of(schedule, task_id=existing.id)  # the run cannot be inserted

    fired: bool | None = None
    with contextlib.suppress(OmniQError):  # refusing with an error is fine, half-firing is not
        fired = await tq.fire_schedule(schedule.id, NOW, NOW + 10.0, ACTIVE, clashing)
    assert not fired
    assert await stored(tq, schedule.id) == schedule  # not advanced, run_count still 0
    assert await tq.schedule_runs(schedule.id) == []
    assert await tq.get(existing.id) == existing
    # The run is still due and fires normally.
    run = run_of(schedule)
    assert await tq.fire_schedule(schedule.id, NOW, NOW + 10.0, ACTIVE, run) is True
    assert ids(await tq.schedule_runs(schedule.id)) == [run.id]


# -- concurrency ---------------------------------------------------------------------------


def race_in_thread(start: threading.Event, coro: Coroutine[Any, Any, None]) -> None:
    start.wait(30)
    asyncio.run(coro)


async def test_concurrent_fire_schedule_has_exactly_one_winner(
    backend: Backend, make_backend: MakeBackend
) -> None:
    """20 coroutines and 4 threads (and, on SQLite, a second connection) race for each run."""
    tq = backend.task_queue
    other = (await make_backend()).task_queue
    rounds = 5
    interval = 10.0
    schedule = make_schedule(next_run_at=NOW)
    await tq.add_schedule(schedule)

    wins: list[tuple[int, str]] = []  # (round, task id)
    attempts: list[str] = []
    lock = threading.Lock()

    async def racer(queue: TaskQueue, due: float, round_no: int) -> None:
        run = run_of(schedule, fired_at=due)
        with lock:
            attempts.append(run.id)
        if await queue.fire_schedule(schedule.id, due, due + interval, ACTIVE, run):
            with lock:
                wins.append((round_no, run.id))

    for round_no in range(rounds):
        due = NOW + round_no * interval
        start = threading.Event()

        threads = [
            threading.Thread(target=race_in_thread, args=(start, racer(tq, due, round_no)))
            for _ in range(4)
        ]
        for thread in threads:
            thread.start()
        start.set()
        try:
            await asyncio.gather(*(racer(tq if i % 2 else other, due, round_no) for i in range(20)))
        finally:
            for thread in threads:
                await asyncio.to_thread(thread.join, 60)
        assert not any(thread.is_alive() for thread in threads)
        assert [r for r, _ in wins].count(round_no) == 1, wins

    assert len(attempts) == rounds * 24
    assert [round_no for round_no, _ in wins] == list(range(rounds))
    after = await stored(tq, schedule.id)
    assert after.run_count == rounds
    assert after.next_run_at == NOW + rounds * interval
    runs = await tq.schedule_runs(schedule.id)
    assert ids(runs) == [task_id for _, task_id in wins]
    # Only the winners' tasks were stored.
    losers = set(attempts) - {task_id for _, task_id in wins}
    for task_id in losers:
        assert await tq.get(task_id) is None
    claimed = await tq.claim(["default"], 1000, "w1", NOW + 1000, NOW + 2000)
    assert Counter(ids(claimed)) == Counter(task_id for _, task_id in wins)


# -- set_schedule_status ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "target", "allowed", "changes"),
    [
        (ACTIVE, PAUSED, [ACTIVE], True),
        (PAUSED, ACTIVE, [PAUSED], True),
        (ACTIVE, CANCELLED, [ACTIVE, PAUSED], True),
        (PAUSED, CANCELLED, [ACTIVE, PAUSED], True),
        (PAUSED, PAUSED, [ACTIVE], False),
        (ACTIVE, ACTIVE, [PAUSED], False),
        (COMPLETED, CANCELLED, [ACTIVE, PAUSED], False),
        (CANCELLED, ACTIVE, [PAUSED], False),
        (COMPLETED, ACTIVE, [PAUSED], False),
        (ACTIVE, PAUSED, [], False),
    ],
)
async def test_set_schedule_status_from_statuses_rule(
    backend: Backend,
    current: ScheduleStatus,
    target: ScheduleStatus,
    allowed: list[ScheduleStatus],
    changes: bool,
) -> None:
    tq = backend.task_queue
    schedule = make_schedule(status=current, next_run_at=NOW, run_count=2, last_run_at=NOW - 5)
    await tq.add_schedule(schedule)
    new_next = None if target is CANCELLED else NOW + 42.0

    assert await tq.set_schedule_status(schedule.id, target, allowed, new_next) is changes

    after = await stored(tq, schedule.id)
    if changes:
        assert after.status is target
        assert after.next_run_at == new_next
    else:
        assert after == schedule
    # Only status and next_run_at may change.
    assert (after.run_count, after.last_run_at, after.max_runs, after.created_at) == (
        2,
        NOW - 5,
        None,
        schedule.created_at,
    )


async def test_set_schedule_status_unknown_is_false(backend: Backend) -> None:
    tq = backend.task_queue
    assert await tq.set_schedule_status("no-such-schedule", PAUSED, [ACTIVE], None) is False
    assert await tq.get_schedule("no-such-schedule") is None


async def test_set_schedule_status_only_touches_one_schedule(backend: Backend) -> None:
    tq = backend.task_queue
    one, two = make_schedule(), make_schedule()
    await tq.add_schedule(one)
    await tq.add_schedule(two)
    assert await tq.set_schedule_status(one.id, PAUSED, [ACTIVE], NOW)
    assert (await stored(tq, one.id)).status is PAUSED
    assert await stored(tq, two.id) == two


# -- schedule_runs -------------------------------------------------------------------------


async def test_schedule_runs_in_enqueue_order(backend: Backend) -> None:
    tq = backend.task_queue
    mine = make_schedule(next_run_at=NOW)
    theirs = make_schedule(next_run_at=NOW)
    await tq.add_schedule(mine)
    await tq.add_schedule(theirs)
    await tq.enqueue([make_task(), make_task()])  # plain tasks are no schedule's runs

    runs: list[TaskRecord] = []
    due_mine, due_theirs = NOW, NOW
    for i in range(6):
        # Fire times deliberately not increasing, and task ids not in order: the order is
        # the order of enqueueing.
        run = run_of(mine, fired_at=NOW - i, task_id=f"z-{9 - i}-{new_id()}")
        assert await tq.fire_schedule(mine.id, due_mine, due_mine + 1.0, ACTIVE, run)
        due_mine += 1.0
        runs.append(run)
        other = run_of(theirs)
        assert await tq.fire_schedule(theirs.id, due_theirs, due_theirs + 1.0, ACTIVE, other)
        due_theirs += 1.0

    got = await tq.schedule_runs(mine.id)
    assert ids(got) == ids(runs)
    assert all(task.schedule_id == mine.id for task in got)
    assert len(await tq.schedule_runs(theirs.id)) == 6
    assert await tq.schedule_runs("no-such-schedule") == []


async def test_schedule_runs_show_the_current_state_of_the_runs(backend: Backend) -> None:
    tq = backend.task_queue
    schedule = make_schedule(next_run_at=NOW)
    await tq.add_schedule(schedule)
    first, second = run_of(schedule), run_of(schedule, fired_at=NOW + 1)
    assert await tq.fire_schedule(schedule.id, NOW, NOW + 1, ACTIVE, first)
    assert await tq.fire_schedule(schedule.id, NOW + 1, NOW + 2, ACTIVE, second)
    [claimed] = await tq.claim(["default"], 1, "w1", NOW + 5, NOW + 35)
    assert claimed.id == first.id
    assert await tq.finish(first.id, TaskStatus.COMPLETED, NOW + 6, worker_id="w1")

    runs = await tq.schedule_runs(schedule.id)
    assert ids(runs) == [first.id, second.id]
    assert [r.status for r in runs] == [TaskStatus.COMPLETED, TaskStatus.ENQUEUED]
    assert runs[0].finished_at == NOW + 6


async def test_schedule_runs_seen_from_another_backend(
    backend: Backend, make_backend: MakeBackend
) -> None:
    schedule = make_schedule(next_run_at=NOW)
    await backend.task_queue.add_schedule(schedule)
    run = run_of(schedule)
    other = await make_backend()
    assert await other.task_queue.fire_schedule(schedule.id, NOW, NOW + 1, ACTIVE, run)
    assert ids(await backend.task_queue.schedule_runs(schedule.id)) == [run.id]
    assert (await stored(backend.task_queue, schedule.id)).run_count == 1
