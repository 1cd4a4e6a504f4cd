"""The lifecycle shared by the server backends' notification listeners.

A listener holds one connection of its own, in a task on the backend's bridge loop, and
feeds every registered :class:`~omniq.storage.interfaces.NotificationSink` the wake-ups it
hears (:mod:`omniq.storage.wakeups`). Subclasses write :meth:`WakeupListener._listen`: connect,
subscribe, call :meth:`WakeupListener._subscribed`, then :meth:`WakeupListener._broadcast`
each message, reconnecting on their own when the connection drops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from omniq.storage.bridge import LoopBridge
from omniq.storage.interfaces import NotificationSink
from omniq.storage.wakeups import MISSED_PAYLOADS, deliver_to_all

__all__ = ["WakeupListener"]


class WakeupListener:
    """Starts, feeds and stops one listening task on a bridge loop.

    ``start`` and ``stop`` may be awaited from any loop.

    Args:
        bridge: The backend's bridge (the listening task runs on its loop).
        channel: The project's channel name (also names the task).
        ready_timeout: Seconds :meth:`start` waits for the subscription before returning
            anyway (the listener keeps trying; polling is the backstop).
        log: The backend's logger, where a failing sink is reported.
    """

    def __init__(
        self, bridge: LoopBridge, channel: str, ready_timeout: float, log: logging.Logger
    ) -> None:
        self._bridge = bridge
        self._channel = channel
        self._ready_timeout = ready_timeout
        self._log = log
        self._sinks: list[NotificationSink] = []
        self._task: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()

    async def start(self, sink: NotificationSink) -> None:
        """Start listening for ``sink`` (once per sink); returns once subscribed."""
        await self._bridge.run(lambda: self._start(sink))

    async def stop(self) -> None:
        """Stop listening (idempotent)."""
        if self._bridge.running:
            await self._bridge.run(self.stop_here)

    async def stop_here(self) -> None:
        """:meth:`stop`, on the bridge's loop (when the backend closes)."""
        task, self._task = self._task, None
        self._sinks.clear()
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _start(self, sink: NotificationSink) -> None:
        if sink not in self._sinks:
            self._sinks.append(sink)
        if self._task is None or self._task.done():
            self._listening = asyncio.Event()
            self._task = asyncio.create_task(self._listen(), name=f"omniq-listen-{self._channel}")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._ready_timeout):
                await self._listening.wait()

    async def _listen(self) -> None:
        raise NotImplementedError

    def _subscribed(self, missed: bool) -> None:
        """Mark the subscription active; after a gap, report everything as possibly missed."""
        self._listening.set()
        if missed:  # what happened while nobody listened: look at the store
            for payload in MISSED_PAYLOADS:
                self._broadcast(payload)

    def _broadcast(self, payload: str) -> None:
        deliver_to_all(payload, self._sinks, self._log)
