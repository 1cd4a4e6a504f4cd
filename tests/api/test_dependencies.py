"""``depends_on``: waiting, release by the last dependency, cancellation down the graph."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from omniq import (
    ConfigurationError,
    EventType,
    OmniQ,
    TaskCancelledError,
    TaskEvent,
    TaskFailedError,
    TaskStatus,
)
from omniq.core.portal import portal

from . import flow_tasks, tasks
from .conftest import MakeOmniQ
from .helpers import event_types, has_status, key, status, wait_for_time, wait_until


def test_a_chain_runs_in_order_once_each_dependency_completes(make_oq: MakeOmniQ) -> None:
    oq = make_oq().open()
    oq.start_worker(max_workers=4)
    gate = key()
    first = oq.enqueue(func=flow_tasks.blocking, func_args={"key": gate, "value": "a"})
    second = oq.enqueue(func=tasks.record, func_args={"label": "b"}, depends_on=[first])
    third = oq.enqueue(func=tasks.record, func_args={"label": "c"}, depends_on=[second])
    assert flow_tasks.STARTED[gate].wait(5)
    assert status(oq, second) is TaskStatus.WAITING
    assert status(oq, third) is TaskStatus.WAITING
    task = oq.get_task(third)
    assert task is not None
    assert task.depends_on == [second]
    assert tasks.ORDER == []
    flow_tasks.GATES[gate].set()
    assert oq.get_result(third, timeout=5) == "c"
    assert oq.get_result(second, timeout=5) == "b"
    assert tasks.ORDER == ["b", "c"]
    expected = [EventType.ENQUEUED, EventType.ENQUEUED, EventType.DEQUEUED, EventType.EXECUTING,
                EventType.COMPLETED]  # fmt: skip

    def all_five() -> list[TaskEvent] | None:
        found = oq.get_events(third)
        return found if len(found) >= len(expected) else None

    events = wait_until(all_five, what="the five events of the third task")
    types = [e.type for e in events]
    if oq.store.capabilities.fused_events:
        assert types == expected
        assert events[1].detail == "its dependencies completed"
    else:  # the release's event follows the status change, which a worker may claim first
        assert sorted(types) == sorted(expected)
    assert events[0].detail == "waiting for 1 of its 1 dependencies"
    assert [e.detail for e in events].count("its dependencies completed") == 1


def test_a_task_waits_for_every_dependency(make_oq: MakeOmniQ) -> None:
    oq = make_oq().open()
    oq.start_worker(max_workers=4)
    gate_a, gate_b = key(), key()
    a = oq.enqueue(func=flow_tasks.blocking, func_args={"key": gate_a})
    b = oq.enqueue(func=flow_tasks.blocking, func_args={"key": gate_b})
    joined = oq.enqueue(func=tasks.record, func_args={"label": "joined"}, depends_on=[a, b, a])
    task = oq.get_task(joined)
    assert task is not None
    assert task.depends_on == [a, b]  # repeats dropped
    flow_tasks.GATES[gate_a].set()
    assert oq.get_result(a, timeout=5) == "done"
    flow_tasks.holds_for(
        lambda: status(oq, joined) is TaskStatus.WAITING, 0.2, "waiting for the second one"
    )
    flow_tasks.GATES[gate_b].set()
    assert oq.get_result(joined, timeout=5) == "joined"


def test_completed_dependencies_count_as_done(make_oq: MakeOmniQ) -> None:
    oq = make_oq().open()
    oq.start_worker(max_workers=2)
    done = oq.enqueue(func=tasks.add_numbers, func_args={"x": 1, "y": 2})
    assert oq.get_result(done, timeout=5) == 3
    task_id = oq.enqueue(func=tasks.add_numbers, func_args={"x": 3, "y": 4}, depends_on=[done])
    assert oq.get_result(task_id, timeout=5) == 7
    assert event_types(oq, task_id)[:2] == [EventType.ENQUEUED, EventType.DEQUEUED]


def test_released_dependents_wake_the_worker_at_once(make_oq: MakeOmniQ) -> None:
    oq = make_oq().open()
    oq.start_worker(max_workers=2, poll_interval=30)  # only in-process wake-ups
    gate = key()
    first = oq.enqueue(func=flow_tasks.blocking, func_args={"key": gate})
    second = oq.enqueue(func=tasks.add_numbers, func_args={"x": 1, "y": 1}, depends_on=[first])
    assert flow_tasks.STARTED[gate].wait(5)
    started = time.monotonic()
    flow_tasks.GATES[gate].set()
    assert oq.get_result(second, timeout=5) == 2
    assert time.monotonic() - started < 3  # not a 30 s poll


def test_enqueue_many_with_dependencies(make_oq: MakeOmniQ) -> None:
    oq = make_oq().open()
    gate = key()
    first = oq.enqueue(func=flow_tasks.blocking, func_args={"key": gate})
    ids = oq.enqueue_many(flow_tasks.double, [{"x": n} for n in range(5)], depends_on=[first])
    assert all(status(oq, task_id) is TaskStatus.WAITING for task_id in ids)
    oq.start_worker(max_workers=2)
    flow_tasks.GATES[gate].set()
    assert [oq.get_result(task_id, timeout=5) for task_id in ids] == [0, 2, 4, 6, 8]


def test_a_dependent_enqueued_by_another_instance(
    make_oq: MakeOmniQ, same_store: Callable[..., OmniQ]
) -> None:
    first = make_oq().open()
    second = same_store(first)
    first.start_worker(max_workers=2)
    gate = key()
    dep = first.enqueue(func=flow_tasks.blocking, func_args={"key": gate})
    dependent = second.enqueue(func=flow_tasks.double, func_args={"x": 21}, depends_on=[dep])
    flow_tasks.GATES[gate].set()
    assert second.get_result(dependent, timeout=5) == 42


# -- dependencies that never complete --------------------------------------------------------


def test_a_failed_dependency_cancels_its_dependents_transitively(make_oq: MakeOmniQ) -> None:
    oq = make_oq().open()
    oq.start_worker(max_workers=2)
    gate = key()
    failing = oq.enqueue(func=flow_tasks.blocking_then_fail, func_args={"key": gate},
                         max_retries=0)  # fmt: skip
    child = oq.enqueue(func=tasks.record, func_args={"label": "child"}, depends_on=[failing])
    other = oq.enqueue(func=tasks.add_numbers, func_args={"x": 1, "y": 1})
    grandchild = oq.enqueue(
        func=tasks.record, func_args={"label": "grandchild"}, depends_on=[child, other]
    )
    flow_tasks.GATES[gate].set()
    with pytest.raises(TaskFailedError):
        oq.get_result(failing, timeout=5)
    for task_id in (child, grandchild):
        with pytest.raises(TaskCancelledError):
            oq.get_result(task_id, timeout=5)
        task = oq.get_task(task_id)
        assert task is not None
        assert task.status is TaskStatus.CANCELLED
        assert task.error is not None
        assert task.error.type == "omniq.exceptions.TaskCancelledError"
        assert repr(failing) in task.error.message
        assert "failed" in task.error.message
        events = flow_tasks.events_once(oq, task_id, EventType.CANCELLED)
        assert [e.type for e in events] == [EventType.ENQUEUED, EventType.CANCELLED]
        assert events[1].error is not None
        assert repr(failing) in events[1].error
    assert tasks.ORDER == []


def test_a_dependency_that_already_failed_stores_the_task_cancelled(make_oq: MakeOmniQ) -> None:
    oq = make_oq().open()
    oq.start_worker(max_workers=1)
    failed = oq.enqueue(func=tasks.always_fails, func_args={"message": "no"}, max_retries=0)
    with pytest.raises(TaskFailedError):
        oq.get_result(failed, timeout=5)
    ok = oq.enqueue(func=tasks.add_numbers, func_args={"x": 1, "y": 1})
    assert oq.get_result(ok, timeout=5) == 2
    task_id = oq.enqueue(func=tasks.record, func_args={"label": "x"}, depends_on=[ok, failed])
    task = oq.get_task(task_id)
    assert task is not None
    assert task.status is TaskStatus.CANCELLED
    assert task.finished_at is not None
    assert task.error is not None
    assert f"not run: task {failed!r}, which this task depends on, failed" == task.error.message
    assert event_types(oq, task_id) == [EventType.ENQUEUED, EventType.CANCELLED]
    with pytest.raises(TaskCancelledError):
        oq.get_result(task_id, timeout=0)
    # and a task that depends on it is cancelled at once too
    later = oq.enqueue(func=tasks.record, func_args={"label": "y"}, depends_on=[task_id])
    assert status(oq, later) is TaskStatus.CANCELLED
    assert tasks.ORDER == []


def test_an_expired_dependency_cancels_its_dependents(make_oq: MakeOmniQ) -> None:
    oq = make_oq().open()
    expiring = oq.enqueue(func=tasks.add_numbers, func_args={"x": 1, "y": 1}, ttl=0.05)
    dependent = oq.enqueue(func=tasks.record, func_args={"label": "d"}, depends_on=[expiring])
    record = portal().call(oq.task_queue.get(expiring))
    assert record is not None
    assert record.expires_at is not None
    wait_for_time(oq, record.expires_at)
    oq.start_worker(max_workers=1)
    wait_until(has_status(oq, dependent, TaskStatus.CANCELLED), what="dependent cancelled")
    task = oq.get_task(dependent)
    assert task is not None
    assert task.error is not None
    assert task.error.message.endswith("expired")
    assert tasks.ORDER == []


def test_a_cancelled_dependency_cancels_its_dependents(make_oq: MakeOmniQ) -> None:
    oq = make_oq().open()
    delayed = oq.enqueue(func=tasks.add_numbers, func_args={"x": 1, "y": 1}, run_in=60)
    child = oq.enqueue(func=tasks.record, func_args={"label": "c"}, depends_on=[delayed])
    grandchild = oq.enqueue(func=tasks.record, func_args={"label": "g"}, depends_on=[child])
    assert oq.cancel(delayed) is True
    for task_id in (child, grandchild):
        task = oq.get_task(task_id)
        assert task is not None
        assert task.status is TaskStatus.CANCELLED
        assert task.error is not None
        assert task.error.message.endswith("was cancelled")
        assert event_types(oq, task_id) == [EventType.ENQUEUED, EventType.CANCELLED]


def test_an_unknown_dependency_stores_nothing(oq: OmniQ) -> None:
    known = oq.enqueue(func=tasks.add_numbers, func_args={"x": 1, "y": 1})
    with pytest.raises(ConfigurationError, match="'nope'"):
        oq.enqueue_many(tasks.add_numbers, [{"x": 1, "y": 1}] * 3, depends_on=[known, "nope"])
    now = time.time()
    claimed = portal().call(oq.task_queue.claim(oq.queues, 100, "probe", now, now + 30))
    assert [record.id for record in claimed] == [known]


def test_a_worker_settles_dependents_left_waiting_by_a_crash(make_oq: MakeOmniQ) -> None:
    """The dependency completed but its worker died before releasing the dependent."""
    oq = make_oq(worker_config={"lease_duration": 0.3}).open()  # maintenance every 0.15 s
    first = oq.enqueue(func=tasks.add_numbers, func_args={"x": 1, "y": 2})
    second = oq.enqueue(func=tasks.add_numbers, func_args={"x": 3, "y": 4}, depends_on=[first])
    now = time.time()
    portal().call(oq.task_queue.claim(["default"], 1, "dead-worker", now, now + 60))
    portal().call(oq.task_queue.complete_many([first], "dead-worker", now))  # no release
    oq.start_worker(max_workers=1)
    assert oq.get_result(second, timeout=10) == 7
