"""The thread and async executors, their time limits, and choosing an executor by name."""

from __future__ import annotations

import asyncio
import functools
import multiprocessing
import sys
import threading

import pytest

from omniq.exceptions import ConfigurationError, MissingDependencyError, TaskTimeoutError
from omniq.workers.config import WORKER_TYPES, create_executor
from omniq.workers.executors import (
    AsyncExecutor,
    ThreadPoolTaskExecutor,
    call_body,
    is_async_callable,
)
from omniq.workers.process_pool import ProcessPoolTaskExecutor


async def _double(x: int) -> int:
    await asyncio.sleep(0)
    return 2 * x


def _triple(x: int) -> int:
    return 3 * x


def test_is_async_callable() -> None:
    assert is_async_callable(_double)
    assert is_async_callable(functools.partial(functools.partial(_double), x=1))
    assert not is_async_callable(_triple)
    assert not is_async_callable(lambda: _double(1))


def test_call_body_runs_coroutines_in_a_loop_of_their_own() -> None:
    assert call_body(_double, {"x": 2}) == 4
    assert call_body(lambda x: _double(x), {"x": 3}) == 6  # returns a coroutine
    assert call_body(_triple, {"x": 1}) == 3


async def test_thread_body_past_its_time_limit_runs_on_unobserved() -> None:
    executor = ThreadPoolTaskExecutor(1)
    gate = threading.Event()
    try:
        with pytest.raises(TaskTimeoutError, match=r"timeout of 0\.05s: a thread cannot be"):
            await executor.run(gate.wait, {"timeout": 10}, time_limit=0.05)
    finally:
        gate.set()
        executor.shutdown()


async def test_time_limit_does_not_touch_a_body_own_timeout_error() -> None:
    def own() -> None:
        raise TimeoutError("the body's own")

    executor = ThreadPoolTaskExecutor(1)
    try:
        with pytest.raises(TimeoutError, match="the body's own") as caught:
            await executor.run(own, {}, time_limit=5)
        assert not isinstance(caught.value, TaskTimeoutError)
    finally:
        executor.shutdown()


async def test_async_body_past_its_time_limit_is_cancelled() -> None:
    cancelled = asyncio.Event()

    async def forever() -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    executor = AsyncExecutor(1)
    try:
        with pytest.raises(TaskTimeoutError, match="it was cancelled"):
            await executor.run(forever, {}, time_limit=0.05)
        assert cancelled.is_set()
        assert await executor.run(_double, {"x": 4}, time_limit=5) == 8
        assert executor.mean_duration is not None
    finally:
        executor.shutdown()


def test_every_documented_worker_type_is_available() -> None:
    assert set(WORKER_TYPES) == {"async", "thread_pool", "process_pool", "gevent"}


def test_process_pool_executor_starts_no_process_until_used() -> None:
    before = set(multiprocessing.active_children())
    executor = create_executor("process_pool", 3)
    try:
        assert isinstance(executor, ProcessPoolTaskExecutor)
        assert executor.max_workers == 3
        assert set(multiprocessing.active_children()) == before
    finally:
        executor.shutdown()


def test_gevent_without_monkey_patching_says_how_to_run_it() -> None:
    with pytest.raises(ConfigurationError) as caught:
        create_executor("gevent", 10)
    message = str(caught.value)
    assert "python -m omniq.workers.gevent_main" in message
    assert "monkey.patch_all()" in message


def test_gevent_not_installed_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gevent", None)
    monkeypatch.delitem(sys.modules, "omniq.workers.gevent_pool", raising=False)
    with pytest.raises(MissingDependencyError, match=r"pip install 'omniq\[gevent\]'"):
        create_executor("gevent", 10)


def test_unknown_worker_type_lists_the_known_ones() -> None:
    with pytest.raises(ConfigurationError, match="'process_pool', 'gevent'"):
        create_executor("fibers", 1)
