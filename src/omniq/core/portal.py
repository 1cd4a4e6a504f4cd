"""One long-lived event loop in a daemon thread, so sync methods can run async code.

Every sync method of :class:`omniq.OmniQ` is ``portal().call(self.x_async(...))``: never a new
loop per call, never ``asyncio.run`` inside the library. The loop is per process: after a
``fork`` the child lazily starts its own.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Coroutine
from concurrent.futures import CancelledError as FutureCancelledError
from typing import Any, TypeVar

from omniq.exceptions import WorkerError
from omniq.storage.bridge import offer_host_loop

__all__ = ["LoopPortal", "portal"]

T = TypeVar("T")

_log = logging.getLogger("omniq")


class LoopPortal:
    """An event loop running for ever in a daemon thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        started = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(started,), name="omniq-loop", daemon=True
        )
        self._thread.start()
        started.wait()
        # Server backends opened from this loop keep their clients here (no thread hops).
        offer_host_loop(self.loop, self._thread)

    def _run(self, started: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(started.set)
        while True:
            try:
                self.loop.run_forever()
                return
            except BaseException:
                # A task let SystemExit/KeyboardInterrupt escape (the task itself holds it, so
                # its caller sees it): keep the loop serving everyone else instead of dying.
                _log.exception("an exception escaped a task on OmniQ's event loop")

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the portal's loop and block until it returns.

        Args:
            coro: The coroutine to run.

        Returns:
            Its result (its exception is re-raised here).

        Raises:
            WorkerError: Called from the portal's own thread, where blocking would deadlock.
        """
        if threading.current_thread() is self._thread:
            coro.close()
            raise WorkerError(
                "a synchronous OmniQ method was called from OmniQ's own event-loop thread "
                "(e.g. inside an async task run by a sync-started worker); "
                "await the *_async method instead"
            )
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result()
        except FutureCancelledError:
            raise
        except BaseException:
            if not future.done():  # interrupted (e.g. KeyboardInterrupt): stop the work too
                future.cancel()
            raise


_lock = threading.Lock()
_portal: LoopPortal | None = None
_portal_pid: int | None = None


def portal() -> LoopPortal:
    """The process's portal, started on first use (and again in a forked child)."""
    global _portal, _portal_pid
    with _lock:
        if _portal is None or _portal_pid != os.getpid():
            _portal = LoopPortal()
            _portal_pid = os.getpid()
        return _portal
