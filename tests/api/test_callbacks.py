"""``callback=`` / ``callback_args=``: ``callback(result, **callback_args)`` after completion."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from omniq import EventType, SerializationError, TaskEvent, TaskFailedError, TaskStatus
from omniq.core.portal import portal

from . import flow_tasks, tasks
from .conftest import MakeOmniQ
from .helpers import key, wait_until


@pytest.mark.parametrize(
    ("worker_type", "callback"),
    [
        ("thread_pool", flow_tasks.record_callback),
        ("thread_pool", flow_tasks.async_record_callback),
        ("async", flow_tasks.record_callback),
        ("async", flow_tasks.async_record_callback),
    ],
    ids=["thread-sync", "thread-async", "async-sync", "async-async"],
)
def test_callback_gets_the_result_then_its_arguments(
    make_oq: MakeOmniQ, worker_type: str, callback: Callable[..., Any]
) -> None:
    oq = make_oq().open()
    oq.start_worker(worker_type=worker_type, max_workers=2)
    k = key()
    task_id = oq.enqueue(
        func=flow_tasks.double,
        func_args={"x": 21},
        callback=callback,
        callback_args={"key": k, "extra": [1, 2]},
    )
    assert oq.get_result(task_id, timeout=5) == 42
    wait_until(lambda: flow_tasks.CALLBACKS[k], what="the callback")
    [(result, kwargs, called_at)] = flow_tasks.CALLBACKS[k]
    assert result == 42
    assert kwargs == {"key": k, "extra": [1, 2]}
    # it runs once the result is durable: after the completed event
    completed = [e for e in oq.get_events(task_id) if e.type is EventType.COMPLETED]
    assert len(completed) == 1
    # The event's time is the store's clock (the local one plus the offset measured to the
    # store's, within clock.error); called_at is the local clock.
    clock = oq.store.clock
    assert completed[0].timestamp - clock.offset <= called_at + clock.error
    assert EventType.CALLBACK_FAILED not in [e.type for e in oq.get_events(task_id)]


def test_callback_without_arguments_and_without_a_stored_result(make_oq: MakeOmniQ) -> None:
    oq = make_oq().open()
    oq.start_worker(max_workers=1)
    k = key()
    task_id = oq.enqueue(
        func=flow_tasks.double,
        func_args={"x": 5},
        store_result=False,
        # a lambda is stored by value (cloudpickle); the module it uses, by reference
        callback=lambda result: flow_tasks.CALLBACKS[k].append((result, {}, 0.0)),
    )
    assert oq.get_result(task_id, timeout=5) is None  # no result stored...
    wait_until(lambda: flow_tasks.CALLBACKS[k], what="the callback")
    assert [call[0] for call in flow_tasks.CALLBACKS[k]] == [10]  # ...but it got the value


def test_callback_does_not_run_when_the_task_fails(make_oq: MakeOmniQ) -> None:
    oq = make_oq().open()
    oq.start_worker(max_workers=1)
    k = key()
    task_id = oq.enqueue(
        func=tasks.always_fails,
        func_args={"message": "no"},
        max_retries=1,
        callback=flow_tasks.record_callback,
        callback_args={"key": k},
    )
    with pytest.raises(TaskFailedError):
        oq.get_result(task_id, timeout=5)
    after = oq.enqueue(
        func=flow_tasks.double, func_args={"x": 1}, callback=flow_tasks.record_callback,
        callback_args={"key": k},
    )  # fmt: skip
    assert oq.get_result(after, timeout=5) == 2
    wait_until(lambda: flow_tasks.CALLBACKS[k], what="the second task's callback")
    assert [call[0] for call in flow_tasks.CALLBACKS[k]] == [2]  # only the one that completed


@pytest.mark.parametrize("worker_type", ["thread_pool", "async"])
def test_a_failing_callback_leaves_the_task_completed(make_oq: MakeOmniQ, worker_type: str) -> None:
    oq = make_oq().open()
    oq.start_worker(worker_type=worker_type, max_workers=1)
    k = key()
    task_id = oq.enqueue(
        func=flow_tasks.double,
        func_args={"x": 4},
        max_retries=3,
        callback=flow_tasks.failing_callback,
        callback_args={"key": k},
    )
    assert oq.get_result(task_id, timeout=5) == 8

    def failed_event() -> list[TaskEvent]:
        return [e for e in oq.get_events(task_id) if e.type is EventType.CALLBACK_FAILED]

    [event] = wait_until(failed_event, what="the callback_failed event")
    assert event.error == f"builtins.RuntimeError: callback {k} broke"
    assert len(flow_tasks.CALLBACKS[k]) == 1  # not retried
    task = oq.get_task(task_id)
    assert task is not None
    assert task.status is TaskStatus.COMPLETED
    assert task.retry_count == 0
    assert oq.get_result(task_id, timeout=0) == 8  # the result is kept
    types = [e.type for e in oq.get_events(task_id)]
    assert types[-2:] == [EventType.COMPLETED, EventType.CALLBACK_FAILED]


def test_a_callback_that_cannot_be_loaded_is_a_callback_failure(make_oq: MakeOmniQ) -> None:
    oq = make_oq().open()
    task_id = oq.enqueue(
        func=flow_tasks.double, func_args={"x": 1}, callback=flow_tasks.record_callback,
        callback_args={"key": "k"},
    )  # fmt: skip
    record = portal().call(oq.task_queue.get(task_id))
    assert record is not None
    # A callback whose function was renamed since it was enqueued (same name length).
    _, payload = oq.serializer.dump_call(tasks.add_numbers, {}, {})
    record.id = uuid.uuid4().hex
    record.callback = payload.replace(b"add_numbers", b"no_such_fn_")
    portal().call(oq.task_queue.enqueue([record]))
    oq.start_worker(max_workers=1)
    assert oq.get_result(record.id, timeout=5) == 2
    [event] = wait_until(
        lambda: [e for e in oq.get_events(record.id) if e.type is EventType.CALLBACK_FAILED],
        what="the callback_failed event",
    )
    assert event.error is not None
    assert event.error.startswith("omniq.exceptions.SerializationError")
    assert oq.get_result(task_id, timeout=5) == 2  # the intact one ran its callback
    wait_until(lambda: flow_tasks.CALLBACKS["k"], what="the intact callback")


def test_strict_serialization_refuses_a_lambda_callback(make_oq: MakeOmniQ) -> None:
    oq = make_oq(strict_serialization=True, allowed_modules=[flow_tasks.__name__]).open()
    with pytest.raises(SerializationError):
        oq.enqueue(func=flow_tasks.double, func_args={"x": 1}, callback=lambda result: None)
    with pytest.raises(SerializationError, match="lock"):
        oq.enqueue(
            func=flow_tasks.double, func_args={"x": 1}, callback=flow_tasks.record_callback,
            callback_args={"key": "k", "lock": threading.Lock()},
        )  # fmt: skip
    assert oq.list_tasks(status=["enqueued", "retrying"]) == []  # nothing stored
