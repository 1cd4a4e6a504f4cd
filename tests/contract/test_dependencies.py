"""The dependency verbs of the TaskQueue contract, run against every backend."""

from __future__ import annotations

from typing import Any

import pytest

from omniq.exceptions import OmniQError
from omniq.models.task import TaskError, TaskStatus
from omniq.storage.interfaces import Backend, TaskQueue
from omniq.storage.records import TaskRecord

from .records import NOW, MakeBackend, make_task, new_id, next_due

ERROR = TaskError(type="omniq.exceptions.TaskCancelledError", message="dependency failed")


def waiting(*depends_on: str, **fields: Any) -> TaskRecord:
    return make_task(status=TaskStatus.WAITING, depends_on=list(depends_on), **fields)


async def complete(tq: TaskQueue, *tasks: TaskRecord, worker: str = "w1") -> None:
    """Claim and complete exactly these (enqueued, due) tasks."""
    claimed = await tq.claim(["default"], 1000, worker, NOW, NOW + 30)
    assert sorted(r.id for r in claimed) == sorted(t.id for t in tasks)
    assert sorted(await tq.complete_many([t.id for t in tasks], worker, NOW)) == sorted(
        t.id for t in tasks
    )


async def status(tq: TaskQueue, task: TaskRecord) -> TaskStatus:
    stored = await tq.get(task.id)
    assert stored is not None
    return stored.status


# -- enqueue ---------------------------------------------------------------------------------


async def test_waiting_task_round_trips_and_is_not_claimable(backend: Backend) -> None:
    tq = backend.task_queue
    dep = make_task()
    await tq.enqueue([dep])
    task = waiting(dep.id, run_at=NOW - 5)
    await tq.enqueue([task])
    assert await tq.get(task.id) == task
    claimed = await tq.claim(["default"], 10, "w1", NOW + 1000, NOW + 1030)
    assert [r.id for r in claimed] == [dep.id]
    assert await next_due(tq, ["default"]) is None


async def test_a_task_can_be_stored_cancelled(backend: Backend) -> None:
    tq = backend.task_queue
    task = make_task(status=TaskStatus.CANCELLED, finished_at=NOW, error=ERROR)
    await tq.enqueue([task])
    assert await tq.get(task.id) == task
    assert await tq.claim(["default"], 10, "w1", NOW + 1000, NOW + 1030) == []
    assert await next_due(tq, ["default"]) is None


async def test_failed_enqueue_records_no_dependency(backend: Backend) -> None:
    tq = backend.task_queue
    dep, existing = make_task(), make_task()
    await tq.enqueue([dep, existing])
    task = waiting(dep.id)
    with pytest.raises(OmniQError):
        await tq.enqueue([task, make_task(existing.id)])
    assert await tq.get(task.id) is None
    await complete(tq, dep, existing)
    assert await tq.release_dependents([dep.id]) == []


# -- release_dependents ----------------------------------------------------------------------


async def test_release_waits_for_every_dependency(backend: Backend) -> None:
    tq = backend.task_queue
    first, second = make_task(), make_task()
    await tq.enqueue([first, second])
    task = waiting(first.id, second.id, run_at=NOW - 5)
    await tq.enqueue([task])
    claimed = await tq.claim(["default"], 10, "w1", NOW, NOW + 30)
    assert sorted(r.id for r in claimed) == sorted([first.id, second.id])
    assert await tq.complete_many([first.id], "w1", NOW) == [first.id]
    assert await tq.release_dependents([first.id]) == []
    assert await status(tq, task) is TaskStatus.WAITING
    assert await tq.complete_many([second.id], "w1", NOW) == [second.id]
    assert await tq.release_dependents([second.id]) == [task.id]
    stored = await tq.get(task.id)
    assert stored is not None
    assert stored.status is TaskStatus.ENQUEUED
    assert stored.run_at == NOW - 5  # keeps its run_at
    assert await next_due(tq, ["default"]) == NOW - 5
    [claimed_task] = await tq.claim(["default"], 10, "w2", NOW, NOW + 30)
    assert claimed_task.id == task.id
    assert claimed_task.depends_on == [first.id, second.id]


async def test_release_is_idempotent(backend: Backend) -> None:
    tq = backend.task_queue
    dep = make_task()
    await tq.enqueue([dep])
    task = waiting(dep.id)
    await tq.enqueue([task])
    await complete(tq, dep)
    assert await tq.release_dependents([dep.id, dep.id]) == [task.id]
    assert await tq.release_dependents([dep.id]) == []
    assert await status(tq, task) is TaskStatus.ENQUEUED


async def test_release_of_a_task_that_is_not_completed_changes_nothing(backend: Backend) -> None:
    tq = backend.task_queue
    dep = make_task()
    await tq.enqueue([dep])
    task = waiting(dep.id)
    await tq.enqueue([task])
    assert await tq.release_dependents([dep.id]) == []
    assert await tq.finish(dep.id, TaskStatus.FAILED, NOW, error=ERROR)
    assert await tq.release_dependents([dep.id]) == []
    assert await status(tq, task) is TaskStatus.WAITING


async def test_release_after_enqueue_of_an_already_completed_dependency(backend: Backend) -> None:
    """The core re-checks after storing a waiting task: releasing then must work."""
    tq = backend.task_queue
    dep = make_task()
    await tq.enqueue([dep])
    await complete(tq, dep)
    task = waiting(dep.id)
    await tq.enqueue([task])
    assert await tq.release_dependents([dep.id]) == [task.id]


async def test_release_only_waiting_dependents(backend: Backend) -> None:
    tq = backend.task_queue
    dep = make_task()
    await tq.enqueue([dep])
    kept, cancelled = waiting(dep.id), waiting(dep.id)
    await tq.enqueue([kept, cancelled])
    assert await tq.cancel(cancelled.id, NOW, ERROR) is TaskStatus.WAITING
    await complete(tq, dep)
    assert await tq.release_dependents([dep.id]) == [kept.id]
    assert await status(tq, cancelled) is TaskStatus.CANCELLED


async def test_release_many_dependents_and_many_completions(backend: Backend) -> None:
    tq = backend.task_queue
    deps = [make_task() for _ in range(600)]
    await tq.enqueue(deps)
    fan_in = waiting(*(d.id for d in deps))
    fan_out = [waiting(deps[0].id) for _ in range(30)]
    unrelated = waiting(new_id("elsewhere"))
    await tq.enqueue([fan_in, *fan_out, unrelated])
    await complete(tq, *deps)
    released = await tq.release_dependents([d.id for d in deps])
    assert sorted(released) == sorted([fan_in.id, *(t.id for t in fan_out)])
    assert await status(tq, unrelated) is TaskStatus.WAITING


async def test_release_without_dependents(backend: Backend) -> None:
    tq = backend.task_queue
    assert await tq.release_dependents([]) == []
    assert await tq.release_dependents(["missing"]) == []


async def test_release_seen_by_another_instance(
    backend: Backend, make_backend: MakeBackend
) -> None:
    other = await make_backend()
    dep = make_task()
    await backend.task_queue.enqueue([dep])
    task = waiting(dep.id)
    await backend.task_queue.enqueue([task])
    await complete(other.task_queue, dep, worker="other")
    assert await other.task_queue.release_dependents([dep.id]) == [task.id]
    assert await status(backend.task_queue, task) is TaskStatus.ENQUEUED


# -- cancel_dependents -----------------------------------------------------------------------


async def test_cancel_dependents_is_transitive_nearest_first(backend: Backend) -> None:
    tq = backend.task_queue
    root = make_task()
    await tq.enqueue([root])
    child = waiting(root.id)
    await tq.enqueue([child])
    other_root = make_task()
    await tq.enqueue([other_root])
    grandchild = waiting(child.id, other_root.id)  # also waits for an unrelated task
    await tq.enqueue([grandchild])
    great = waiting(grandchild.id, child.id)  # a diamond: reached twice
    unrelated = waiting(other_root.id)
    await tq.enqueue([great, unrelated])
    assert await tq.finish(root.id, TaskStatus.FAILED, NOW, error=ERROR)
    cancelled = await tq.cancel_dependents(root.id, ERROR, NOW + 1)
    assert cancelled == [child.id, grandchild.id, great.id]
    for task in (child, grandchild, great):
        stored = await tq.get(task.id)
        assert stored is not None
        assert stored.status is TaskStatus.CANCELLED
        assert stored.finished_at == NOW + 1
        assert stored.error == ERROR
    assert await status(tq, unrelated) is TaskStatus.WAITING
    assert await status(tq, other_root) is TaskStatus.ENQUEUED
    # nothing left to cancel, and cancelled dependents are never released
    assert await tq.cancel_dependents(root.id, ERROR, NOW + 2) == []
    await complete(tq, other_root)
    assert await tq.release_dependents([other_root.id]) == [unrelated.id]


async def test_cancel_dependents_leaves_other_statuses_alone(backend: Backend) -> None:
    tq = backend.task_queue
    dep = make_task()
    await tq.enqueue([dep])
    done_earlier = make_task(status=TaskStatus.CANCELLED, depends_on=[dep.id], finished_at=NOW)
    await tq.enqueue([done_earlier])
    assert await tq.cancel_dependents(dep.id, ERROR, NOW) == []
    stored = await tq.get(done_earlier.id)
    assert stored is not None
    assert stored.error is None
    assert await tq.cancel_dependents("missing", ERROR, NOW) == []


# -- stuck_waiting (a crash between a final status and the dependents' release) ---------------


async def test_stuck_waiting_finds_tasks_whose_wait_is_over(backend: Backend) -> None:
    tq = backend.task_queue
    done, failing, pending = make_task(), make_task(), make_task()
    await tq.enqueue([done, failing, pending])
    releasable = waiting(done.id)
    doomed = waiting(failing.id, done.id)
    still_waiting = waiting(pending.id, done.id)
    await tq.enqueue([releasable, doomed, still_waiting])
    assert await tq.stuck_waiting(10) == []
    claimed = await tq.claim(["default"], 10, "w1", NOW, NOW + 30)
    assert len(claimed) == 3
    # Final statuses written without releasing or cancelling anyone: as if the worker died.
    assert await tq.complete_many([done.id], "w1", NOW) == [done.id]
    assert await tq.finish(failing.id, TaskStatus.FAILED, NOW, worker_id="w1", error=ERROR)
    stuck = await tq.stuck_waiting(10)
    assert sorted(r.id for r in stuck) == sorted([releasable.id, doomed.id])
    assert all(r.status is TaskStatus.WAITING for r in stuck)
    assert len(await tq.stuck_waiting(1)) == 1
    assert await status(tq, releasable) is TaskStatus.WAITING  # read-only
