"""Worker paths that only odd timing reaches: a late outcome after the lease was lost, and a
body that raises ``CancelledError`` itself."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from omniq import EventType, OmniQ, TaskFailedError, TaskStatus
from omniq.core.portal import portal

from . import flow_tasks, tasks
from .helpers import event_types, events_ending_with, wait_until


def test_a_late_outcome_after_a_lost_lease_is_discarded(
    oq: OmniQ, same_store: Callable[..., OmniQ], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="omniq.worker")
    oq.start_worker(max_workers=1)  # its one slot stays busy with the first run
    key = uuid.uuid4().hex
    try:
        task_id = oq.enqueue(
            tasks.first_run_waits, {"key": key},
            callback=flow_tasks.record_callback, callback_args={"key": key},
        )  # fmt: skip
        assert tasks.STARTED[key].wait(5)
        # The lease is lost while the first body still runs (as after a long pause of its
        # process): the store hands the task to another worker, which completes it.
        recovered = portal().call(
            oq.task_queue.recover_expired_leases(oq.store.clock.now() + 3600, None)
        )
        assert recovered == [task_id]
        other = same_store(oq)
        other.start_worker(max_workers=1)
        assert other.worker is not None
        owner = other.worker.worker_id
        assert oq.get_result(task_id, timeout=10) == "run 2"
        wait_until(lambda: len(flow_tasks.CALLBACKS[key]) == 1, what="the owner's callback")
    finally:
        tasks.GATES[key].set()  # the first body returns its late outcome
    wait_until(
        lambda: any(
            task_id in r.getMessage() and "outcome was discarded" in r.getMessage()
            for r in caplog.records
        ),
        what="the first worker to discard its late outcome",
    )
    assert oq.get_result(task_id, timeout=0) == "run 2"  # not overwritten, nor deleted
    task = oq.get_task(task_id)
    assert task is not None
    assert task.status is TaskStatus.COMPLETED
    assert task.worker_id == owner
    assert [result for result, _, _ in flow_tasks.CALLBACKS[key]] == ["run 2"]  # not run again
    assert event_types(oq, task_id).count(EventType.COMPLETED) == 1
    assert len(tasks.ATTEMPTS[key]) == 2


@pytest.mark.parametrize(
    ("worker_type", "func"),
    [
        ("thread_pool", tasks.raises_cancelled_error),
        ("async", tasks.async_raises_cancelled_error),
    ],
    ids=["thread", "coroutine"],
)
def test_a_body_raising_cancelled_error_fails_like_any_error(
    oq: OmniQ, worker_type: str, func: Callable[..., Any]
) -> None:
    oq.start_worker(worker_type=worker_type, max_workers=1)
    task_id = oq.enqueue(func, max_retries=1)
    with pytest.raises(TaskFailedError):
        oq.get_result(task_id, timeout=10)
    task = oq.get_task(task_id)
    assert task is not None
    assert task.status is TaskStatus.FAILED  # not cancelled: nobody asked for it
    assert task.error is not None
    assert task.error.type == "asyncio.exceptions.CancelledError"
    assert task.error.message == "raised by the body itself"
    types = [e.type for e in events_ending_with(oq, task_id, EventType.FAILED)]
    assert types.count(EventType.RETRYING) == 1  # retried like any failure
    assert EventType.CANCELLED not in types
    # The worker is still serving.
    assert oq.get_result(oq.enqueue(tasks.add_numbers, {"x": 1, "y": 2}), timeout=10) == 3
