"""The TaskQueue contract, run against every backend."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter

import pytest

from omniq.exceptions import OmniQError
from omniq.models.task import TaskError, TaskStatus
from omniq.storage.interfaces import Backend, EventStorage, ResultStorage, TaskQueue
from omniq.storage.records import TaskRecord

from .records import NOW, MakeBackend, make_task, new_id, next_due

LEASE = NOW + 30.0
ERROR = TaskError(type="builtins.ValueError", message="boom", traceback="Traceback...\n")


async def claim(
    queue: TaskQueue,
    queues: list[str] | None = None,
    *,
    limit: int = 100,
    worker: str = "w1",
    now: float = NOW,
    lease_until: float | None = None,
) -> list[TaskRecord]:
    return await queue.claim(
        queues or ["default"],
        limit,
        worker,
        now,
        now + 30.0 if lease_until is None else lease_until,
    )


def ids(records: list[TaskRecord]) -> list[str]:
    return [record.id for record in records]


# -- the bundle ------------------------------------------------------------------------------


async def test_backend_satisfies_protocols(backend: Backend) -> None:
    assert isinstance(backend, Backend)
    assert isinstance(backend.task_queue, TaskQueue)
    assert isinstance(backend.result_store, ResultStorage)
    assert isinstance(backend.event_store, EventStorage)
    assert isinstance(backend.channel, str)
    assert backend.channel


async def test_initialize_is_idempotent(backend: Backend) -> None:
    await backend.initialize_async()
    task = make_task()
    await backend.task_queue.enqueue([task])
    await backend.initialize_async()
    assert await backend.task_queue.get(task.id) == task


# -- enqueue / get ---------------------------------------------------------------------------


async def test_enqueue_get_round_trips_every_field(backend: Backend) -> None:
    task = TaskRecord(
        id=new_id(),
        func_name="pkg.mod:Class.method",
        payload=bytes(range(256)),
        queue_name="emails",
        priority=-7,
        status=TaskStatus.ENQUEUED,
        created_at=NOW - 1.25,
        run_at=NOW + 0.5,
        expires_at=NOW + 3600.125,
        name="send",
        description="send a mail — ünïcode",
        tags=["a", "b b", "ç"],
        max_retries=5,
        retry_count=0,
        attempts=0,
        retry_delay=1.5,
        retry_backoff=2.0,
        retry_max_delay=60.0,
        result_ttl=86400.0,
        store_result=False,
        started_at=None,
        finished_at=None,
        worker_id=None,
        lease_expires_at=None,
        error=None,
    )
    await backend.task_queue.enqueue([task])
    stored = await backend.task_queue.get(task.id)
    assert stored == task
    assert stored is not None
    assert isinstance(stored.payload, bytes)
    assert stored.error is None
    assert stored.tags == ["a", "b b", "ç"]


async def test_enqueue_get_round_trips_defaults(backend: Backend) -> None:
    task = make_task()
    await backend.task_queue.enqueue([task])
    assert await backend.task_queue.get(task.id) == task


async def test_get_unknown_is_none(backend: Backend) -> None:
    assert await backend.task_queue.get("no-such-task") is None


async def test_enqueue_empty_batch_is_a_no_op(backend: Backend) -> None:
    await backend.task_queue.enqueue([])
    assert await claim(backend.task_queue) == []


async def test_enqueue_several(backend: Backend) -> None:
    tasks = [make_task() for _ in range(5)]
    await backend.task_queue.enqueue(tasks)
    for task in tasks:
        assert await backend.task_queue.get(task.id) == task


async def test_enqueue_duplicate_in_batch_stores_none(backend: Backend) -> None:
    first, dup = make_task(), make_task()
    with pytest.raises(OmniQError):
        await backend.task_queue.enqueue([first, dup, make_task(dup.id)])
    assert await backend.task_queue.get(first.id) is None
    assert await backend.task_queue.get(dup.id) is None
    assert await claim(backend.task_queue) == []


async def test_enqueue_existing_id_stores_none(backend: Backend) -> None:
    existing = make_task(priority=1)
    await backend.task_queue.enqueue([existing])
    fresh = make_task()
    with pytest.raises(OmniQError):
        await backend.task_queue.enqueue([fresh, make_task(existing.id, priority=9)])
    assert await backend.task_queue.get(fresh.id) is None
    assert await backend.task_queue.get(existing.id) == existing
    assert ids(await claim(backend.task_queue)) == [existing.id]


async def test_returned_records_are_copies(backend: Backend) -> None:
    task = make_task(tags=["x"])
    await backend.task_queue.enqueue([task])
    task.tags.append("mutated-input")
    got = await backend.task_queue.get(task.id)
    assert got is not None
    assert got.tags == ["x"]
    got.tags.append("mutated-output")
    got.priority = 99
    again = await backend.task_queue.get(task.id)
    assert again is not None
    assert again.tags == ["x"]
    assert again.priority == 0


# -- claim -----------------------------------------------------------------------------------


async def test_claim_updates_the_record(backend: Backend) -> None:
    task = make_task()
    await backend.task_queue.enqueue([task])
    [claimed] = await backend.task_queue.claim(["default"], 10, "worker-a", NOW + 1, NOW + 61)
    assert claimed.id == task.id
    assert claimed.status == TaskStatus.EXECUTING
    assert claimed.attempts == 1
    assert claimed.worker_id == "worker-a"
    assert claimed.started_at == NOW + 1
    assert claimed.lease_expires_at == NOW + 61
    assert claimed.payload == task.payload
    assert await backend.task_queue.get(task.id) == claimed


async def test_claim_serves_queues_in_given_order(backend: Backend) -> None:
    low = [make_task(queue="low", priority=100) for _ in range(3)]
    high = [make_task(queue="high", priority=-100) for _ in range(3)]
    await backend.task_queue.enqueue(low + high)
    claimed = await claim(backend.task_queue, ["high", "low"], limit=4)
    assert ids(claimed) == ids(high) + ids(low[:1])
    assert ids(await claim(backend.task_queue, ["high", "low"])) == ids(low[1:])


async def test_claim_order_within_a_queue(backend: Backend) -> None:
    # Enqueued in scrambled order; expected: priority desc, run_at asc, enqueue order.
    p5_late = make_task(priority=5, run_at=NOW - 1)
    p0_a = make_task(priority=0, run_at=NOW - 5)
    p5_early = make_task(priority=5, run_at=NOW - 9)
    p0_b = make_task(priority=0, run_at=NOW - 5)
    neg = make_task(priority=-3, run_at=NOW - 100)
    p0_early = make_task(priority=0, run_at=NOW - 6)
    p5_late_2 = make_task(priority=5, run_at=NOW - 1)
    await backend.task_queue.enqueue([p5_late, p0_a, p5_early])
    await backend.task_queue.enqueue([p0_b, neg, p0_early, p5_late_2])
    expected = [p5_early, p5_late, p5_late_2, p0_early, p0_a, p0_b, neg]
    got: list[TaskRecord] = []
    for _ in range(4):  # small batches must continue the same order
        got += await claim(backend.task_queue, limit=2)
    assert ids(got) == ids(expected)


async def test_enqueue_order_breaks_ties_across_many_tasks(backend: Backend) -> None:
    tasks = [make_task() for _ in range(60)]
    for start in range(0, 60, 7):
        await backend.task_queue.enqueue(tasks[start : start + 7])
    assert ids(await claim(backend.task_queue, limit=60)) == ids(tasks)


async def test_claim_respects_limit(backend: Backend) -> None:
    tasks = [make_task() for _ in range(5)]
    await backend.task_queue.enqueue(tasks)
    assert len(await claim(backend.task_queue, limit=1)) == 1
    assert len(await claim(backend.task_queue, limit=3)) == 3
    assert len(await claim(backend.task_queue, limit=3)) == 1
    assert await claim(backend.task_queue, limit=3) == []


async def test_claim_skips_tasks_not_due(backend: Backend) -> None:
    due = make_task(run_at=NOW)
    later = make_task(run_at=NOW + 10)
    await backend.task_queue.enqueue([later, due])
    assert ids(await claim(backend.task_queue)) == [due.id]
    assert await claim(backend.task_queue, now=NOW + 9.99) == []
    assert ids(await claim(backend.task_queue, now=NOW + 10)) == [later.id]


async def test_delayed_high_priority_does_not_block_due_low_priority(backend: Backend) -> None:
    delayed = [make_task(priority=10, run_at=NOW + 100) for _ in range(20)]
    due = make_task(priority=0, run_at=NOW)
    await backend.task_queue.enqueue([*delayed, due])
    assert ids(await claim(backend.task_queue, limit=1)) == [due.id]
    assert await claim(backend.task_queue) == []
    assert ids(await claim(backend.task_queue, now=NOW + 100)) == ids(delayed)


async def test_claim_handles_time_going_backwards(backend: Backend) -> None:
    # Callers' clocks may differ: a task seen as due by one caller is not due for an earlier now.
    early = make_task(priority=0, run_at=NOW)
    late = make_task(priority=5, run_at=NOW + 50)
    await backend.task_queue.enqueue([early, late])
    assert await claim(backend.task_queue, now=NOW - 1) == []
    assert ids(await claim(backend.task_queue, now=NOW + 50, limit=1)) == [late.id]
    assert ids(await claim(backend.task_queue, now=NOW)) == [early.id]
    other = make_task(priority=9, run_at=NOW + 20)
    await backend.task_queue.enqueue([other])
    assert await claim(backend.task_queue, now=NOW + 19) == []
    assert ids(await claim(backend.task_queue, now=NOW + 20)) == [other.id]


async def test_claim_ignores_unlisted_queues(backend: Backend) -> None:
    task = make_task(queue="other")
    await backend.task_queue.enqueue([task])
    assert await claim(backend.task_queue, ["default"]) == []
    assert await claim(backend.task_queue, ["default", "nope"]) == []
    assert ids(await claim(backend.task_queue, ["other"])) == [task.id]


async def test_claim_only_enqueued_or_retrying(backend: Backend) -> None:
    tq = backend.task_queue
    cancelled, completed, executing, retrying, enqueued = (make_task() for _ in range(5))
    await tq.enqueue([cancelled, completed, executing, retrying, enqueued])
    assert await tq.finish(cancelled.id, TaskStatus.CANCELLED, NOW)
    assert await tq.finish(completed.id, TaskStatus.COMPLETED, NOW)
    assert ids(await claim(tq, limit=2, worker="holder")) == [executing.id, retrying.id]
    assert await tq.retry_later(retrying.id, "holder", NOW, None)
    claimed = await claim(tq, now=NOW + 1000)
    assert ids(claimed) == [retrying.id, enqueued.id]
    assert claimed[0].status == TaskStatus.EXECUTING
    assert claimed[0].attempts == 2
    assert await claim(tq, now=NOW + 2000) == []


async def test_claim_of_empty_store(backend: Backend) -> None:
    assert await claim(backend.task_queue, ["a", "b"]) == []


async def test_many_waiting_tasks(backend: Backend) -> None:
    tasks = [make_task(priority=i % 3, run_at=NOW - (i % 7)) for i in range(2000)]
    await backend.task_queue.enqueue(tasks)
    expected = sorted(range(len(tasks)), key=lambda i: (-tasks[i].priority, tasks[i].run_at, i))
    got: list[TaskRecord] = []
    while batch := await claim(backend.task_queue, limit=150):
        got += batch
    assert ids(got) == [tasks[i].id for i in expected]


# -- concurrency -----------------------------------------------------------------------------


async def test_no_double_claim_across_coroutines_and_threads(backend: Backend) -> None:
    tq = backend.task_queue
    tasks = [make_task(queue="busy") for _ in range(500)]
    await tq.enqueue(tasks)
    claims: list[tuple[str, str]] = []  # (task id, worker)
    claims_lock = threading.Lock()
    start = threading.Event()

    async def drain(worker: str) -> None:
        while batch := await tq.claim(["busy"], 3, worker, NOW, LEASE):
            with claims_lock:
                claims.extend((record.id, worker) for record in batch)
            await asyncio.sleep(0)

    def thread_main(worker: str) -> None:
        start.wait()
        asyncio.run(drain(worker))

    threads = [threading.Thread(target=thread_main, args=(f"thread-{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    start.set()
    try:
        await asyncio.gather(*(drain(f"coro-{i}") for i in range(50)))
    finally:
        for thread in threads:
            await asyncio.to_thread(thread.join, 60)
    assert not any(thread.is_alive() for thread in threads)

    counts = Counter(task_id for task_id, _ in claims)
    assert sorted(counts) == sorted(ids(tasks))
    assert set(counts.values()) == {1}
    for task_id, worker in claims:
        stored = await tq.get(task_id)
        assert stored is not None
        assert stored.worker_id == worker
        assert stored.attempts == 1


# -- leases ----------------------------------------------------------------------------------


async def test_extend_leases_only_renews_own_tasks(backend: Backend) -> None:
    tq = backend.task_queue
    a1, a2, a_done, b1, waiting = (make_task() for _ in range(5))
    await tq.enqueue([a1, a2, a_done, b1])
    await claim(tq, limit=3, worker="A")
    await claim(tq, limit=1, worker="B")
    await tq.enqueue([waiting])
    assert await tq.finish(a_done.id, TaskStatus.COMPLETED, NOW, worker_id="A")
    renewed = await tq.extend_leases(
        [a1.id, a2.id, a_done.id, b1.id, waiting.id, "missing"], "A", NOW + 500
    )
    assert sorted(renewed) == sorted([a1.id, a2.id])
    for task in (a1, a2):
        stored = await tq.get(task.id)
        assert stored is not None
        assert stored.lease_expires_at == NOW + 500
    stored_b = await tq.get(b1.id)
    assert stored_b is not None
    assert stored_b.lease_expires_at == LEASE
    assert await tq.extend_leases([], "A", NOW + 600) == []


async def test_finish_with_worker(backend: Backend) -> None:
    tq = backend.task_queue
    task = make_task()
    await tq.enqueue([task])
    await claim(tq, worker="A")
    assert not await tq.finish(task.id, TaskStatus.COMPLETED, NOW + 1, worker_id="B")
    stored = await tq.get(task.id)
    assert stored is not None
    assert stored.status == TaskStatus.EXECUTING
    assert await tq.finish(task.id, TaskStatus.FAILED, NOW + 2, worker_id="A", error=ERROR)
    stored = await tq.get(task.id)
    assert stored is not None
    assert stored.status == TaskStatus.FAILED
    assert stored.finished_at == NOW + 2
    assert stored.error == ERROR
    # Final now: not even the former holder can finish it again.
    assert not await tq.finish(task.id, TaskStatus.COMPLETED, NOW + 3, worker_id="A")
    assert not await tq.finish(task.id, TaskStatus.COMPLETED, NOW + 3)
    stored = await tq.get(task.id)
    assert stored is not None
    assert stored.status == TaskStatus.FAILED
    assert stored.finished_at == NOW + 2


async def test_finish_with_worker_requires_executing(backend: Backend) -> None:
    tq = backend.task_queue
    task = make_task()
    await tq.enqueue([task])
    assert not await tq.finish(task.id, TaskStatus.COMPLETED, NOW, worker_id="A")
    stored = await tq.get(task.id)
    assert stored is not None
    assert stored.status == TaskStatus.ENQUEUED


async def test_finish_completed_without_error(backend: Backend) -> None:
    tq = backend.task_queue
    task = make_task()
    await tq.enqueue([task])
    await claim(tq, worker="A")
    assert await tq.finish(task.id, TaskStatus.COMPLETED, NOW + 5, worker_id="A")
    stored = await tq.get(task.id)
    assert stored is not None
    assert stored.status == TaskStatus.COMPLETED
    assert stored.finished_at == NOW + 5
    assert stored.error is None
    assert stored.attempts == 1


async def test_finish_without_worker(backend: Backend) -> None:
    tq = backend.task_queue
    waiting, running, delayed = make_task(), make_task(), make_task(run_at=NOW + 60)
    await tq.enqueue([running])
    await claim(tq, worker="A")
    await tq.enqueue([waiting, delayed])
    assert await tq.finish(waiting.id, TaskStatus.CANCELLED, NOW + 1)
    assert await tq.finish(running.id, TaskStatus.CANCELLED, NOW + 1)
    assert await tq.finish(delayed.id, TaskStatus.EXPIRED, NOW + 2, error=ERROR)
    for task, status in (
        (waiting, TaskStatus.CANCELLED),
        (running, TaskStatus.CANCELLED),
        (delayed, TaskStatus.EXPIRED),
    ):
        stored = await tq.get(task.id)
        assert stored is not None
        assert stored.status == status
        assert stored.finished_at is not None
    stored = await tq.get(delayed.id)
    assert stored is not None
    assert stored.error == ERROR
    # Final tasks cannot be finished again, and are neither claimed nor scheduled.
    assert not await tq.finish(waiting.id, TaskStatus.COMPLETED, NOW + 3)
    assert not await tq.finish(running.id, TaskStatus.COMPLETED, NOW + 3, worker_id="A")
    assert await claim(tq, now=NOW + 1000) == []
    assert await next_due(tq, ["default"]) is None


async def test_finish_unknown_task(backend: Backend) -> None:
    assert not await backend.task_queue.finish("missing", TaskStatus.CANCELLED, NOW)
    assert not await backend.task_queue.finish("missing", TaskStatus.COMPLETED, NOW, worker_id="A")


# -- retry_later -----------------------------------------------------------------------------


async def test_retry_later(backend: Backend) -> None:
    tq = backend.task_queue
    task = make_task()
    await tq.enqueue([task])
    await claim(tq, worker="A")
    assert not await tq.retry_later(task.id, "B", NOW + 10, ERROR)
    assert await tq.retry_later(task.id, "A", NOW + 10, ERROR)
    stored = await tq.get(task.id)
    assert stored is not None
    assert stored.status == TaskStatus.RETRYING
    assert stored.retry_count == 1
    assert stored.attempts == 1
    assert stored.run_at == NOW + 10
    assert stored.error == ERROR
    assert stored.lease_expires_at is None
    # Not the holder any more: a second retry_later or finish by A fails.
    assert not await tq.retry_later(task.id, "A", NOW + 20, ERROR)
    assert not await tq.finish(task.id, TaskStatus.COMPLETED, NOW, worker_id="A")
    assert await next_due(tq, ["default"]) == NOW + 10
    assert await claim(tq, now=NOW + 9.5) == []

    [again] = await claim(tq, worker="B", now=NOW + 10)
    assert again.id == task.id
    assert again.status == TaskStatus.EXECUTING
    assert again.attempts == 2
    assert again.retry_count == 1
    assert again.worker_id == "B"
    assert again.started_at == NOW + 10
    assert await tq.retry_later(task.id, "B", NOW + 30, None)
    stored = await tq.get(task.id)
    assert stored is not None
    assert stored.retry_count == 2


async def test_retry_later_requires_executing(backend: Backend) -> None:
    tq = backend.task_queue
    task = make_task()
    await tq.enqueue([task])
    assert not await tq.retry_later(task.id, "A", NOW + 10, None)
    assert not await tq.retry_later("missing", "A", NOW + 10, None)
    stored = await tq.get(task.id)
    assert stored == task


async def test_retrying_task_keeps_priority_order(backend: Backend) -> None:
    tq = backend.task_queue
    retried = make_task(priority=1)
    plain = make_task(priority=0, run_at=NOW)
    await tq.enqueue([retried])
    await claim(tq, worker="A")
    assert await tq.retry_later(retried.id, "A", NOW + 5, None)
    await tq.enqueue([plain])
    assert ids(await claim(tq, now=NOW + 5)) == [retried.id, plain.id]


# -- release ---------------------------------------------------------------------------------


async def test_release(backend: Backend) -> None:
    tq = backend.task_queue
    a1, a2, b1 = make_task(), make_task(), make_task()
    await tq.enqueue([a1, a2, b1])
    await claim(tq, limit=2, worker="A")
    await claim(tq, limit=1, worker="B")
    released = await tq.release([a1.id, b1.id, "missing"], "A")
    assert released == [a1.id]
    stored = await tq.get(a1.id)
    assert stored is not None
    assert stored.status == TaskStatus.ENQUEUED
    assert stored.attempts == 0
    assert stored.lease_expires_at is None
    stored_b = await tq.get(b1.id)
    assert stored_b is not None
    assert stored_b.status == TaskStatus.EXECUTING
    assert stored_b.worker_id == "B"
    # Claimable at once, by anyone.
    [again] = await claim(tq, worker="C")
    assert again.id == a1.id
    assert again.attempts == 1
    assert not await tq.finish(a1.id, TaskStatus.COMPLETED, NOW, worker_id="A")
    assert await tq.release([a2.id], "A") == [a2.id]
    assert await tq.release([a2.id], "A") == []


async def test_release_keeps_enqueue_order(backend: Backend) -> None:
    tq = backend.task_queue
    first, second = make_task(), make_task()
    await tq.enqueue([first, second])
    assert ids(await claim(tq, limit=1, worker="A")) == [first.id]
    assert await tq.release([first.id], "A") == [first.id]
    assert ids(await claim(tq)) == [first.id, second.id]


async def test_release_after_retry(backend: Backend) -> None:
    tq = backend.task_queue
    task = make_task()
    await tq.enqueue([task])
    await claim(tq, worker="A")
    assert await tq.retry_later(task.id, "A", NOW + 1, ERROR)
    await claim(tq, worker="A", now=NOW + 1)
    assert await tq.release([task.id], "A") == [task.id]
    stored = await tq.get(task.id)
    assert stored is not None
    assert stored.status == TaskStatus.ENQUEUED
    assert stored.attempts == 1
    assert stored.retry_count == 1
    assert ids(await claim(tq, now=NOW + 1)) == [task.id]


# -- recover_expired_leases ------------------------------------------------------------------


async def test_recover_expired_leases(backend: Backend) -> None:
    tq = backend.task_queue
    short, long_, waiting, done = make_task(), make_task(), make_task(), make_task()
    await tq.enqueue([short, done])
    await claim(tq, limit=2, worker="A", lease_until=NOW + 10)
    assert await tq.finish(done.id, TaskStatus.COMPLETED, NOW + 1, worker_id="A")
    await tq.enqueue([long_])
    await claim(tq, worker="B", lease_until=NOW + 100)
    await tq.enqueue([waiting])

    assert await tq.recover_expired_leases(NOW + 10) == []  # lease == now is not expired
    assert await tq.recover_expired_leases(NOW + 50) == [short.id]
    stored = await tq.get(short.id)
    assert stored is not None
    assert stored.status == TaskStatus.ENQUEUED
    assert stored.lease_expires_at is None
    assert stored.attempts == 1  # the lost attempt still counts
    stored_long = await tq.get(long_.id)
    assert stored_long is not None
    assert stored_long.status == TaskStatus.EXECUTING
    stored_done = await tq.get(done.id)
    assert stored_done is not None
    assert stored_done.status == TaskStatus.COMPLETED
    assert await tq.recover_expired_leases(NOW + 50) == []

    # The dead worker lost it; it is claimable again.
    assert await tq.extend_leases([short.id], "A", NOW + 500) == []
    assert not await tq.finish(short.id, TaskStatus.COMPLETED, NOW + 50, worker_id="A")
    claimed = await claim(tq, worker="C", now=NOW + 50)
    assert ids(claimed) == [short.id, waiting.id]
    assert claimed[0].attempts == 2
    assert claimed[0].worker_id == "C"


async def test_recover_after_extended_lease(backend: Backend) -> None:
    tq = backend.task_queue
    task = make_task()
    await tq.enqueue([task])
    await claim(tq, worker="A", lease_until=NOW + 10)
    assert await tq.extend_leases([task.id], "A", NOW + 100) == [task.id]
    assert await tq.recover_expired_leases(NOW + 50) == []
    assert await tq.recover_expired_leases(NOW + 101) == [task.id]


# -- next_run_at -----------------------------------------------------------------------------


# -- several instances on one store ----------------------------------------------------------


async def test_other_instance_sees_and_claims(backend: Backend, make_backend: MakeBackend) -> None:
    other = await make_backend()
    task = make_task()
    await backend.task_queue.enqueue([task])
    assert await other.task_queue.get(task.id) == task
    [claimed] = await claim(other.task_queue, worker="other")
    assert claimed.id == task.id
    assert await claim(backend.task_queue) == []
    assert await backend.task_queue.finish(task.id, TaskStatus.COMPLETED, NOW, worker_id="other")
    stored = await other.task_queue.get(task.id)
    assert stored is not None
    assert stored.status == TaskStatus.COMPLETED


# -- complete_many ---------------------------------------------------------------------------


async def test_complete_many_completes_only_the_holders_tasks(backend: Backend) -> None:
    queue = backend.task_queue
    mine = [make_task() for _ in range(3)]
    theirs = make_task()
    await queue.enqueue([*mine, theirs])
    await claim(queue, limit=3, worker="w1")
    await claim(queue, limit=1, worker="w2")
    final = make_task()
    await queue.enqueue([final])
    await claim(queue, limit=1, worker="w1")
    assert await queue.finish(final.id, TaskStatus.FAILED, NOW, worker_id="w1")

    done = await queue.complete_many(
        [*ids(mine), theirs.id, final.id, "no-such-task"], "w1", NOW + 5
    )

    assert sorted(done) == sorted(ids(mine))
    for task in mine:
        stored = await queue.get(task.id)
        assert stored is not None
        assert stored.status is TaskStatus.COMPLETED
        assert stored.finished_at == NOW + 5
        assert stored.lease_expires_at is None
    other = await queue.get(theirs.id)
    assert other is not None
    assert other.status is TaskStatus.EXECUTING
    failed = await queue.get(final.id)
    assert failed is not None
    assert failed.status is TaskStatus.FAILED


async def test_complete_many_handles_large_batches(backend: Backend) -> None:
    queue = backend.task_queue
    tasks = [make_task() for _ in range(1_200)]
    await queue.enqueue(tasks)
    claimed = await claim(queue, limit=1_200)
    assert len(claimed) == 1_200
    done = await queue.complete_many(ids(tasks), "w1", NOW)
    assert sorted(done) == sorted(ids(tasks))
    assert await queue.complete_many([], "w1", NOW) == []


async def test_a_closed_backend_refuses_every_role(backend: Backend) -> None:
    task = make_task()
    await backend.task_queue.enqueue([task])
    await backend.close_async()
    with pytest.raises(OmniQError):
        await backend.task_queue.get(task.id)
    with pytest.raises(OmniQError):
        await backend.result_store.get(task.id, NOW)
    with pytest.raises(OmniQError):
        await backend.event_store.for_task(task.id)
    await backend.initialize_async()  # and it opens again, on the same store
    assert await backend.task_queue.get(task.id) == task
