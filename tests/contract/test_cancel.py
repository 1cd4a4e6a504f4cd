"""The cancellation verbs of the TaskQueue contract, run against every backend."""

from __future__ import annotations

import pytest

from omniq.models.task import TaskError, TaskStatus
from omniq.storage.interfaces import Backend, TaskQueue
from omniq.storage.records import TaskRecord

from .records import NOW, MakeBackend, make_task, next_due

ERROR = TaskError(type="omniq.exceptions.TaskCancelledError", message="cancelled by request")
FAILURE = TaskError(type="builtins.ValueError", message="boom")


async def stored(tq: TaskQueue, task: TaskRecord) -> TaskRecord:
    record = await tq.get(task.id)
    assert record is not None
    return record


async def executing(tq: TaskQueue, worker: str = "A") -> TaskRecord:
    task = make_task()
    await tq.enqueue([task])
    [claimed] = await tq.claim(["default"], 1, worker, NOW, NOW + 30)
    assert claimed.id == task.id
    return task


# -- cancel: tasks not started ---------------------------------------------------------------


@pytest.mark.parametrize("status", [TaskStatus.ENQUEUED, TaskStatus.WAITING])
async def test_cancel_a_task_not_started(backend: Backend, status: TaskStatus) -> None:
    tq = backend.task_queue
    dep = make_task(run_at=NOW + 100)
    task = make_task(status=status, depends_on=[dep.id] if status is TaskStatus.WAITING else [])
    await tq.enqueue([dep, task])
    assert await tq.cancel(task.id, NOW + 1, ERROR) is status
    record = await stored(tq, task)
    assert record.status is TaskStatus.CANCELLED
    assert record.finished_at == NOW + 1
    assert record.error == ERROR
    assert record.cancel_requested is False
    # never claimed, never scheduled, never released
    assert [r.id for r in await tq.claim(["default"], 10, "A", NOW + 1000, NOW + 1030)] == [dep.id]
    assert await tq.complete_many([dep.id], "A", NOW + 1000) == [dep.id]
    assert await tq.release_dependents([dep.id]) == []
    assert await next_due(tq, ["default"]) is None


async def test_cancel_a_retrying_task(backend: Backend) -> None:
    tq = backend.task_queue
    task = await executing(tq)
    assert await tq.retry_later(task.id, "A", NOW + 50, FAILURE)
    assert await tq.cancel(task.id, NOW + 2, ERROR) is TaskStatus.RETRYING
    record = await stored(tq, task)
    assert record.status is TaskStatus.CANCELLED
    assert record.error == ERROR
    assert await tq.claim(["default"], 10, "A", NOW + 1000, NOW + 1030) == []
    assert await next_due(tq, ["default"]) is None


# -- cancel: executing tasks -----------------------------------------------------------------


async def test_cancel_an_executing_task_only_flags_it(backend: Backend) -> None:
    tq = backend.task_queue
    task = await executing(tq)
    assert await tq.cancel(task.id, NOW + 1, ERROR) is TaskStatus.EXECUTING
    record = await stored(tq, task)
    assert record.status is TaskStatus.EXECUTING
    assert record.cancel_requested is True
    assert record.finished_at is None
    assert record.error is None
    # still held: its lease can be renewed; asking again changes nothing
    assert await tq.extend_leases([task.id], "A", NOW + 60) == [task.id]
    assert await tq.cancel(task.id, NOW + 2, ERROR) is TaskStatus.EXECUTING


async def test_a_cancel_requested_task_can_only_end_cancelled(backend: Backend) -> None:
    tq = backend.task_queue
    task = await executing(tq)
    assert await tq.cancel(task.id, NOW, ERROR) is TaskStatus.EXECUTING
    assert await tq.complete_many([task.id], "A", NOW + 1) == []
    assert not await tq.retry_later(task.id, "A", NOW + 10, FAILURE)
    assert not await tq.finish(task.id, TaskStatus.COMPLETED, NOW + 1, worker_id="A")
    assert not await tq.finish(task.id, TaskStatus.FAILED, NOW + 1, worker_id="A", error=FAILURE)
    assert (await stored(tq, task)).status is TaskStatus.EXECUTING
    # ...and only by its holder
    assert not await tq.finish(task.id, TaskStatus.CANCELLED, NOW + 1, worker_id="B")
    assert await tq.finish(task.id, TaskStatus.CANCELLED, NOW + 2, worker_id="A", error=ERROR)
    record = await stored(tq, task)
    assert record.status is TaskStatus.CANCELLED
    assert record.finished_at == NOW + 2
    assert record.error == ERROR


async def test_complete_many_skips_only_the_cancel_requested(backend: Backend) -> None:
    tq = backend.task_queue
    tasks = [make_task() for _ in range(3)]
    await tq.enqueue(tasks)
    await tq.claim(["default"], 10, "A", NOW, NOW + 30)
    assert await tq.cancel(tasks[1].id, NOW, ERROR) is TaskStatus.EXECUTING
    completed = await tq.complete_many([t.id for t in tasks], "A", NOW + 1)
    assert sorted(completed) == sorted([tasks[0].id, tasks[2].id])


async def test_the_flag_survives_lease_recovery(backend: Backend) -> None:
    tq = backend.task_queue
    task = await executing(tq)
    assert await tq.cancel(task.id, NOW, ERROR) is TaskStatus.EXECUTING
    assert await tq.recover_expired_leases(NOW + 31) == [task.id]
    [again] = await tq.claim(["default"], 1, "B", NOW + 32, NOW + 62)
    assert again.id == task.id
    assert again.cancel_requested is True
    assert await tq.finish(task.id, TaskStatus.CANCELLED, NOW + 33, worker_id="B", error=ERROR)


# -- cancel: final and unknown tasks ---------------------------------------------------------


@pytest.mark.parametrize(
    "final", [TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.EXPIRED, TaskStatus.CANCELLED]
)
async def test_cancel_a_final_task_changes_nothing(backend: Backend, final: TaskStatus) -> None:
    tq = backend.task_queue
    task = make_task()
    await tq.enqueue([task])
    assert await tq.finish(task.id, final, NOW + 1, error=FAILURE)
    before = await stored(tq, task)
    assert await tq.cancel(task.id, NOW + 5, ERROR) is final
    assert await stored(tq, task) == before


async def test_cancel_an_unknown_task(backend: Backend) -> None:
    assert await backend.task_queue.cancel("missing", NOW, ERROR) is None


# -- requested_cancellations -----------------------------------------------------------------


async def test_requested_cancellations(backend: Backend, make_backend: MakeBackend) -> None:
    tq = backend.task_queue
    tasks = [make_task() for _ in range(3)]
    await tq.enqueue(tasks)
    await tq.claim(["default"], 10, "A", NOW, NOW + 30)
    assert await tq.requested_cancellations([t.id for t in tasks]) == []
    other = await make_backend()
    assert await other.task_queue.cancel(tasks[0].id, NOW, ERROR) is TaskStatus.EXECUTING
    assert await other.task_queue.cancel(tasks[2].id, NOW, ERROR) is TaskStatus.EXECUTING
    found = await tq.requested_cancellations([t.id for t in tasks] + ["missing"])
    assert sorted(found) == sorted([tasks[0].id, tasks[2].id])
    assert await tq.requested_cancellations([]) == []


async def test_requested_cancellations_of_many_ids(backend: Backend) -> None:
    tq = backend.task_queue
    tasks = [make_task() for _ in range(700)]
    await tq.enqueue(tasks)
    await tq.claim(["default"], 1000, "A", NOW, NOW + 30)
    flagged = [tasks[0].id, tasks[650].id]
    for task_id in flagged:
        assert await tq.cancel(task_id, NOW, ERROR) is TaskStatus.EXECUTING
    assert sorted(await tq.requested_cancellations([t.id for t in tasks])) == sorted(flagged)
