"""``cancel`` / ``cancel_async``: before a task runs, while it runs, and after it finished."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from omniq import (
    EventType,
    OmniQ,
    TaskCancelledError,
    TaskNotFoundError,
    TaskStatus,
)
from omniq.core.portal import portal
from omniq.models.task import TaskError

from . import flow_tasks, tasks
from .conftest import MakeOmniQ
from .helpers import event_types, has_status, key, status, wait_until


def has_no_result(oq: OmniQ, task_id: str) -> bool:
    return portal().call(oq.result_store.get(task_id, time.time())) is None


def request_cancel_from_elsewhere(oq: OmniQ, task_id: str) -> None:
    """What another process's ``cancel`` does to the store (no in-process wake-up)."""
    error = TaskError(type="omniq.exceptions.TaskCancelledError", message="cancelled on request")
    assert portal().call(oq.task_queue.cancel(task_id, time.time(), error)) is (
        TaskStatus.EXECUTING
    )


# -- not started yet -------------------------------------------------------------------------


def test_cancel_a_delayed_task(make_oq: MakeOmniQ) -> None:
    oq = make_oq().open()
    task_id = oq.enqueue(func=tasks.record, func_args={"label": "never"}, run_in=0.3)
    assert oq.cancel(task_id) is True
    task = oq.get_task(task_id)
    assert task is not None
    assert task.status is TaskStatus.CANCELLED
    assert task.finished_at is not None
    assert task.error is not None
    assert task.error.type == "omniq.exceptions.TaskCancelledError"
    events = oq.get_events(task_id)
    assert [e.type for e in events] == [EventType.ENQUEUED, EventType.CANCELLED]
    assert events[1].detail == "cancelled while enqueued, before it ran"
    with pytest.raises(TaskCancelledError):
        oq.get_result(task_id, timeout=0)
    oq.start_worker(max_workers=1)
    probe = oq.enqueue(func=tasks.record, func_args={"label": "probe"}, run_in=0.4)
    assert oq.get_result(probe, timeout=5) == "probe"  # the cancelled one was due before
    assert tasks.ORDER == ["probe"]
    assert oq.cancel(task_id) is False  # already final


def test_cancel_wakes_a_waiting_get_result(make_oq: MakeOmniQ) -> None:
    oq = make_oq().open()
    task_id = oq.enqueue(func=tasks.record, func_args={"label": "never"}, run_in=60)

    async def wait_then_cancel() -> None:
        waiter = asyncio.ensure_future(oq.get_result_async(task_id, timeout=10, poll_interval=5))
        await asyncio.sleep(0)
        assert await oq.cancel_async(task_id) is True
        started = time.monotonic()
        with pytest.raises(TaskCancelledError):
            await waiter
        assert time.monotonic() - started < 2  # woken, not polled

    portal().call(wait_then_cancel())


def test_cancel_a_retrying_task(make_oq: MakeOmniQ) -> None:
    oq = make_oq().open()
    oq.start_worker(max_workers=1)
    k = key()
    task_id = oq.enqueue(
        func=tasks.flaky, func_args={"key": k, "failures": 5}, max_retries=5, retry_delay=60
    )
    wait_until(has_status(oq, task_id, TaskStatus.RETRYING), what="the first retry")
    assert oq.cancel(task_id) is True
    assert status(oq, task_id) is TaskStatus.CANCELLED
    assert event_types(oq, task_id)[-2:] == [EventType.RETRYING, EventType.CANCELLED]
    assert len(tasks.ATTEMPTS[k]) == 1


def test_cancel_a_waiting_task_and_its_dependents(make_oq: MakeOmniQ) -> None:
    oq = make_oq().open()
    oq.start_worker(max_workers=2)
    gate = key()
    first = oq.enqueue(func=flow_tasks.blocking, func_args={"key": gate})
    second = oq.enqueue(func=tasks.record, func_args={"label": "2"}, depends_on=[first])
    third = oq.enqueue(func=tasks.record, func_args={"label": "3"}, depends_on=[second])
    assert oq.cancel(second) is True
    assert status(oq, second) is TaskStatus.CANCELLED
    assert status(oq, third) is TaskStatus.CANCELLED
    flow_tasks.GATES[gate].set()
    assert oq.get_result(first, timeout=5) == "done"  # the dependency itself is unaffected
    with pytest.raises(TaskCancelledError):
        oq.get_result(third, timeout=5)
    assert tasks.ORDER == []


def test_cancel_a_finished_or_unknown_task(make_oq: MakeOmniQ) -> None:
    oq = make_oq().open()
    oq.start_worker(max_workers=1)
    task_id = oq.enqueue(func=tasks.add_numbers, func_args={"x": 1, "y": 2})
    assert oq.get_result(task_id, timeout=5) == 3
    before = oq.get_events(task_id)
    assert oq.cancel(task_id) is False
    assert status(oq, task_id) is TaskStatus.COMPLETED
    assert oq.get_result(task_id, timeout=0) == 3
    assert oq.get_events(task_id) == before
    with pytest.raises(TaskNotFoundError):
        oq.cancel("no-such-task")


async def test_cancel_async(make_oq: MakeOmniQ) -> None:
    async with make_oq() as oq:
        task_id = await oq.enqueue_async(func=tasks.add_numbers, func_args={"x": 1, "y": 1},
                                         run_in=60)  # fmt: skip
        assert await oq.cancel_async(task_id) is True
        assert await oq.cancel_async(task_id) is False
        task = await oq.get_task_async(task_id)
        assert task is not None
        assert task.status is TaskStatus.CANCELLED


# -- running ---------------------------------------------------------------------------------


def test_async_worker_interrupts_a_running_coroutine(make_oq: MakeOmniQ) -> None:
    oq = make_oq().open()
    oq.start_worker(worker_type="async", max_workers=2)
    gate, k = key(), key()
    task_id = oq.enqueue(
        func=flow_tasks.async_blocking, func_args={"key": gate}, max_retries=3,
        callback=flow_tasks.record_callback, callback_args={"key": k},
    )  # fmt: skip
    assert flow_tasks.STARTED[gate].wait(5)
    assert oq.cancel(task_id) is True
    events = flow_tasks.events_once(oq, task_id, EventType.CANCELLED)
    assert gate in flow_tasks.INTERRUPTED  # the coroutine saw CancelledError
    assert not flow_tasks.ENDED[gate].is_set()
    task = oq.get_task(task_id)
    assert task is not None
    assert task.status is TaskStatus.CANCELLED
    assert task.cancel_requested is True
    assert task.retry_count == 0
    assert [e.type for e in events][-2:] == [EventType.EXECUTING, EventType.CANCELLED]
    assert events[-1].detail is not None
    assert "interrupted" in events[-1].detail
    with pytest.raises(TaskCancelledError):
        oq.get_result(task_id, timeout=0)
    assert not flow_tasks.CALLBACKS[k]
    # the worker goes on with other work
    assert oq.get_result(oq.enqueue(func=flow_tasks.double, func_args={"x": 2}), timeout=5) == 4


def test_thread_pool_abandons_a_running_body_and_keeps_its_slot(make_oq: MakeOmniQ) -> None:
    oq = make_oq().open()
    oq.start_worker(worker_type="thread_pool", max_workers=1)
    gate = key()
    task_id = oq.enqueue(func=flow_tasks.blocking, func_args={"key": gate, "value": "late"})
    assert flow_tasks.STARTED[gate].wait(5)
    assert oq.cancel(task_id) is True
    wait_until(has_status(oq, task_id, TaskStatus.CANCELLED), what="cancelled")
    assert not flow_tasks.ENDED[gate].is_set()  # the thread runs on...
    next_id = oq.enqueue(func=tasks.record, func_args={"label": "next"})
    flow_tasks.holds_for(lambda: tasks.ORDER == [], 0.3, "the only slot stays taken")
    assert oq.worker is not None
    assert oq.worker.runner.executor.abandoned == 1
    flow_tasks.GATES[gate].set()
    assert oq.get_result(next_id, timeout=5) == "next"
    assert flow_tasks.ENDED[gate].is_set()  # ...to its end, and its result is discarded
    assert status(oq, task_id) is TaskStatus.CANCELLED
    assert has_no_result(oq, task_id)
    with pytest.raises(TaskCancelledError):
        oq.get_result(task_id, timeout=0)
    wait_until(lambda: oq.worker is not None and oq.worker.runner.executor.abandoned == 0)


@pytest.mark.without("notifies")  # a notifying store tells the worker at once (below)
def test_a_cancel_from_another_process_is_noticed_at_lease_renewal(make_oq: MakeOmniQ) -> None:
    oq = make_oq().open()
    oq.start_worker(worker_type="async", max_workers=1, lease_duration=0.3)
    gate = key()
    task_id = oq.enqueue(func=flow_tasks.async_blocking, func_args={"key": gate})
    assert flow_tasks.STARTED[gate].wait(5)
    request_cancel_from_elsewhere(oq, task_id)
    wait_until(has_status(oq, task_id, TaskStatus.CANCELLED), what="cancelled")
    assert gate in flow_tasks.INTERRUPTED


@pytest.mark.capability("notifies")
def test_a_cancel_from_another_process_is_noticed_at_once(make_oq: MakeOmniQ) -> None:
    """No lease renewal for 10 s: only the store's notification can tell the worker."""
    oq = make_oq().open()
    oq.start_worker(worker_type="async", max_workers=1, lease_duration=30)
    gate = key()
    task_id = oq.enqueue(func=flow_tasks.async_blocking, func_args={"key": gate})
    assert flow_tasks.STARTED[gate].wait(5)
    request_cancel_from_elsewhere(oq, task_id)
    wait_until(has_status(oq, task_id, TaskStatus.CANCELLED), timeout=5, what="cancelled")
    assert gate in flow_tasks.INTERRUPTED


@pytest.mark.without("notifies")  # the body must end before the worker hears of the request
@pytest.mark.parametrize(
    ("func", "outcome"),
    [(flow_tasks.blocking, "completed"), (flow_tasks.blocking_then_fail, "retrying")],
    ids=["completed", "failed"],
)
def test_a_body_ending_after_a_cancel_request_is_recorded_cancelled(
    make_oq: MakeOmniQ, func: Callable[..., object], outcome: str
) -> None:
    """Whatever the body did, a cancel-requested task ends cancelled with no result."""
    oq = make_oq().open()
    oq.start_worker(worker_type="thread_pool", max_workers=1)  # lease 30 s: no renewal soon
    gate, k = key(), key()
    task_id = oq.enqueue(
        func=func, func_args={"key": gate}, max_retries=2,
        callback=flow_tasks.record_callback, callback_args={"key": k},
    )  # fmt: skip
    assert flow_tasks.STARTED[gate].wait(5)
    request_cancel_from_elsewhere(oq, task_id)
    flow_tasks.GATES[gate].set()  # the body ends before the worker looks for cancellations
    events = flow_tasks.events_once(oq, task_id, EventType.CANCELLED)
    assert status(oq, task_id) is TaskStatus.CANCELLED
    assert [e.type for e in events][-2:] == [EventType.EXECUTING, EventType.CANCELLED]
    assert events[-1].detail == (
        f"cancelled on request while executing: its {outcome} outcome was discarded"
    )
    assert has_no_result(oq, task_id)
    with pytest.raises(TaskCancelledError):
        oq.get_result(task_id, timeout=0)
    assert not flow_tasks.CALLBACKS[k]
    task = oq.get_task(task_id)
    assert task is not None
    assert task.retry_count == 0


def test_cancelling_a_running_task_cancels_its_dependents(make_oq: MakeOmniQ) -> None:
    oq = make_oq().open()
    oq.start_worker(worker_type="async", max_workers=1)
    gate = key()
    running = oq.enqueue(func=flow_tasks.async_blocking, func_args={"key": gate})
    dependent = oq.enqueue(func=tasks.record, func_args={"label": "d"}, depends_on=[running])
    assert flow_tasks.STARTED[gate].wait(5)
    assert oq.cancel(running) is True
    wait_until(has_status(oq, dependent, TaskStatus.CANCELLED), what="dependent cancelled")
    wait_until(has_status(oq, running, TaskStatus.CANCELLED), what="cancelled")
    assert tasks.ORDER == []


def test_a_cancel_requested_task_whose_worker_died_ends_cancelled(make_oq: MakeOmniQ) -> None:
    oq = make_oq().open()
    task_id = oq.enqueue(func=tasks.record, func_args={"label": "never"})
    now = oq.store.clock.now()  # the store's clock (NATS: the server's) set the task's run_at
    # A worker of another process claims it, then dies holding a short lease.
    [claimed] = portal().call(oq.task_queue.claim(oq.queues, 1, "ghost", now, now + 0.05))
    assert claimed.id == task_id
    assert oq.cancel(task_id) is True
    assert status(oq, task_id) is TaskStatus.EXECUTING  # only flagged: its worker must notice
    oq.start_worker(max_workers=1, lease_duration=0.2)  # recovers leases every 0.1 s
    events = flow_tasks.events_once(oq, task_id, EventType.CANCELLED)
    assert status(oq, task_id) is TaskStatus.CANCELLED
    assert events[-1].type is EventType.CANCELLED
    assert events[-1].detail == "cancellation requested before this attempt started"
    assert tasks.ORDER == []
