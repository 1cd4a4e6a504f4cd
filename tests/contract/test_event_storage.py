"""The EventStorage contract, run against every backend."""

from __future__ import annotations

import asyncio

from omniq.models.event import EventType, TaskEvent
from omniq.storage.interfaces import Backend

from .records import NOW, MakeBackend, new_id


def event(task_id: str, kind: EventType, i: int = 0, **fields: str) -> TaskEvent:
    return TaskEvent(task_id=task_id, type=kind, timestamp=NOW + i, detail=f"#{i}", **fields)


async def test_for_unknown_task_is_empty(backend: Backend) -> None:
    assert await backend.event_store.for_task("missing") == []


async def test_append_round_trips_every_field(backend: Backend) -> None:
    full = TaskEvent(
        task_id=new_id(),
        type=EventType.FAILED,
        timestamp=NOW + 0.125,
        worker_id="worker-ü",
        error="ValueError: boom",
        detail="attempt 2 of 4",
    )
    bare = TaskEvent(task_id=full.task_id, type=EventType.ENQUEUED, timestamp=NOW)
    await backend.event_store.append([full, bare])
    assert await backend.event_store.for_task(full.task_id) == [full, bare]


async def test_append_keeps_order_across_appends(backend: Backend) -> None:
    task_id = new_id()
    # Timestamps deliberately not monotonic: order is append order, not time order.
    events = [
        event(task_id, EventType.ENQUEUED, 5),
        event(task_id, EventType.DEQUEUED, 1),
        event(task_id, EventType.EXECUTING, 3),
        event(task_id, EventType.RETRYING, 3, error="boom"),
        event(task_id, EventType.EXECUTING, 2),
        event(task_id, EventType.COMPLETED, 9),
    ]
    await backend.event_store.append(events[:2])
    await backend.event_store.append(events[2:3])
    await backend.event_store.append([])
    await backend.event_store.append(events[3:])
    assert await backend.event_store.for_task(task_id) == events


async def test_for_task_filters(backend: Backend) -> None:
    a, b = new_id(), new_id()
    batch_1 = [event(a, EventType.ENQUEUED, 0), event(b, EventType.ENQUEUED, 1)]
    batch_2 = [
        event(b, EventType.EXECUTING, 2),
        event(a, EventType.EXECUTING, 3),
        event(a, EventType.COMPLETED, 4),
        event(b, EventType.CANCELLED, 5),
    ]
    await backend.event_store.append(batch_1)
    await backend.event_store.append(batch_2)
    assert await backend.event_store.for_task(a) == [batch_1[0], batch_2[1], batch_2[2]]
    assert await backend.event_store.for_task(b) == [batch_1[1], batch_2[0], batch_2[3]]


async def test_concurrent_appends_all_stored(backend: Backend) -> None:
    store = backend.event_store
    shared = new_id()
    own = [new_id() for _ in range(50)]

    async def writer(n: int) -> None:
        for i in range(10):
            await store.append(
                [event(own[n], EventType.EXECUTING, i), event(shared, EventType.DEQUEUED, i)]
            )
            await asyncio.sleep(0)

    await asyncio.gather(*(writer(n) for n in range(50)))
    for task_id in own:
        assert await store.for_task(task_id) == [
            event(task_id, EventType.EXECUTING, i) for i in range(10)
        ]
    assert len(await store.for_task(shared)) == 500


async def test_other_instance_sees_events(backend: Backend, make_backend: MakeBackend) -> None:
    other = await make_backend()
    task_id = new_id()
    events = [event(task_id, EventType.ENQUEUED, 0), event(task_id, EventType.DEQUEUED, 1)]
    await backend.event_store.append(events[:1])
    await other.event_store.append(events[1:])
    assert await backend.event_store.for_task(task_id) == events
    assert await other.event_store.for_task(task_id) == events
