"""Per-task ``timeout=``: an attempt running longer fails with TaskTimeoutError (retried)."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from omniq import EventType, OmniQ, OmniQError, TaskFailedError, TaskStatus, TaskTimeoutError

from . import flow_tasks, tasks
from .conftest import MakeOmniQ
from .helpers import key, status, wait_until

TIMEOUT_TYPE = "omniq.exceptions.TaskTimeoutError"


def abandoned(oq: OmniQ) -> int:
    assert oq.worker is not None
    return oq.worker.runner.executor.abandoned


def test_task_timeout_error_is_an_omniq_error() -> None:
    assert issubclass(TaskTimeoutError, OmniQError)


def test_async_worker_cancels_the_coroutine_at_the_timeout(make_oq: MakeOmniQ) -> None:
    oq = make_oq().open()
    oq.start_worker(worker_type="async", max_workers=1)
    gate = key()
    task_id = oq.enqueue(
        func=flow_tasks.async_blocking, func_args={"key": gate}, timeout=0.1, max_retries=0
    )
    with pytest.raises(TaskFailedError) as info:
        oq.get_result(task_id, timeout=5)
    assert info.value.error_type == TIMEOUT_TYPE
    assert "timeout of 0.1s" in info.value.error_message
    assert gate in flow_tasks.INTERRUPTED  # interrupted, not abandoned
    assert abandoned(oq) == 0
    events = flow_tasks.events_once(oq, task_id, EventType.FAILED)
    assert events[-1].type is EventType.FAILED
    assert events[-1].error is not None
    assert events[-1].error.startswith(TIMEOUT_TYPE)


def test_a_timed_out_attempt_is_retried(make_oq: MakeOmniQ) -> None:
    oq = make_oq().open()
    oq.start_worker(worker_type="thread_pool", max_workers=2)
    k = key()
    task_id = oq.enqueue(
        func=flow_tasks.slow_first_attempt, func_args={"key": k}, timeout=0.1, max_retries=2
    )
    assert oq.get_result(task_id, timeout=5) == 2  # the second attempt ran in the other slot
    task = oq.get_task(task_id)
    assert task is not None
    assert task.retry_count == 1
    assert task.timeout == 0.1
    retrying = [e for e in oq.get_events(task_id) if e.type is EventType.RETRYING]
    assert len(retrying) == 1
    assert retrying[0].error is not None
    assert retrying[0].error.startswith(TIMEOUT_TYPE)
    assert "cannot be interrupted" in retrying[0].error


def test_thread_pool_abandons_the_thread_and_keeps_its_slot(make_oq: MakeOmniQ) -> None:
    oq = make_oq().open()
    oq.start_worker(worker_type="thread_pool", max_workers=1)
    gate = key()
    task_id = oq.enqueue(
        func=flow_tasks.blocking, func_args={"key": gate}, timeout=dt.timedelta(seconds=0.1),
        max_retries=0,
    )  # fmt: skip
    with pytest.raises(TaskFailedError) as info:
        oq.get_result(task_id, timeout=5)
    assert info.value.error_type == TIMEOUT_TYPE
    assert not flow_tasks.ENDED[gate].is_set()  # the thread runs on, unobserved
    assert abandoned(oq) == 1
    next_id = oq.enqueue(func=tasks.record, func_args={"label": "next"})
    # max_workers=1 and the slot is still taken: the next task is not even claimed
    flow_tasks.holds_for(lambda: status(oq, next_id) is TaskStatus.ENQUEUED, 0.3, "it waits")
    flow_tasks.GATES[gate].set()
    assert oq.get_result(next_id, timeout=5) == "next"
    assert flow_tasks.ENDED[gate].is_set()
    wait_until(lambda: abandoned(oq) == 0, what="the slot freed")
    task = oq.get_task(task_id)
    assert task is not None
    assert task.status is TaskStatus.FAILED  # the late result changes nothing


def test_sync_function_under_the_async_worker_is_abandoned(make_oq: MakeOmniQ) -> None:
    oq = make_oq().open()
    oq.start_worker(worker_type="async", max_workers=2)
    gate = key()
    task_id = oq.enqueue(
        func=flow_tasks.blocking, func_args={"key": gate}, timeout=0.1, max_retries=0
    )
    with pytest.raises(TaskFailedError) as info:
        oq.get_result(task_id, timeout=5)
    assert info.value.error_type == TIMEOUT_TYPE
    assert abandoned(oq) == 1
    flow_tasks.GATES[gate].set()
    wait_until(lambda: abandoned(oq) == 0, what="the slot freed")


@pytest.mark.parametrize("worker_type", ["thread_pool", "async"])
def test_a_body_within_its_timeout_completes(make_oq: MakeOmniQ, worker_type: str) -> None:
    oq = make_oq().open()
    oq.start_worker(worker_type=worker_type, max_workers=1)
    assert oq.get_result(oq.enqueue(func=tasks.async_add_numbers, func_args={"x": 1, "y": 2},
                                    timeout=5), timeout=5) == 3  # fmt: skip
    assert oq.get_result(oq.enqueue(func=flow_tasks.double, func_args={"x": 3}, timeout=5),
                         timeout=5) == 6  # fmt: skip


def test_the_bodys_own_timeout_error_is_not_a_task_timeout(make_oq: MakeOmniQ) -> None:
    oq = make_oq().open()
    oq.start_worker(worker_type="async", max_workers=1)
    task_id = oq.enqueue(func=flow_tasks.raises_timeout_error, timeout=5, max_retries=0)
    with pytest.raises(TaskFailedError) as info:
        oq.get_result(task_id, timeout=5)
    assert info.value.error_type == "builtins.TimeoutError"


def test_timeout_of_enqueue_many(make_oq: MakeOmniQ) -> None:
    oq = make_oq().open()
    ids = oq.enqueue_many(flow_tasks.double, [{"x": 1}, {"x": 2}], timeout=dt.timedelta(minutes=1))
    for task_id in ids:
        task = oq.get_task(task_id)
        assert task is not None
        assert task.timeout == 60.0
    plain = oq.get_task(oq.enqueue(func=flow_tasks.double, func_args={"x": 1}))
    assert plain is not None
    assert plain.timeout is None


@pytest.mark.parametrize("worker_type", ["thread_pool", "async"])
def test_an_abandoned_thread_body_does_not_hold_the_program_at_exit(
    worker_type: str, tmp_path: Path
) -> None:
    script = tmp_path / "abandon.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import time
            from omniq import OmniQ, TaskFailedError

            def stuck():
                time.sleep(60)

            with OmniQ(project_name="abandon", backend_type="memory") as oq:
                oq.start_worker(worker_type={worker_type!r}, max_workers=1)
                task_id = oq.enqueue(stuck, timeout=0.2, max_retries=0)
                try:
                    oq.get_result(task_id, timeout=30)
                except TaskFailedError as exc:
                    print(exc.error_type, flush=True)
            """
        )
    )
    started = time.monotonic()
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=50)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == TIMEOUT_TYPE
    assert time.monotonic() - started < 30  # the stuck body (60 s) was left behind at exit
