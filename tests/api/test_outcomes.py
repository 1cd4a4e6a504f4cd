"""Retries, failures, lifecycle events, and waiting for results."""

from __future__ import annotations

import asyncio
import builtins
import time
import uuid

import pytest

import omniq
from omniq import EventType, OmniQ, TaskFailedError, TaskStatus
from omniq.models.task import TaskError
from omniq.storage.records import ResultRecord

from . import tasks
from .conftest import MakeOmniQ
from .helpers import events_ending_with, events_ending_with_async


def test_retries_until_success(make_oq: MakeOmniQ) -> None:
    oq = make_oq().open()
    oq.start_worker(max_workers=1)
    key = uuid.uuid4().hex
    task_id = oq.enqueue(func=tasks.flaky, func_args={"key": key, "failures": 2}, max_retries=3)
    assert oq.get_result(task_id, timeout=5) == 3
    assert len(tasks.ATTEMPTS[key]) == 3
    task = oq.get_task(task_id)
    assert task is not None
    assert task.status is TaskStatus.COMPLETED
    assert task.retry_count == 2
    assert task.attempts == 3
    # the latest error stays visible after the final success
    assert task.error is not None
    assert task.error.type == "builtins.ValueError"
    types = [e.type for e in events_ending_with(oq, task_id, EventType.COMPLETED)]
    assert types.count(EventType.EXECUTING) == 3
    assert types.count(EventType.RETRYING) == 2
    assert types.count(EventType.COMPLETED) == 1
    assert types == [
        EventType.ENQUEUED,
        EventType.DEQUEUED, EventType.EXECUTING, EventType.RETRYING,
        EventType.DEQUEUED, EventType.EXECUTING, EventType.RETRYING,
        EventType.DEQUEUED, EventType.EXECUTING, EventType.COMPLETED,
    ]  # fmt: skip
    retrying = [e for e in oq.get_events(task_id) if e.type is EventType.RETRYING]
    assert retrying[0].error == f"builtins.ValueError: flaky {key} attempt 1"
    assert retrying[1].error == f"builtins.ValueError: flaky {key} attempt 2"


def test_retry_delay_is_respected(make_oq: MakeOmniQ) -> None:
    oq = make_oq().open()
    oq.start_worker(max_workers=1)
    key = uuid.uuid4().hex
    task_id = oq.enqueue(
        func=tasks.flaky, func_args={"key": key, "failures": 2}, max_retries=2, retry_delay=0.15
    )
    assert oq.get_result(task_id, timeout=5) == 3
    first, second, third = tasks.ATTEMPTS[key]
    assert second - first >= 0.15
    assert third - second >= 0.15
    details = [e.detail for e in oq.get_events(task_id) if e.type is EventType.RETRYING]
    assert details == ["retry 1 of 2 in 0.150s", "retry 2 of 2 in 0.150s"]


def test_exponential_backoff_doubles_the_gaps(make_oq: MakeOmniQ) -> None:
    oq = make_oq().open()
    oq.start_worker(max_workers=1)
    key = uuid.uuid4().hex
    task_id = oq.enqueue(
        func=tasks.flaky,
        func_args={"key": key, "failures": 2},
        max_retries=3,
        retry_delay=0.15,
        retry_backoff=2,
    )
    assert oq.get_result(task_id, timeout=5) == 3
    first, second, third = tasks.ATTEMPTS[key]
    assert second - first >= 0.15
    assert third - second >= 0.30  # (the delays themselves: in the events' details below)
    details = [e.detail for e in oq.get_events(task_id) if e.type is EventType.RETRYING]
    assert details == ["retry 1 of 3 in 0.150s", "retry 2 of 3 in 0.300s"]


def test_retry_max_delay_caps_the_backoff(make_oq: MakeOmniQ) -> None:
    oq = make_oq().open()
    oq.start_worker(max_workers=1)
    key = uuid.uuid4().hex
    task_id = oq.enqueue(
        func=tasks.flaky,
        func_args={"key": key, "failures": 3},
        max_retries=3,
        retry_delay=0.05,
        retry_backoff=10,
        retry_max_delay=0.1,
    )
    assert oq.get_result(task_id, timeout=5) == 4
    details = [e.detail for e in oq.get_events(task_id) if e.type is EventType.RETRYING]
    assert details == [
        "retry 1 of 3 in 0.050s",
        "retry 2 of 3 in 0.100s",
        "retry 3 of 3 in 0.100s",
    ]


def test_no_retries_fails_after_one_attempt(make_oq: MakeOmniQ) -> None:
    oq = make_oq().open()
    oq.start_worker(max_workers=1)
    task_id = oq.enqueue(func=tasks.always_fails, func_args={"message": "bad"}, max_retries=0)
    with pytest.raises(TaskFailedError) as info:
        oq.get_result(task_id, timeout=5)
    error = info.value
    assert error.task_id == task_id
    assert error.error_type == "builtins.ValueError"
    assert error.error_message == "bad"
    assert error.traceback is not None
    assert "always_fails" in error.traceback
    assert "ValueError: bad" in error.traceback
    assert "builtins.ValueError" in str(error)
    assert "bad" in str(error)
    task = oq.get_task(task_id)
    assert task is not None
    assert task.status is TaskStatus.FAILED
    assert task.retry_count == 0
    assert task.error is not None
    assert task.error.type == "builtins.ValueError"
    assert task.error.message == "bad"
    assert [e.type for e in events_ending_with(oq, task_id, EventType.FAILED)] == [
        EventType.ENQUEUED,
        EventType.DEQUEUED,
        EventType.EXECUTING,
        EventType.FAILED,
    ]


def test_failing_every_retry_ends_failed(make_oq: MakeOmniQ) -> None:
    oq = make_oq().open()
    oq.start_worker(max_workers=1)
    key = uuid.uuid4().hex
    task_id = oq.enqueue(func=tasks.flaky, func_args={"key": key, "failures": 99}, max_retries=2)
    with pytest.raises(TaskFailedError) as info:
        oq.get_result(task_id, timeout=5)
    assert info.value.error_message == f"flaky {key} attempt 3"
    assert len(tasks.ATTEMPTS[key]) == 3
    types = [e.type for e in events_ending_with(oq, task_id, EventType.FAILED)]
    assert types.count(EventType.RETRYING) == 2


def test_an_unserializable_result_fails_the_task(make_oq: MakeOmniQ) -> None:
    oq = make_oq().open()
    oq.start_worker(max_workers=1)
    task_id = oq.enqueue(func=tasks.return_lock)
    with pytest.raises(TaskFailedError) as info:
        oq.get_result(task_id, timeout=5)
    assert info.value.error_type == "omniq.exceptions.SerializationError"
    assert task_id in info.value.error_message


def test_events_in_order(make_oq: MakeOmniQ) -> None:
    oq = make_oq().open()
    task_id = oq.enqueue(func=tasks.add_numbers, func_args={"x": 1, "y": 1})
    events = oq.get_events(task_id)
    assert [e.type for e in events] == [EventType.ENQUEUED]
    oq.start_worker(max_workers=1)
    assert oq.get_result(task_id, timeout=5) == 2
    events = events_ending_with(oq, task_id, EventType.COMPLETED)
    assert [e.type for e in events] == [
        EventType.ENQUEUED,
        EventType.DEQUEUED,
        EventType.EXECUTING,
        EventType.COMPLETED,
    ]
    assert all(e.task_id == task_id for e in events)
    assert events[0].worker_id is None
    worker_id = oq.worker.worker_id if oq.worker else None
    assert worker_id is not None
    assert [e.worker_id for e in events[1:]] == [worker_id] * 3
    timestamps = [e.timestamp for e in events]
    assert timestamps == sorted(timestamps)
    task = oq.get_task(task_id)
    assert task is not None
    assert task.worker_id == worker_id


def test_get_result_is_woken_without_polling(make_oq: MakeOmniQ) -> None:
    oq = make_oq(worker_config={"poll_interval": 10}).open()
    oq.start_worker(max_workers=1)
    started = time.monotonic()
    task_id = oq.enqueue(func=tasks.slow_work, func_args={"seconds": 0.2})
    assert oq.get_result(task_id, timeout=20, poll_interval=10) == "done"
    assert time.monotonic() - started < 2


def test_get_result_is_woken_by_a_worker_of_another_instance(
    make_oq: MakeOmniQ, same_store
) -> None:
    client = make_oq().open()
    server = same_store(client, worker_config={"poll_interval": 10})
    server.start_worker(max_workers=1)
    started = time.monotonic()
    task_id = client.enqueue(func=tasks.slow_work, func_args={"seconds": 0.2})
    assert client.get_result(task_id, timeout=20, poll_interval=10) == "done"
    assert time.monotonic() - started < 2


async def test_get_result_async_is_woken_without_polling(make_oq: MakeOmniQ) -> None:
    async with make_oq(worker_config={"poll_interval": 10}) as oq:
        await oq.start_worker_async(worker_type="async", max_workers=1)
        started = time.monotonic()
        task_id = await oq.enqueue_async(func=tasks.slow_work, func_args={"seconds": 0.2})
        assert await oq.get_result_async(task_id, timeout=20, poll_interval=10) == "done"
        assert time.monotonic() - started < 2


def test_get_result_timeout(oq: OmniQ) -> None:
    task_id = oq.enqueue(func=tasks.add_numbers, func_args={"x": 1, "y": 1})
    started = time.monotonic()
    with pytest.raises(omniq.TimeoutError) as info:
        oq.get_result(task_id, timeout=0.1)
    assert 0.1 <= time.monotonic() - started < 2
    assert isinstance(info.value, builtins.TimeoutError)
    assert isinstance(info.value, omniq.OmniQError)
    assert task_id in str(info.value)
    with pytest.raises(builtins.TimeoutError):
        oq.get_result(task_id, timeout=0)


async def test_get_result_async_timeout(make_oq: MakeOmniQ) -> None:
    async with make_oq() as oq:
        task_id = await oq.enqueue_async(func=tasks.add_numbers, func_args={"x": 1, "y": 1})
        with pytest.raises(omniq.TimeoutError):
            await oq.get_result_async(task_id, timeout=0.05)


async def test_cancelling_get_result_async_is_not_swallowed(make_oq: MakeOmniQ) -> None:
    """A cancellation that coincides with the wake-up must still cancel the call."""
    async with make_oq() as oq:
        task_id = await oq.enqueue_async(func=tasks.add_numbers, func_args={"x": 1, "y": 1})
        waiter = asyncio.ensure_future(oq.get_result_async(task_id, poll_interval=10))
        for _ in range(50):  # let it look once and start waiting for the wake-up
            await asyncio.sleep(0)
        assert not waiter.done()
        oq._channel.notify_result(task_id)  # the wake-up...
        waiter.cancel()  # ...and a cancellation in the same loop iteration
        with pytest.raises(asyncio.CancelledError):
            await waiter


async def test_enqueued_comes_first_even_if_the_enqueuing_loop_is_busy(
    make_oq: MakeOmniQ,
) -> None:
    """An async producer that enqueues, then blocks its loop, must not reorder the log."""
    oq = make_oq().open()
    oq.start_worker(max_workers=1)  # on OmniQ's own loop, not this one
    task_id = await oq.enqueue_async(func=tasks.add_numbers, func_args={"x": 1, "y": 1})
    # Block this loop (no await) until the worker has finished the task.
    assert oq.get_result(task_id, timeout=5) == 2
    # Another thread reads the log: the task's first event is there, and first.
    seen_elsewhere = await asyncio.to_thread(oq.get_events, task_id)
    assert [e.type for e in seen_elsewhere][:1] == [EventType.ENQUEUED]
    events = await events_ending_with_async(oq, task_id, EventType.COMPLETED)
    assert [e.type for e in events] == [
        EventType.ENQUEUED,
        EventType.DEQUEUED,
        EventType.EXECUTING,
        EventType.COMPLETED,
    ]


# -- a worker that lost its lease writes late ------------------------------------------------


async def _two_attempts(oq: OmniQ, task_id: str) -> None:
    """Attempt 1 (worker A) loses its lease; attempt 2 (worker B) holds the task now."""
    queue = oq.store.task_queue
    now = oq.store.clock.now()
    (first,) = await queue.claim(oq.queues, 1, "worker-a", now, now + 0.001)
    assert first.id == task_id
    assert await queue.recover_expired_leases(now + 1) == [task_id]
    (second,) = await queue.claim(oq.queues, 1, "worker-b", now + 1, now + 60)
    assert second.attempts == 2


def _late_result(oq: OmniQ, task_id: str, value: object, attempt: int) -> ResultRecord:
    payload = oq.serializer.dump_value(value, what="a late result")
    return ResultRecord(
        task_id=task_id, payload=payload, created_at=oq.store.clock.now(), attempt=attempt
    )


async def test_a_stale_attempts_result_is_never_the_outcome_of_a_failed_task(
    make_oq: MakeOmniQ,
) -> None:
    async with make_oq() as oq:
        task_id = await oq.enqueue_async(func=tasks.add_numbers, func_args={"x": 1, "y": 2})
        await _two_attempts(oq, task_id)
        # Worker A finishes late: its result lands, its completion is refused.
        await oq.store.result_store.put_many([_late_result(oq, task_id, 42, attempt=1)])
        queue = oq.store.task_queue
        assert await queue.complete_many([task_id], "worker-a", oq.store.clock.now()) == []
        # Worker B's attempt fails for good.
        error = TaskError(type="builtins.ValueError", message="attempt 2 failed")
        now = oq.store.clock.now()
        assert await queue.finish(task_id, TaskStatus.FAILED, now, worker_id="worker-b",
                                  error=error)  # fmt: skip
        with pytest.raises(TaskFailedError, match="attempt 2 failed"):
            await oq.get_result_async(task_id, timeout=0)


async def test_a_stale_attempts_late_result_never_replaces_the_owners(
    make_oq: MakeOmniQ,
) -> None:
    async with make_oq() as oq:
        task_id = await oq.enqueue_async(func=tasks.add_numbers, func_args={"x": 1, "y": 2})
        await _two_attempts(oq, task_id)
        store = oq.store
        await store.result_store.put_many([_late_result(oq, task_id, 3, attempt=2)])  # B's result
        assert await store.task_queue.complete_many([task_id], "worker-b", store.clock.now()) == [
            task_id
        ]
        await store.result_store.put_many([_late_result(oq, task_id, 42, attempt=1)])  # A, late
        assert await oq.get_result_async(task_id, timeout=0) == 3
