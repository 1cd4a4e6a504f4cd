"""The store clock: the local clock plus the measured offset of the store's own."""

from __future__ import annotations

import asyncio
import time

import pytest

from omniq.core.clock import SYNC_SAMPLES, StoreClock


class FakeServer:
    def __init__(self, skew: float, fail: bool = False) -> None:
        self.skew = skew
        self.fail = fail

    async def server_time(self) -> float:
        if self.fail:
            raise ConnectionError("the store went away")
        return time.time() + self.skew


async def test_without_a_server_clock_it_is_the_local_clock() -> None:
    clock = StoreClock()
    await clock.sync()
    assert clock.offset == 0.0
    assert abs(clock.now() - time.time()) < 0.01


async def test_it_follows_a_server_clock_ahead_or_behind() -> None:
    for skew in (3600.0, -42.5):
        clock = StoreClock(FakeServer(skew))
        await clock.sync()
        assert clock.offset == pytest.approx(skew, abs=0.01)
        assert clock.now() - time.time() == pytest.approx(skew, abs=0.01)


async def test_a_failed_sync_keeps_the_last_offset(caplog: pytest.LogCaptureFixture) -> None:
    server = FakeServer(120.0)
    clock = StoreClock(server)
    await clock.sync()
    server.fail = True
    await clock.sync()
    assert clock.offset == pytest.approx(120.0, abs=0.01)
    assert "could not read the store's clock" in caplog.text


class SlowFirstAnswer:
    """A server whose first answer is stamped, then delayed 0.2 s on the way back."""

    def __init__(self, skew: float) -> None:
        self.skew = skew
        self.calls = 0

    async def server_time(self) -> float:
        self.calls += 1
        stamp = time.time() + self.skew
        if self.calls == 1:
            await asyncio.sleep(0.2)  # the reply is slow: half-RTT error of 0.1 s if trusted
        return stamp


async def test_the_shortest_round_trip_sets_the_offset() -> None:
    server = SlowFirstAnswer(7.0)
    clock = StoreClock(server)
    await clock.sync()
    assert server.calls == SYNC_SAMPLES
    assert clock.offset == pytest.approx(7.0, abs=0.01)  # the slow sample would say 6.9
    assert 0 <= clock.error < 0.01
