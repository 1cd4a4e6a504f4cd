"""ProcessPoolTaskExecutor: bodies in child processes, crashes confined to their task."""

from __future__ import annotations

import asyncio
import functools
import multiprocessing.forkserver
import os
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import _executor_tasks as tasks
import psutil
import pytest

from omniq.exceptions import (
    ConfigurationError,
    SerializationError,
    TaskTimeoutError,
    WorkerError,
)
from omniq.workers.process_pool import (
    ProcessPoolTaskExecutor,
    RemoteTraceback,
    default_start_method,
)


@pytest.fixture
async def pool() -> AsyncIterator[ProcessPoolTaskExecutor]:
    executor = ProcessPoolTaskExecutor(2)
    yield executor
    executor.shutdown()


def wait_until(condition: Callable[[], Any], timeout: float = 10.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}")
        time.sleep(0.005)
    return value


def read_pid(path: Path) -> int:
    return int(path.read_text())


def gone(pid: int) -> bool:
    """The process no longer exists (exited and reaped)."""
    return not psutil.pid_exists(pid)


async def test_bodies_run_in_another_process(pool: ProcessPoolTaskExecutor) -> None:
    child = await pool.run(tasks.pid, {})
    assert child != os.getpid()
    assert psutil.Process(child).ppid() in {os.getpid(), *_forkserver_pids()}
    assert await pool.run(tasks.pid, {}) == child  # the child is kept for the next body


def _forkserver_pids() -> set[int]:
    return {proc.pid for proc in psutil.Process().children()}


@pytest.mark.parametrize(
    ("func", "kwargs", "expected"),
    [
        (tasks.add, {"x": 1, "y": 2}, 3),
        (tasks.async_add, {"x": 2, "y": 2}, 4),
        (lambda x: x * 2, {"x": 21}, 42),
        (functools.partial(tasks.add, y=10), {"x": 1}, 11),
        (functools.partial(tasks.async_add, y=10), {"x": 2}, 12),
    ],
    ids=["reference", "async_def", "lambda", "partial", "partial_of_async"],
)
async def test_kinds_of_function(
    pool: ProcessPoolTaskExecutor, func: Callable[..., Any], kwargs: dict[str, Any], expected: int
) -> None:
    assert await pool.run(func, kwargs) == expected


async def test_closure_and_values_cross_by_pickle(pool: ProcessPoolTaskExecutor) -> None:
    offset = 7

    def closure(values: tuple[int, ...]) -> frozenset[int]:
        return frozenset(value + offset for value in values)

    assert await pool.run(closure, {"values": (1, 2)}) == frozenset({8, 9})


async def test_exception_keeps_type_message_and_remote_traceback(
    pool: ProcessPoolTaskExecutor,
) -> None:
    with pytest.raises(ValueError, match=r"^boom$") as caught:
        await pool.run(tasks.fail, {"message": "boom"})
    cause = caught.value.__cause__
    assert isinstance(cause, RemoteTraceback)
    assert "in fail" in cause.text
    assert "ValueError: boom" in cause.text


async def test_exception_that_cannot_be_rebuilt_becomes_a_worker_error(
    pool: ProcessPoolTaskExecutor,
) -> None:
    with pytest.raises(WorkerError, match=r"raised _executor_tasks\.NeedsTwoArguments: one and"):
        await pool.run(tasks.fail_unrebuildable, {})


async def test_system_exit_is_raised_like_any_exception(pool: ProcessPoolTaskExecutor) -> None:
    with pytest.raises(SystemExit) as caught:
        await pool.run(tasks.exit_with, {"code": 3})
    assert caught.value.code == 3
    assert await pool.run(tasks.add, {"x": 1, "y": 1}) == 2  # the child survived it


async def test_unpicklable_result_is_a_clear_serialization_error(
    pool: ProcessPoolTaskExecutor,
) -> None:
    with pytest.raises(SerializationError, match=r"result of _executor_tasks:return_lock.*lock"):
        await pool.run(tasks.return_lock, {})


async def test_unpicklable_argument_fails_before_reaching_a_child(
    pool: ProcessPoolTaskExecutor,
) -> None:
    with pytest.raises(SerializationError, match=r"arguments of _executor_tasks:add\['x'\]"):
        await pool.run(tasks.add, {"x": threading.Lock(), "y": 1})


async def test_unpicklable_function_is_a_clear_serialization_error(
    pool: ProcessPoolTaskExecutor,
) -> None:
    lock = threading.Lock()
    with pytest.raises(SerializationError, match="cannot store function"):
        await pool.run(lambda: lock.locked(), {})


@pytest.mark.parametrize(
    ("func", "kwargs", "how"),
    [
        (tasks.hard_exit, {"code": 1}, r"exit code 1\)"),
        (tasks.kill_self, {}, r"exit code -9, killed by SIGKILL\)"),
    ],
    ids=["os_exit", "sigkill"],
)
async def test_dead_child_fails_only_its_task_and_is_replaced(
    pool: ProcessPoolTaskExecutor,
    tmp_path: Path,
    func: Callable[..., Any],
    kwargs: dict[str, Any],
    how: str,
) -> None:
    gate = tmp_path / "gate"
    survivor = asyncio.ensure_future(pool.run(tasks.wait_for_file, {"path": str(gate)}))
    with pytest.raises(WorkerError, match=f"worker process running this task died \\({how}"):
        await pool.run(func, kwargs)
    gate.touch()
    survivor_pid = await survivor  # the body in the other child was not disturbed
    pids = await asyncio.gather(
        pool.run(tasks.wait_for_file, {"path": str(gate)}),
        pool.run(tasks.wait_for_file, {"path": str(gate)}),
    )
    assert survivor_pid in pids
    assert len(set(pids)) == 2  # both slots work again, one with a new child


async def test_time_limit_kills_the_child(pool: ProcessPoolTaskExecutor, tmp_path: Path) -> None:
    mark = tmp_path / "mark"
    started = time.monotonic()
    with pytest.raises(TaskTimeoutError, match=r"timeout of 0\.3s: the process running it was"):
        await pool.run(tasks.sleep_then_mark, {"seconds": 30, "mark": str(mark)}, time_limit=0.3)
    assert time.monotonic() - started < 5
    child = read_pid(Path(f"{mark}.pid"))
    await asyncio.to_thread(wait_until, lambda: gone(child), 10.0, "the child to be gone")
    assert not mark.exists()
    assert await pool.run(tasks.add, {"x": 1, "y": 1}) == 2


async def test_time_limit_counts_only_the_body(pool: ProcessPoolTaskExecutor) -> None:
    # The first body also waits for the child to start; that is not held against it.
    assert await pool.run(tasks.add, {"x": 1, "y": 1}, time_limit=0.15) == 2


async def test_cancelling_run_kills_the_child(
    pool: ProcessPoolTaskExecutor, tmp_path: Path
) -> None:
    mark = tmp_path / "mark"
    body = asyncio.ensure_future(
        pool.run(tasks.sleep_then_mark, {"seconds": 30, "mark": str(mark)})
    )
    pid_file = Path(f"{mark}.pid")
    await asyncio.to_thread(wait_until, pid_file.exists, 10.0, "the body to start")
    body.cancel()
    with pytest.raises(asyncio.CancelledError):
        await body
    child = read_pid(pid_file)
    await asyncio.to_thread(wait_until, lambda: gone(child), 10.0, "the child to be killed")
    assert await pool.run(tasks.add, {"x": 2, "y": 3}) == 5


async def test_at_most_max_workers_children(pool: ProcessPoolTaskExecutor, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    bodies = [pool.run(tasks.wait_for_file, {"path": str(gate)}) for _ in range(5)]
    running = asyncio.ensure_future(asyncio.gather(*bodies))
    await asyncio.sleep(0.2)  # let the first two start; the others must wait for a slot
    gate.touch()
    pids = await running
    assert len(set(pids)) == 2


async def test_shutdown_ends_the_children(tmp_path: Path) -> None:
    pool = ProcessPoolTaskExecutor(2)
    idle = await pool.run(tasks.pid, {})
    mark = tmp_path / "mark"
    busy = asyncio.ensure_future(
        pool.run(tasks.sleep_then_mark, {"seconds": 30, "mark": str(mark)})
    )
    pid_file = Path(f"{mark}.pid")
    await asyncio.to_thread(wait_until, pid_file.exists, 10.0, "the body to start")
    pool.shutdown()
    busy_pid = read_pid(pid_file)
    await asyncio.to_thread(wait_until, lambda: gone(idle) and gone(busy_pid), 10.0, "children")
    busy.cancel()
    with pytest.raises(WorkerError, match="shut down"):
        await pool.run(tasks.pid, {})


async def test_spawn_start_method() -> None:
    pool = ProcessPoolTaskExecutor(1, start_method="spawn")
    try:
        assert pool.start_method == "spawn"
        assert await pool.run(tasks.add, {"x": 1, "y": 2}) == 3
    finally:
        pool.shutdown()


def test_fork_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="'fork' is unsafe"):
        ProcessPoolTaskExecutor(1, start_method="fork")


def test_forkserver_preloads_the_child_module() -> None:
    assert default_start_method() == "forkserver"
    ProcessPoolTaskExecutor(1).shutdown()
    preload = multiprocessing.forkserver._forkserver._preload_modules  # type: ignore[attr-defined]
    assert "omniq.workers.process_child" in preload
    assert "__main__" in preload
