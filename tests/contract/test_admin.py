"""The operating verbs (worker registry, counts, listing, requeue, purge, event log).

Run against every backend; see :mod:`omniq.storage.admin` for the contract.
"""

from __future__ import annotations

import asyncio

import pytest

from omniq.core.purge import purge_finished
from omniq.exceptions import ConfigurationError
from omniq.models.event import EventType, TaskEvent
from omniq.models.task import TaskError, TaskStatus
from omniq.storage.admin import (
    EventLog,
    QueueCounts,
    ResultAdmin,
    TaskAdmin,
    WorkerRecord,
    WorkerRegistry,
)
from omniq.storage.interfaces import Backend

from .records import NOW, MakeBackend, make_result, make_task

ERROR = TaskError(type="builtins.ValueError", message="boom")


def worker(worker_id: str, *, started_at: float = NOW, heartbeat_at: float = NOW) -> WorkerRecord:
    return WorkerRecord(
        id=worker_id, hostname="host", pid=42, queues=["high", "default"], concurrency=4,
        lease_duration=30.0, started_at=started_at, heartbeat_at=heartbeat_at,
    )  # fmt: skip


def admin(backend: Backend) -> TaskAdmin:
    assert isinstance(backend.task_queue, TaskAdmin)
    return backend.task_queue


def registry(backend: Backend) -> WorkerRegistry:
    assert isinstance(backend.task_queue, WorkerRegistry)
    return backend.task_queue


def event_log(backend: Backend) -> EventLog:
    assert isinstance(backend.event_store, EventLog)
    return backend.event_store


async def test_the_backend_implements_every_operating_role(backend: Backend) -> None:
    assert isinstance(backend.task_queue, TaskAdmin)
    assert isinstance(backend.task_queue, WorkerRegistry)
    assert isinstance(backend.event_store, EventLog)
    assert isinstance(backend.result_store, ResultAdmin)


# -- worker registry ----------------------------------------------------------------------


async def test_registered_workers_are_listed_oldest_first(backend: Backend) -> None:
    reg = registry(backend)
    await reg.register_worker(worker("w2", started_at=NOW + 1))
    await reg.register_worker(worker("w1"))
    listed = await reg.list_workers()
    assert [w.id for w in listed] == ["w1", "w2"]
    assert listed[0] == worker("w1")


async def test_heartbeat_and_alive_since(backend: Backend) -> None:
    reg = registry(backend)
    await reg.register_worker(worker("old", heartbeat_at=NOW - 100))
    await reg.register_worker(worker("new", heartbeat_at=NOW - 100))
    assert await reg.heartbeat_worker("new", NOW)
    assert not await reg.heartbeat_worker("unknown", NOW)
    assert [w.id for w in await reg.list_workers(alive_since=NOW - 10)] == ["new"]
    assert [w.heartbeat_at for w in await reg.list_workers(alive_since=NOW)] == [NOW]


async def test_unregister_and_register_again(backend: Backend) -> None:
    reg = registry(backend)
    await reg.register_worker(worker("w"))
    await reg.register_worker(worker("w", heartbeat_at=NOW + 5))  # replaces
    assert [w.heartbeat_at for w in await reg.list_workers()] == [NOW + 5]
    assert await reg.unregister_worker("w")
    assert not await reg.unregister_worker("w")
    assert await reg.list_workers() == []


async def test_other_instances_see_registered_workers(
    backend: Backend, make_backend: MakeBackend
) -> None:
    await registry(backend).register_worker(worker("w"))
    other = await make_backend()
    assert [w.id for w in await registry(other).list_workers()] == ["w"]


# -- counts and listing -------------------------------------------------------------------


async def test_queue_counts_by_status_due_and_delayed(backend: Backend) -> None:
    tq = backend.task_queue
    await tq.enqueue([
        make_task(queue="high", run_at=NOW - 50),
        make_task(queue="high", run_at=NOW - 10),
        make_task(queue="high", run_at=NOW + 60),
        make_task(queue="low", status=TaskStatus.FAILED, finished_at=NOW, error=ERROR),
        make_task(queue="low", status=TaskStatus.WAITING, depends_on=["missing"]),
    ])  # fmt: skip
    counts = await admin(backend).queue_counts(NOW)
    assert counts == [
        QueueCounts(queue_name="high", counts={"enqueued": 3}, due=2, delayed=1,
                    oldest_due_at=NOW - 50),
        QueueCounts(queue_name="low", counts={"failed": 1, "waiting": 1}),
    ]  # fmt: skip


async def test_queue_counts_of_an_empty_store(backend: Backend) -> None:
    assert await admin(backend).queue_counts(NOW) == []


async def test_list_tasks_newest_first_with_filters(backend: Backend) -> None:
    first, second, third = (
        make_task(queue="a"),
        make_task(queue="b"),
        make_task(queue="a", status=TaskStatus.FAILED, finished_at=NOW),
    )
    await backend.task_queue.enqueue([first, second])
    await backend.task_queue.enqueue([third])
    adm = admin(backend)
    assert [t.id for t in await adm.list_tasks(None, None, 10)] == [third.id, second.id, first.id]
    assert [t.id for t in await adm.list_tasks(None, None, 2)] == [third.id, second.id]
    assert [t.id for t in await adm.list_tasks(None, "a", 10)] == [third.id, first.id]
    assert [t.id for t in await adm.list_tasks([TaskStatus.ENQUEUED], None, 10)] == [
        second.id,
        first.id,
    ]
    assert [t.id for t in await adm.list_tasks([TaskStatus.FAILED], "b", 10)] == []
    listed = await adm.list_tasks([TaskStatus.FAILED], "a", 1)
    assert listed == [third]


# -- requeue ------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [TaskStatus.FAILED, TaskStatus.EXPIRED])
async def test_requeue_makes_a_failed_or_expired_task_claimable(
    backend: Backend, status: TaskStatus
) -> None:
    task = make_task(
        status=status, finished_at=NOW - 5, started_at=NOW - 6, attempts=4, retry_count=3,
        error=ERROR, worker_id="w", expires_at=NOW - 7,
    )  # fmt: skip
    await backend.task_queue.enqueue([task])
    assert await admin(backend).requeue(task.id, NOW) is status
    stored = await backend.task_queue.get(task.id)
    assert stored is not None
    assert (stored.status, stored.run_at, stored.attempts, stored.retry_count) == (
        TaskStatus.ENQUEUED, NOW, 0, 0,
    )  # fmt: skip
    assert (stored.error, stored.finished_at, stored.started_at, stored.expires_at) == (
        None, None, None, None,
    )  # fmt: skip
    claimed = await backend.task_queue.claim(["default"], 5, "w2", NOW, NOW + 30)
    assert [t.id for t in claimed] == [task.id]


@pytest.mark.parametrize("status", [TaskStatus.ENQUEUED, TaskStatus.COMPLETED])
async def test_requeue_leaves_other_statuses_alone(backend: Backend, status: TaskStatus) -> None:
    task = make_task(status=status)
    await backend.task_queue.enqueue([task])
    assert await admin(backend).requeue(task.id, NOW + 100) is status
    assert await backend.task_queue.get(task.id) == task


async def test_requeue_an_unknown_task(backend: Backend) -> None:
    assert await admin(backend).requeue("nope", NOW) is None


# -- purge --------------------------------------------------------------------------------


async def test_purge_deletes_old_final_tasks_in_the_given_statuses(backend: Backend) -> None:
    old_done = make_task(status=TaskStatus.COMPLETED, finished_at=NOW - 100)
    new_done = make_task(status=TaskStatus.COMPLETED, finished_at=NOW)
    old_failed = make_task(status=TaskStatus.FAILED, finished_at=NOW - 100)
    pending = make_task()
    await backend.task_queue.enqueue([old_done, new_done, old_failed, pending])
    adm = admin(backend)
    statuses = [TaskStatus.COMPLETED, TaskStatus.ENQUEUED]  # enqueued is never purged
    assert await adm.purge_tasks(statuses, NOW - 10, dry_run=True) == [old_done.id]
    assert await backend.task_queue.get(old_done.id) is not None
    assert await adm.purge_tasks(statuses, NOW - 10) == [old_done.id]
    assert await backend.task_queue.get(old_done.id) is None
    assert await adm.purge_tasks(statuses, NOW - 10) == []
    remaining = {t.id for t in await adm.list_tasks(None, None, 10)}
    assert remaining == {new_done.id, old_failed.id, pending.id}


async def test_count_expired_results(backend: Backend) -> None:
    store = backend.result_store
    await store.put_many([
        make_result(expires_at=NOW - 1), make_result(expires_at=NOW + 1), make_result(),
    ])  # fmt: skip
    assert isinstance(store, ResultAdmin)
    assert await store.count_expired(NOW) == 1
    assert await store.purge_expired(NOW) == 1
    assert await store.count_expired(NOW) == 0


# -- event log ----------------------------------------------------------------------------


def event(task_id: str, offset: float, kind: EventType = EventType.ENQUEUED) -> TaskEvent:
    return TaskEvent(task_id=task_id, type=kind, timestamp=NOW + offset)


async def visible(log: EventLog, count: int) -> None:
    """Wait (up to 10 s) until the log shows ``count`` events.

    A log in commit order may hold back what it cannot order yet (PostgreSQL: events of
    transactions newer than the oldest one still open anywhere on the server, which other
    tests sharing the server may hold open for a moment).
    """
    async with asyncio.timeout(10):
        while len(await log.recent_events(None, count)) < count:  # noqa: ASYNC110 - polled
            await asyncio.sleep(0.01)


async def test_recent_events_in_append_order_with_a_cursor(backend: Backend) -> None:
    log = event_log(backend)
    assert await log.recent_events(None, 10) == []
    events = [event("a", 0), event("b", 1), event("a", 2, EventType.COMPLETED)]
    await backend.event_store.append(events[:2])
    await backend.event_store.append(events[2:])
    await visible(log, 3)
    last_two = await log.recent_events(None, 2)
    assert [e for _, e in last_two] == events[1:]
    everything = await log.recent_events(None, 10)
    assert [e for _, e in everything] == events
    cursors = [cursor for cursor, _ in everything]
    assert all(isinstance(cursor, str) and cursor for cursor in cursors)
    assert len(set(cursors)) == 3
    assert [e for _, e in await log.recent_events(cursors[0], 1)] == events[1:2]
    assert [e for _, e in await log.recent_events(cursors[0], 10)] == events[1:]
    assert await log.recent_events(cursors[-1], 10) == []
    await backend.event_store.append([event("c", 3)])
    await visible(log, 4)
    assert [e for _, e in await log.recent_events(cursors[-1], 10)] == [event("c", 3)]


async def test_recent_events_refuses_a_foreign_cursor(backend: Backend) -> None:
    with pytest.raises(ConfigurationError, match="not-a-cursor"):
        await event_log(backend).recent_events("not-a-cursor", 10)


async def test_recent_events_refuses_a_cursor_with_anything_after_it(backend: Backend) -> None:
    log = event_log(backend)
    await backend.event_store.append([event("a", 1)])
    await visible(log, 1)
    ((cursor, _),) = await log.recent_events(None, 1)
    for bad in (f"{cursor}\n", f"{cursor}²", f"{cursor}{'9' * 40}"):
        with pytest.raises(ConfigurationError) as caught:
            await log.recent_events(bad, 10)
        assert repr(bad) in str(caught.value)


async def test_a_follower_sees_every_event_once_while_writers_race(
    backend: Backend, make_backend: MakeBackend
) -> None:
    """Concurrent appends from two handles: following the cursors misses and repeats none."""
    other = await make_backend()
    log = event_log(backend)
    writers = 8
    per_writer = 25

    async def write(handle: Backend, writer: int) -> None:
        for i in range(per_writer):
            await handle.event_store.append([event(f"w{writer}", i)])

    total = writers * per_writer
    seen: list[TaskEvent] = []
    cursor: str | None = None  # the project's log starts empty
    appends = asyncio.gather(*(write(backend if w % 2 else other, w) for w in range(writers)))
    while not appends.done() or len(seen) < total:
        # Until the first event, read everything there is (more than will ever be); then
        # follow the cursor in small pages, as `omniq events tail --follow` does.
        page = (
            await log.recent_events(None, 10 * total)
            if cursor is None
            else (await log.recent_events(cursor, 7))
        )
        if page:
            cursor = page[-1][0]
            seen.extend(e for _, e in page)
        else:
            await asyncio.sleep(0.001)
        assert len(seen) <= total
    await appends
    keys = [(e.task_id, e.timestamp) for e in seen]
    assert len(keys) == len(set(keys)) == writers * per_writer
    for w in range(writers):  # each writer's events in its own order
        mine = [e.timestamp for e in seen if e.task_id == f"w{w}"]
        assert mine == sorted(mine)


async def test_delete_events_of_tasks(backend: Backend) -> None:
    log = event_log(backend)
    await backend.event_store.append([event("a", 0), event("b", 1), event("a", 2)])
    await visible(log, 3)
    assert await log.delete_events(["a", "zzz"]) == 2
    assert await backend.event_store.for_task("a") == []
    assert [e.task_id for _, e in await log.recent_events(None, 10)] == ["b"]
    _, last = (await log.recent_events(None, 1))[0]
    await backend.event_store.append([event("d", 3)])
    await visible(log, 2)
    after = (await log.recent_events(None, 2))[0][0]
    assert [e.task_id for _, e in await log.recent_events(after, 10)] == ["d"]
    assert last.task_id == "b"


@pytest.mark.parametrize("killed_at", ["delete_many", "delete_events", "purge_tasks"])
async def test_a_purge_killed_midway_leaves_nothing_the_next_purge_misses(
    backend: Backend, killed_at: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    done = make_task(status=TaskStatus.COMPLETED, finished_at=NOW - 100)
    await backend.task_queue.enqueue([done])
    await backend.result_store.put_many([make_result(done.id)])
    await backend.event_store.append([event(done.id, 0), event(done.id, 1, EventType.COMPLETED)])
    statuses = [TaskStatus.COMPLETED]
    store = {"delete_many": backend.result_store, "delete_events": backend.event_store,
             "purge_tasks": backend.task_queue}[killed_at]  # fmt: skip
    verb = getattr(store, killed_at)

    async def killed(*args: object, **kwargs: object) -> object:
        if kwargs.get("dry_run"):
            return await verb(*args, **kwargs)
        raise KeyboardInterrupt("killed here")  # the process dies at this step

    monkeypatch.setattr(store, killed_at, killed)
    with pytest.raises(KeyboardInterrupt):
        await purge_finished(
            backend.task_queue, backend.result_store, backend.event_store, statuses, NOW
        )
    monkeypatch.undo()
    # The next purge deletes whatever the first left: no result or event outlives its task.
    assert await purge_finished(
        backend.task_queue, backend.result_store, backend.event_store, statuses, NOW
    ) == [done.id]
    assert await backend.task_queue.get(done.id) is None
    assert await backend.result_store.get(done.id, NOW) is None
    assert await backend.event_store.for_task(done.id) == []
