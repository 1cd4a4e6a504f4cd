"""Starting and stopping workers, worker types, and graceful stop."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from omniq import ConfigurationError, EventType, OmniQ, TaskFailedError, TaskStatus
from omniq.exceptions import WorkerError

from . import tasks
from .conftest import MakeOmniQ
from .helpers import events_ending_with, status, stays_false, wait_until


def test_start_worker_twice_is_an_error(oq: OmniQ) -> None:
    oq.start_worker(max_workers=1)
    with pytest.raises(WorkerError):
        oq.start_worker(max_workers=1)
    first = oq.worker
    oq.stop_worker()
    oq.start_worker(max_workers=1)  # after a stop, a new one may start
    assert oq.worker is not first
    task_id = oq.enqueue(func=tasks.add_numbers, func_args={"x": 1, "y": 1})
    assert oq.get_result(task_id, timeout=5) == 2


def test_stop_worker_without_a_worker_is_a_no_op(oq: OmniQ) -> None:
    oq.stop_worker()
    oq.stop_worker()
    assert oq.worker is None


async def test_stop_worker_async_without_a_worker_is_a_no_op(make_oq: MakeOmniQ) -> None:
    async with make_oq() as oq:
        await oq.stop_worker_async()
        assert oq.worker is None


@pytest.mark.parametrize(
    "start",
    [
        {"worker_type": "thread_pool", "max_workers": 2},
        {"worker_type": "thread_pool", "worker_config": {"max_workers": 4}},
        {"worker_config": {"max_workers": 4}},
        {},
        {"worker_type": "async", "max_workers": 2},
    ],
    ids=["keyword", "worker_config", "default_type", "defaults", "async"],
)
def test_worker_configurations(oq: OmniQ, start: dict[str, object]) -> None:
    oq.start_worker(**start)  # type: ignore[arg-type]
    assert oq.worker is not None
    expected = start.get("max_workers") or start.get("worker_config", {}).get("max_workers", 4)  # type: ignore[attr-defined]
    assert oq.worker.runner.executor.max_workers == expected
    ids = [oq.enqueue(func=tasks.add_numbers, func_args={"x": i, "y": 0}) for i in range(6)]
    assert [oq.get_result(i, timeout=5) for i in ids] == list(range(6))


def test_keywords_win_over_worker_config(oq: OmniQ) -> None:
    oq.start_worker(worker_config={"max_workers": 4}, max_workers=1)
    assert oq.worker is not None
    assert oq.worker.runner.executor.max_workers == 1


def test_instance_defaults_are_used(make_oq: MakeOmniQ) -> None:
    oq = make_oq(worker_type="async", worker_config={"max_workers": 3}).open()
    oq.start_worker()
    assert oq.worker is not None
    assert oq.worker.runner.executor.max_workers == 3
    key = uuid.uuid4().hex
    task_id = oq.enqueue(func=tasks.async_thread_name, func_args={"key": key})
    assert oq.get_result(task_id, timeout=5) == "omniq-loop"


def test_thread_pool_runs_bodies_in_pool_threads(oq: OmniQ) -> None:
    oq.start_worker(worker_type="thread_pool", max_workers=2)
    sync_id = oq.enqueue(func=tasks.thread_name, func_args={"key": "sync"})
    async_id = oq.enqueue(func=tasks.async_thread_name, func_args={"key": "async"})
    assert oq.get_result(sync_id, timeout=5).startswith("omniq-task")
    assert oq.get_result(async_id, timeout=5).startswith("omniq-task")


def test_async_worker_runs_coroutines_on_the_loop_and_functions_in_threads(oq: OmniQ) -> None:
    oq.start_worker(worker_type="async", max_workers=2)
    sync_id = oq.enqueue(func=tasks.thread_name, func_args={"key": "sync"})
    async_id = oq.enqueue(func=tasks.async_thread_name, func_args={"key": "async"})
    assert oq.get_result(async_id, timeout=5) == "omniq-loop"  # the sync API's loop thread
    assert oq.get_result(sync_id, timeout=5).startswith("omniq-sync-task")


async def test_async_worker_started_from_async_code_uses_the_callers_loop(
    make_oq: MakeOmniQ,
) -> None:
    async with make_oq() as oq:
        await oq.start_worker_async(worker_type="async", max_workers=2)
        task_id = await oq.enqueue_async(func=tasks.async_thread_name, func_args={"key": "a"})
        assert await oq.get_result_async(task_id, timeout=5) == threading.current_thread().name


def test_a_blocking_function_does_not_block_async_tasks(oq: OmniQ) -> None:
    oq.start_worker(worker_type="async", max_workers=2)
    key = uuid.uuid4().hex
    try:
        blocked = oq.enqueue(func=tasks.wait_for_gate, func_args={"key": key})
        assert tasks.STARTED[key].wait(5)
        for n in range(3):  # one slot is free: async tasks run while the sync one blocks
            quick = oq.enqueue(func=tasks.async_add_numbers, func_args={"x": n, "y": 1})
            assert oq.get_result(quick, timeout=5) == n + 1
        task = oq.get_task(blocked)
        assert task is not None
        assert task.status is TaskStatus.EXECUTING
    finally:
        tasks.GATES[key].set()
    assert oq.get_result(blocked, timeout=5) == "opened"


async def test_async_tasks_run_concurrently(make_oq: MakeOmniQ) -> None:
    async with make_oq() as oq:
        await oq.start_worker_async(worker_type="async", max_workers=4)
        ids = [
            await oq.enqueue_async(func=tasks.async_add_numbers, func_args={"x": i, "y": 0})
            for i in range(8)
        ]
        results = await asyncio.gather(*(oq.get_result_async(i, timeout=5) for i in ids))
        assert results == list(range(8))


def test_max_workers_bounds_concurrency(oq: OmniQ) -> None:
    oq.start_worker(worker_type="thread_pool", max_workers=2)
    keys = [uuid.uuid4().hex for _ in range(3)]
    try:
        ids = [oq.enqueue(func=tasks.wait_for_gate, func_args={"key": key}) for key in keys]
        wait_until(lambda: sum(tasks.STARTED[k].is_set() for k in keys) == 2)
        statuses = [oq.get_task(i).status for i in ids]  # type: ignore[union-attr]
        assert statuses.count(TaskStatus.EXECUTING) == 2
        assert statuses.count(TaskStatus.ENQUEUED) == 1
    finally:
        for key in keys:
            tasks.GATES[key].set()
    assert [oq.get_result(i, timeout=5) for i in ids] == ["opened"] * 3


def test_graceful_stop_releases_a_coroutine_body_still_running(oq: OmniQ) -> None:
    oq.start_worker(worker_type="async", max_workers=1)
    key = uuid.uuid4().hex
    try:
        task_id = oq.enqueue(func=tasks.async_wait_for_gate, func_args={"key": key})
        assert tasks.STARTED[key].wait(5)
        oq.stop_worker(grace_period=0.1)  # a coroutine is interrupted: its task is released
        task = oq.get_task(task_id)
        assert task is not None
        assert task.status is TaskStatus.ENQUEUED
        types = [e.type for e in oq.get_events(task_id)]
        assert types[-1] is EventType.RELEASED
        assert EventType.COMPLETED not in types
    finally:
        tasks.GATES[key].set()
    # a new worker runs it again
    oq.start_worker(worker_type="async", max_workers=1)
    assert oq.get_result(task_id, timeout=5) == "opened"


@pytest.mark.parametrize("worker_type", ["thread_pool", "async"])
def test_graceful_stop_keeps_the_lease_of_a_body_running_in_a_thread(
    oq: OmniQ, same_store: Callable[..., OmniQ], worker_type: str
) -> None:
    """A thread cannot be interrupted: its task is not released while its body runs."""
    # Renewed every 0.5 s, so only a stall over 1 s could lapse it; a lapsed lease would be
    # recovered within the watch below.
    lease = 1.5
    oq.start_worker(worker_type=worker_type, max_workers=1, lease_duration=lease)
    assert oq.worker is not None
    first_id = oq.worker.worker_id
    key = uuid.uuid4().hex
    try:
        task_id = oq.enqueue(func=tasks.counted_gate, func_args={"key": key})
        assert tasks.STARTED[key].wait(5)
        oq.stop_worker(grace_period=0.1)
        assert status(oq, task_id) is TaskStatus.EXECUTING
        other = same_store(oq)
        other.start_worker(worker_type=worker_type, max_workers=1, lease_duration=lease)
        # Several leases long, the other worker must not start the task (nor recover it).
        assert stays_false(lambda: len(tasks.ATTEMPTS[key]) > 1, seconds=3 * lease)
        assert status(oq, task_id) is TaskStatus.EXECUTING
    finally:
        tasks.GATES[key].set()
    # The body's outcome is recorded by the stopped worker, which kept the lease.
    assert oq.get_result(task_id, timeout=5) == "opened"
    assert len(tasks.ATTEMPTS[key]) == 1
    task = oq.get_task(task_id)
    assert task is not None
    assert task.worker_id == first_id
    types = [e.type for e in events_ending_with(oq, task_id, EventType.COMPLETED)]
    assert EventType.RELEASED not in types
    assert EventType.RETRYING not in types


def test_closing_gives_up_a_lease_kept_for_a_body_in_a_thread(
    oq: OmniQ, same_store: Callable[..., OmniQ]
) -> None:
    other = same_store(oq)  # never owns a shared store: closing it leaves the store open
    other.start_worker(max_workers=1, lease_duration=0.6)
    key = uuid.uuid4().hex
    try:
        task_id = oq.enqueue(func=tasks.counted_gate, func_args={"key": key})
        assert tasks.STARTED[key].wait(5)
        other.stop_worker(grace_period=0.1)
        other.close()  # the lease lapses: the task runs again, as after a crash
        oq.start_worker(max_workers=1, lease_duration=0.6)
        wait_until(lambda: len(tasks.ATTEMPTS[key]) == 2, what="the task to run again")
    finally:
        tasks.GATES[key].set()
    assert oq.get_result(task_id, timeout=5) == "opened"


def test_graceful_stop_waits_for_a_task_that_finishes_in_time(oq: OmniQ) -> None:
    oq.start_worker(max_workers=1)
    key = uuid.uuid4().hex
    queued_key = uuid.uuid4().hex
    stopper: threading.Thread | None = None
    try:
        task_id = oq.enqueue(func=tasks.wait_for_gate, func_args={"key": key})
        assert tasks.STARTED[key].wait(5)
        queued = oq.enqueue(func=tasks.record, func_args={"label": queued_key})
        stopper = threading.Thread(target=oq.stop_worker, kwargs={"grace_period": 10})
        stopper.start()
        wait_until(lambda: oq.worker is None, what="stop_worker to begin")
    finally:
        tasks.GATES[key].set()
    assert stopper is not None
    stopper.join(10)
    assert not stopper.is_alive()
    task = oq.get_task(task_id)
    assert task is not None
    assert task.status is TaskStatus.COMPLETED
    assert oq.get_result(task_id, timeout=0) == "opened"
    assert EventType.RELEASED not in [e.type for e in oq.get_events(task_id)]
    # a stopping worker claims nothing new
    waiting = oq.get_task(queued)
    assert waiting is not None
    assert waiting.status is TaskStatus.ENQUEUED
    assert tasks.ORDER == []


def test_sync_call_from_the_loop_thread_is_refused(oq: OmniQ) -> None:
    oq.start_worker(worker_type="async", max_workers=1)
    task_id = oq.enqueue(func=tasks.async_calls_sync_api)
    message = oq.get_result(task_id, timeout=5)
    assert "await the *_async method instead" in message


@pytest.mark.parametrize("method", ["stop_worker", "close", "get_result"])
async def test_blocking_sync_calls_on_the_workers_own_loop_are_refused(
    make_oq: MakeOmniQ, method: str
) -> None:
    """They would deadlock: the worker needs the very loop the call blocks."""
    async with make_oq() as oq:
        await oq.start_worker_async(max_workers=1)
        task_id = await oq.enqueue_async(func=tasks.add_numbers, func_args={"x": 1, "y": 1})
        call = {
            "stop_worker": oq.stop_worker,
            "close": oq.close,
            "get_result": lambda: oq.get_result(task_id),
        }[method]
        with pytest.raises(WorkerError, match=f"await {method}_async"):
            call()
        assert await oq.get_result_async(task_id, timeout=5) == 2
        # non-blocking sync calls still work there
        assert oq.get_task(task_id) is not None
    assert oq.worker is None


SCRIPT_LOOP_ENDS_WITH_A_WORKER = """
import asyncio, sys
from omniq import OmniQ

oq = OmniQ(project_name="loop_ends", backend_type=sys.argv[1])

async def main():
    await oq.start_worker_async(max_workers=1)
    await oq.enqueue_async(func=pow, func_args={"base": 2, "exp": 3})
    # returns without stopping the worker: asyncio.run cancels its tasks

asyncio.run(main())
print("loop ended", flush=True)
oq.close()  # the worker's loop is closed: nothing to stop, storage still closed
print("closed", flush=True)
"""


@pytest.mark.targets("memory", "sqlite")  # the script names its backend_type alone
def test_a_worker_whose_loop_ends_does_not_hang_the_program(
    backend_name: str, tmp_path: Path, omniq_home: Path
) -> None:
    path = tmp_path / "loop_ends.py"
    path.write_text(SCRIPT_LOOP_ENDS_WITH_A_WORKER)
    for _ in range(3):
        done = subprocess.run(
            [sys.executable, "-W", "error", str(path), backend_name],
            capture_output=True,
            text=True,
            timeout=30,
            env={"OMNIQ_HOME": str(omniq_home), "PATH": "/usr/bin:/bin"},
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines() == ["loop ended", "closed"]


def test_a_body_calling_sys_exit_fails_the_task_and_nothing_else(oq: OmniQ) -> None:
    for worker_type in ("thread_pool", "async"):
        oq.start_worker(worker_type=worker_type, max_workers=1)
        for func in (tasks.calls_sys_exit, tasks.async_raises_system_exit):
            task_id = oq.enqueue(func=func, max_retries=0)
            with pytest.raises(TaskFailedError) as info:
                oq.get_result(task_id, timeout=5)
            assert info.value.error_type == "builtins.SystemExit"
            # the loop that runs every sync call survived
            after = oq.enqueue(func=tasks.add_numbers, func_args={"x": 1, "y": 1})
            assert oq.get_result(after, timeout=5) == 2
        oq.stop_worker()


def test_the_grace_period_is_checked_before_the_worker_is_let_go(oq: OmniQ) -> None:
    oq.start_worker(max_workers=1)
    with pytest.raises(ConfigurationError, match="grace_period -1"):
        oq.stop_worker(grace_period=-1)
    assert oq.worker is not None
    assert oq.worker.is_running
    task_id = oq.enqueue(func=tasks.add_numbers, func_args={"x": 1, "y": 1})
    assert oq.get_result(task_id, timeout=5) == 2
    oq.stop_worker(grace_period=1)
    assert oq.worker is None
