"""LoopBridge: a loop-bound client used from any loop, results back on the caller's loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest

from omniq.exceptions import BackendError
from omniq.storage import bridge as bridge_module
from omniq.storage.bridge import BridgedBackend, LoopBridge, offer_host_loop

T = TypeVar("T")


class LoopBoundClient:
    """Refuses to be used from any loop but the one that created it, like asyncpg or nats-py."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.calls = 0

    async def echo(self, value: int) -> int:
        assert asyncio.get_running_loop() is self.loop, "used from a foreign loop"
        self.calls += 1
        await asyncio.sleep(0)
        return value

    async def boom(self) -> None:
        raise ValueError("from the client")


@pytest.fixture
def bridge() -> Iterator[LoopBridge]:
    bridge = LoopBridge("test-bridge", closed_message="the test backend is closed")
    bridge.start()
    yield bridge
    bridge.stop()


def make_client(bridge: LoopBridge) -> LoopBoundClient:
    async def create() -> LoopBoundClient:
        return LoopBoundClient()

    return bridge.call(create)


async def test_results_come_back_on_the_callers_loop(bridge: LoopBridge) -> None:
    client = make_client(bridge)
    caller = asyncio.get_running_loop()
    values = await asyncio.gather(*(bridge.run(lambda i=i: client.echo(i)) for i in range(200)))
    assert values == list(range(200))
    assert asyncio.get_running_loop() is caller
    assert client.calls == 200


def test_callers_on_many_loops_and_threads(bridge: LoopBridge) -> None:
    client = make_client(bridge)
    results: dict[int, list[int]] = {}

    def thread_main(n: int) -> None:
        async def main() -> list[int]:
            return list(
                await asyncio.gather(
                    *(bridge.run(lambda i=i: client.echo(n * 100 + i)) for i in range(50))
                )
            )

        results[n] = asyncio.run(main())

    threads = [threading.Thread(target=thread_main, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert results == {n: [n * 100 + i for i in range(50)] for n in range(6)}
    assert bridge.call(lambda: client.echo(7)) == 7  # and a blocking caller


async def test_errors_are_raised_in_the_caller(bridge: LoopBridge) -> None:
    client = make_client(bridge)
    with pytest.raises(ValueError, match="from the client"):
        await bridge.run(client.boom)
    with pytest.raises(ValueError, match="from the client"):
        await asyncio.to_thread(bridge.call, client.boom)


async def test_a_stopped_bridge_refuses_and_fails_what_was_running() -> None:
    bridge = LoopBridge("test-bridge", closed_message="the test backend is closed")
    bridge.start()
    started = asyncio.Event()
    caller = asyncio.get_running_loop()

    async def forever() -> None:
        caller.call_soon_threadsafe(started.set)
        await asyncio.Event().wait()

    pending = asyncio.ensure_future(bridge.run(forever))
    await started.wait()
    await asyncio.to_thread(bridge.stop)
    with pytest.raises(BackendError, match="the test backend is closed"):
        await pending
    with pytest.raises(BackendError, match="the test backend is closed"):
        await bridge.run(forever)
    bridge.stop()  # idempotent


async def test_a_call_from_the_bridge_loop_runs_inline(bridge: LoopBridge) -> None:
    async def nested() -> bool:
        inner = await bridge.run(lambda: asyncio.sleep(0, result=True))
        return inner and asyncio.get_running_loop() is bridge.loop

    assert await bridge.run(nested)


class HostLoop:
    """A long-lived loop in a thread of its own, offered to bridges (like OmniQ's portal)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        offer_host_loop(self.loop, self.thread)

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=10)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()


@pytest.fixture
def host() -> Iterator[HostLoop]:
    host = HostLoop()
    yield host
    host.close()


def test_a_bridge_started_on_a_host_loop_runs_there_without_a_thread(host: HostLoop) -> None:
    bridge = LoopBridge("hosted-bridge", closed_message="the hosted backend is closed")
    threads_before = threading.active_count()

    async def start_and_make() -> LoopBoundClient:
        bridge.start_here()
        return await bridge.run(_new_client)

    client = host.call(start_and_make())
    assert client.loop is host.loop
    assert threading.active_count() == threads_before  # no thread of its own

    async def on_host() -> int:
        return await bridge.run(lambda: client.echo(7))

    assert host.call(on_host()) == 7

    async def from_elsewhere() -> list[int]:  # another loop still gets its results back
        return list(
            await asyncio.gather(*(bridge.run(lambda i=i: client.echo(i)) for i in range(50)))
        )

    assert asyncio.run(from_elsewhere()) == list(range(50))
    assert bridge.call(lambda: client.echo(3)) == 3


def test_stopping_a_hosted_bridge_cancels_its_calls_and_leaves_the_loop_running(
    host: HostLoop,
) -> None:
    bridge = LoopBridge("hosted-bridge", closed_message="the hosted backend is closed")

    async def start() -> None:
        bridge.start_here()

    host.call(start())
    started = threading.Event()

    async def hang() -> None:
        started.set()
        await asyncio.sleep(3600)

    async def caller() -> None:
        await bridge.run(hang)

    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(asyncio.run, caller())
        assert started.wait(10)
        bridge.stop()
        with pytest.raises(BackendError, match="the hosted backend is closed"):
            pending.result(timeout=10)
    assert not bridge.running
    with pytest.raises(BackendError, match="the hosted backend is closed"):
        bridge.call(lambda: asyncio.sleep(0))

    async def still_alive() -> str:
        return "alive"

    assert host.call(still_alive()) == "alive"


async def test_a_loop_not_offered_gets_a_bridge_thread() -> None:
    bridge = LoopBridge("own-thread-bridge")
    bridge.start_here()
    try:
        client = await bridge.run(_new_client)
        assert client.loop is not asyncio.get_running_loop()
    finally:
        await asyncio.to_thread(bridge.stop)


async def _new_client() -> LoopBoundClient:
    return LoopBoundClient()


class RecordingBackend(BridgedBackend):
    """A bridged backend that records what ran on its loop, and in which order."""

    def __init__(self) -> None:
        self._bridge = LoopBridge(
            "recording-bridge", closed_message="the recording backend is closed"
        )
        self.log: list[str] = []

    async def _open(self) -> None:
        self.log.append("open")

    async def _close(self) -> None:
        self.log.append("close")

    async def slow_call(self, seconds: float, started: threading.Event) -> str:
        started.set()
        try:
            await asyncio.sleep(seconds)
        except asyncio.CancelledError:
            self.log.append("cancelled")
            raise
        self.log.append("call done")
        return "done"


def _call_in_thread(backend: RecordingBackend, seconds: float) -> tuple[Any, threading.Event]:
    started = threading.Event()
    pool = ThreadPoolExecutor(1)
    pending = pool.submit(backend._bridge.call, lambda: backend.slow_call(seconds, started))
    pool.shutdown(wait=False)
    assert started.wait(10)
    return pending, started


def test_closing_lets_a_call_in_flight_finish_before_the_client_closes() -> None:
    backend = RecordingBackend()
    backend.initialize()
    pending, _ = _call_in_thread(backend, 0.2)
    backend.close()
    assert pending.result(timeout=10) == "done"
    assert backend.log == ["open", "call done", "close"]


def test_closing_cancels_a_call_that_outlasts_the_grace_before_the_client_closes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(bridge_module, "CLOSE_GRACE", 0.1)
    backend = RecordingBackend()
    backend.initialize()
    pending, _ = _call_in_thread(backend, 3600)
    backend.close()
    with pytest.raises(BackendError, match="the recording backend is closed"):
        pending.result(timeout=10)
    assert backend.log == ["open", "cancelled", "close"]


def test_closing_a_hosted_backend_settles_its_calls_first(host: HostLoop) -> None:
    backend = RecordingBackend()
    host.call(backend.initialize_async())
    assert backend._bridge.loop is host.loop
    pending, _ = _call_in_thread(backend, 0.2)
    host.call(backend.close_async())
    assert pending.result(timeout=10) == "done"
    assert backend.log == ["open", "call done", "close"]
