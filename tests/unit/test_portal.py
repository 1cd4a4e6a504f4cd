"""The loop thread behind every sync OmniQ call."""

from __future__ import annotations

import asyncio
import threading

import pytest

from omniq.core.portal import portal
from omniq.exceptions import WorkerError


async def _value(value: int) -> int:
    await asyncio.sleep(0)
    return value


async def _system_exit() -> None:
    raise SystemExit(5)


def test_call_returns_the_result_and_reuses_one_loop() -> None:
    assert portal().call(_value(1)) == 1
    assert portal() is portal()
    assert portal().loop.is_running()


def test_call_from_many_threads() -> None:
    results: list[int] = []
    lock = threading.Lock()

    def client(n: int) -> None:
        value = portal().call(_value(n))
        with lock:
            results.append(value)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(results) == list(range(16))


def test_a_system_exit_in_a_coroutine_does_not_kill_the_loop() -> None:
    with pytest.raises(SystemExit):
        portal().call(_system_exit())
    assert portal().call(_value(2)) == 2


def test_call_from_the_loop_thread_is_refused() -> None:
    async def nested() -> str:
        try:
            portal().call(_value(3))
        except WorkerError as exc:
            return str(exc)
        return "no error"

    assert "await the *_async method instead" in portal().call(nested())
