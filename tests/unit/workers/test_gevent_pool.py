"""GeventTaskExecutor mechanics, in this (unpatched) process with gevent-aware bodies.

Monkey-patching cannot be undone, so the patched, end-to-end behaviour is tested in a
subprocess (``tests/api/test_worker_types.py``); here bodies call ``gevent.sleep`` so they
yield without patching.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator

import gevent
import pytest
from greenlet import GreenletExit

from omniq.exceptions import TaskTimeoutError, WorkerError
from omniq.workers.gevent_pool import GeventTaskExecutor


@pytest.fixture
async def pool() -> AsyncIterator[GeventTaskExecutor]:
    executor = GeventTaskExecutor(10)
    yield executor
    executor.shutdown()


class Recorder:
    """Counts bodies running at once and notes how each one ended."""

    def __init__(self) -> None:
        self.running = 0
        self.peak = 0
        self.ended: list[str] = []
        self.native_threads: set[int] = set()

    def nap(self, seconds: float) -> str:
        self.native_threads.add(threading.get_native_id())
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            gevent.sleep(seconds)
        except GreenletExit:
            self.ended.append("killed")
            raise
        finally:
            self.running -= 1
        self.ended.append("finished")
        return "slept"


async def test_bodies_run_concurrently_in_a_hub_thread_of_their_own(
    pool: GeventTaskExecutor,
) -> None:
    recorder = Recorder()
    started = time.perf_counter()
    results = await asyncio.gather(*[pool.run(recorder.nap, {"seconds": 0.2}) for _ in range(10)])
    assert results == ["slept"] * 10
    assert time.perf_counter() - started < 1.5  # 10 x 0.2 s one after another would be 2 s
    assert recorder.peak == 10
    assert recorder.native_threads != {threading.get_native_id()}


async def test_max_workers_bounds_the_greenlets() -> None:
    pool = GeventTaskExecutor(2)
    recorder = Recorder()
    try:
        await asyncio.gather(*[pool.run(recorder.nap, {"seconds": 0.05}) for _ in range(6)])
    finally:
        pool.shutdown()
    assert recorder.peak == 2
    assert pool.mean_duration is not None


async def test_exceptions_and_system_exit_come_back_as_raised(pool: GeventTaskExecutor) -> None:
    def fail() -> None:
        raise ValueError("boom")

    def leave() -> None:
        raise SystemExit(4)

    with pytest.raises(ValueError, match="boom"):
        await pool.run(fail, {})
    with pytest.raises(SystemExit):  # returned to the caller, not raised in the main greenlet
        await pool.run(leave, {})
    assert await pool.run(lambda: "still serving", {}) == "still serving"


async def test_coroutine_bodies_run_on_the_worker_loop(pool: GeventTaskExecutor) -> None:
    async def which_loop() -> asyncio.AbstractEventLoop:
        await asyncio.sleep(0)
        return asyncio.get_running_loop()

    assert await pool.run(which_loop, {}) is asyncio.get_running_loop()


async def test_sync_bodies_see_no_running_loop(pool: GeventTaskExecutor) -> None:
    def own_loop() -> str:
        return asyncio.run(asyncio.sleep(0, "own loop"))

    assert await pool.run(own_loop, {}) == "own loop"


async def test_time_limit_kills_the_greenlet(pool: GeventTaskExecutor) -> None:
    recorder = Recorder()
    with pytest.raises(TaskTimeoutError, match="its greenlet was killed"):
        await pool.run(recorder.nap, {"seconds": 30}, time_limit=0.1)
    await asyncio.to_thread(_wait_for, lambda: recorder.ended == ["killed"])


async def test_cancelling_run_kills_the_greenlet(pool: GeventTaskExecutor) -> None:
    recorder = Recorder()
    body = asyncio.ensure_future(pool.run(recorder.nap, {"seconds": 30}))
    await asyncio.to_thread(_wait_for, lambda: recorder.running == 1)
    body.cancel()
    with pytest.raises(asyncio.CancelledError):
        await body
    await asyncio.to_thread(_wait_for, lambda: recorder.ended == ["killed"])


async def test_shutdown_kills_running_greenlets() -> None:
    pool = GeventTaskExecutor(2)
    recorder = Recorder()
    body = asyncio.ensure_future(pool.run(recorder.nap, {"seconds": 30}))
    await asyncio.to_thread(_wait_for, lambda: recorder.running == 1)
    pool.shutdown()
    await asyncio.to_thread(_wait_for, lambda: recorder.ended == ["killed"])
    with pytest.raises(WorkerError, match="killed"):
        await body
    with pytest.raises(WorkerError, match="shut down"):
        await pool.run(recorder.nap, {"seconds": 0})


def _wait_for(condition: object, timeout: float = 5.0) -> None:
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)
