"""Writes that carry their events: the state change and its log entries land together.

A backend declaring ``fused_events`` takes the events of an enqueue, claim, completion,
retry or lease recovery in the same atomic write, and only for the tasks the write really
changed; one declaring ``fused_results`` stores results with the completions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest

from omniq.models.event import EventType, TaskEvent
from omniq.models.task import TaskStatus
from omniq.storage.admin import TaskAdmin
from omniq.storage.interfaces import Backend
from omniq.storage.records import ResultRecord, TaskRecord

from .records import NOW, make_task

pytestmark = pytest.mark.capability("fused_events")


def events_of(event_type: EventType, worker: str) -> Callable[[Sequence[Any]], list[TaskEvent]]:
    def build(changed: Sequence[TaskRecord] | Sequence[str]) -> list[TaskEvent]:
        task_ids = [item if isinstance(item, str) else item.id for item in changed]
        return [
            TaskEvent(task_id=task_id, type=event_type, timestamp=NOW, worker_id=worker)
            for task_id in task_ids
        ]

    return build


async def logged(backend: Backend, task_id: str) -> list[EventType]:
    return [event.type for event in await backend.event_store.for_task(task_id)]


async def test_the_backend_declares_fused_events(backend: Backend) -> None:
    assert backend.capabilities.fused_events


async def test_enqueue_writes_its_events(backend: Backend) -> None:
    task = make_task()
    event = TaskEvent(task_id=task.id, type=EventType.ENQUEUED, timestamp=NOW)
    await backend.task_queue.enqueue([task], [event])
    assert await logged(backend, task.id) == [EventType.ENQUEUED]


async def test_claim_writes_events_of_the_claimed_tasks_only(backend: Backend) -> None:
    queue = backend.task_queue
    due, later = make_task(), make_task(run_at=NOW + 60)
    await queue.enqueue([due, later])
    claimed = await queue.claim(
        ["default"], 10, "w1", NOW, NOW + 30, events_for=events_of(EventType.DEQUEUED, "w1")
    )
    assert [record.id for record in claimed] == [due.id]
    assert await logged(backend, due.id) == [EventType.DEQUEUED]
    assert await logged(backend, later.id) == []


async def test_claim_of_nothing_writes_nothing(backend: Backend) -> None:
    calls: list[object] = []

    def never(changed: object) -> list[TaskEvent]:
        calls.append(changed)
        return []

    assert await backend.task_queue.claim(["default"], 10, "w1", NOW, NOW + 30, never) == []
    assert calls == []


async def test_complete_many_writes_events_of_the_completed_tasks_only(backend: Backend) -> None:
    queue = backend.task_queue
    mine, theirs = make_task(), make_task()
    await queue.enqueue([mine])
    await queue.claim(["default"], 1, "w1", NOW, NOW + 30)
    await queue.enqueue([theirs])
    await queue.claim(["default"], 1, "w2", NOW, NOW + 30)

    done = await queue.complete_many(
        [mine.id, theirs.id], "w1", NOW + 1, events_for=events_of(EventType.COMPLETED, "w1")
    )

    assert done == [mine.id]
    assert await logged(backend, mine.id) == [EventType.COMPLETED]
    assert await logged(backend, theirs.id) == []  # not this worker's: no status, no event
    stored = await queue.get(theirs.id)
    assert stored is not None
    assert stored.status is TaskStatus.EXECUTING


async def test_recovery_writes_events_of_the_recovered_tasks_only(backend: Backend) -> None:
    queue = backend.task_queue
    expired, alive = make_task(), make_task()
    await queue.enqueue([expired])
    await queue.claim(["default"], 1, "dead", NOW, NOW + 1)
    await queue.enqueue([alive])
    await queue.claim(["default"], 1, "live", NOW, NOW + 600)

    recovered = await queue.recover_expired_leases(
        NOW + 2, events_for=events_of(EventType.RETRYING, "rescuer")
    )

    assert recovered == [expired.id]
    assert await logged(backend, expired.id) == [EventType.RETRYING]
    assert await logged(backend, alive.id) == []


async def test_requeue_writes_its_event_only_when_it_requeues(backend: Backend) -> None:
    queue = backend.task_queue
    assert isinstance(queue, TaskAdmin)
    failed, waiting = make_task(), make_task()
    await queue.enqueue([failed])
    await queue.claim(["default"], 1, "w1", NOW, NOW + 30)
    assert await queue.finish(failed.id, TaskStatus.FAILED, NOW + 1, worker_id="w1")
    await queue.enqueue([waiting])
    befores: list[TaskStatus] = []

    def enqueued(before: TaskStatus) -> list[TaskEvent]:
        befores.append(before)
        return events_of(EventType.ENQUEUED, "admin")([failed.id])

    assert await queue.requeue(failed.id, NOW + 2, enqueued) is TaskStatus.FAILED
    assert await queue.requeue(waiting.id, NOW + 2, enqueued) is TaskStatus.ENQUEUED

    assert befores == [TaskStatus.FAILED]  # called for the re-queued task only
    assert await logged(backend, failed.id) == [EventType.ENQUEUED]
    assert await logged(backend, waiting.id) == []


@pytest.mark.capability("fused_results")
async def test_complete_many_stores_the_results_of_the_completed_tasks_only(
    backend: Backend,
) -> None:
    queue = backend.task_queue
    mine, theirs = make_task(), make_task()
    await queue.enqueue([mine])
    await queue.claim(["default"], 1, "w1", NOW, NOW + 30)
    await queue.enqueue([theirs])
    await queue.claim(["default"], 1, "w2", NOW, NOW + 30)
    results = [
        ResultRecord(task_id=task.id, payload=b"value", created_at=NOW, expires_at=None)
        for task in (mine, theirs)
    ]

    done = await queue.complete_many([mine.id, theirs.id], "w1", NOW + 1, results=results)

    assert done == [mine.id]
    stored = await backend.result_store.get(mine.id, NOW + 2)
    assert stored is not None
    assert stored.payload == b"value"
    assert await backend.result_store.get(theirs.id, NOW + 2) is None  # not completed here


async def test_release_writes_events_of_the_released_tasks_only(backend: Backend) -> None:
    queue = backend.task_queue
    first, other = make_task(), make_task()
    ready = make_task(status=TaskStatus.WAITING, depends_on=[first.id])
    still = make_task(status=TaskStatus.WAITING, depends_on=[first.id, other.id])
    await queue.enqueue([first, other, ready, still])
    await queue.claim(["default"], 1, "w1", NOW, NOW + 30)
    assert await queue.complete_many([first.id], "w1", NOW + 1) == [first.id]

    released = await queue.release_dependents(
        [first.id], events_for=events_of(EventType.ENQUEUED, "w1")
    )

    assert released == [ready.id]
    assert await logged(backend, ready.id) == [EventType.ENQUEUED]
    assert await logged(backend, still.id) == []  # still waiting for "other": no event


async def test_finish_writes_its_event_only_when_it_finishes(backend: Backend) -> None:
    queue = backend.task_queue
    mine, theirs = make_task(), make_task()
    await queue.enqueue([mine])
    await queue.claim(["default"], 1, "w1", NOW, NOW + 30)
    await queue.enqueue([theirs])
    await queue.claim(["default"], 1, "w2", NOW, NOW + 30)

    def failed(task_id: str) -> list[TaskEvent]:
        return [TaskEvent(task_id=task_id, type=EventType.FAILED, timestamp=NOW, worker_id="w1")]

    assert await queue.finish(mine.id, TaskStatus.FAILED, NOW + 1, worker_id="w1",
                              events=failed(mine.id))  # fmt: skip
    assert await logged(backend, mine.id) == [EventType.FAILED]
    refused = await queue.finish(theirs.id, TaskStatus.FAILED, NOW + 1, worker_id="w1",
                                 events=failed(theirs.id))  # fmt: skip
    assert not refused  # another worker holds it: no status, no event
    assert await logged(backend, theirs.id) == []
    stored = await queue.get(theirs.id)
    assert stored is not None
    assert stored.status is TaskStatus.EXECUTING
