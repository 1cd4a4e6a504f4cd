"""The operating verbs (worker registry, counts, listing, requeue, purge, event log).

Run against every backend; see :mod:`omniq.storage.admin` for the contract.
"""

from __future__ import annotations

import pytest

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


async def test_recent_events_in_append_order_with_a_cursor(backend: Backend) -> None:
    log = event_log(backend)
    assert await log.recent_events(None, 10) == []
    events = [event("a", 0), event("b", 1), event("a", 2, EventType.COMPLETED)]
    await backend.event_store.append(events[:2])
    await backend.event_store.append(events[2:])
    last_two = await log.recent_events(None, 2)
    assert [e for _, e in last_two] == events[1:]
    everything = await log.recent_events(0, 10)
    assert [e for _, e in everything] == events
    positions = [p for p, _ in everything]
    assert positions == sorted(positions)
    assert len(set(positions)) == 3
    assert [e for _, e in await log.recent_events(positions[0], 1)] == events[1:2]
    assert await log.recent_events(positions[-1], 10) == []
    await backend.event_store.append([event("c", 3)])
    assert [e for _, e in await log.recent_events(positions[-1], 10)] == [event("c", 3)]


async def test_delete_events_of_tasks(backend: Backend) -> None:
    log = event_log(backend)
    await backend.event_store.append([event("a", 0), event("b", 1), event("a", 2)])
    assert await log.delete_events(["a", "zzz"]) == 2
    assert await backend.event_store.for_task("a") == []
    assert [e.task_id for _, e in await log.recent_events(None, 10)] == ["b"]
    _, last = (await log.recent_events(None, 1))[0]
    await backend.event_store.append([event("d", 3)])
    after = (await log.recent_events(None, 2))[0][0]
    assert [e.task_id for _, e in await log.recent_events(after, 10)] == ["d"]
    assert last.task_id == "b"
