"""How a task body runs: the only thing worker types differ in.

Every executor accepts both plain and ``async def`` functions: a coroutine function given to
the thread pool runs in its own short-lived loop in a pool thread; a plain function given to
the async executor runs in a thread so it cannot block the loop.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

__all__ = ["AsyncExecutor", "TaskExecutor", "ThreadPoolTaskExecutor"]


class TaskExecutor(Protocol):
    """Runs task bodies for a worker.

    Attributes:
        max_workers: How many bodies may run at once (more may wait in ``run``).
        mean_duration: Moving average of body run times in seconds, ``None`` before the first.
    """

    max_workers: int
    mean_duration: float | None

    async def run(self, func: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
        """Run ``func(**kwargs)`` and return its result (or raise its exception)."""
        ...

    def shutdown(self) -> None:
        """Release the executor's threads without waiting for abandoned bodies."""
        ...


def _call_in_thread(func: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    if inspect.iscoroutinefunction(func):
        return asyncio.run(func(**kwargs))
    result = func(**kwargs)
    if inspect.iscoroutine(result):  # e.g. a partial of an async function
        return asyncio.run(result)
    return result


class _BoundedExecutor:
    """Runs at most ``max_workers`` bodies at once and tracks how long bodies take."""

    def __init__(self, max_workers: int, thread_name_prefix: str) -> None:
        self.max_workers = max_workers
        self.mean_duration: float | None = None
        self._pool = ThreadPoolExecutor(max_workers, thread_name_prefix=thread_name_prefix)
        self._slots: asyncio.Semaphore | None = None

    async def run(self, func: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
        """Run ``func(**kwargs)`` once a slot is free and return its result."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.max_workers)
        async with self._slots:
            started = time.perf_counter()
            try:
                return await self._run_body(func, kwargs)
            finally:
                elapsed = time.perf_counter() - started
                mean = self.mean_duration
                self.mean_duration = elapsed if mean is None else 0.8 * mean + 0.2 * elapsed

    async def _run_body(self, func: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, _call_in_thread, func, kwargs)

    def shutdown(self) -> None:
        """Stop the thread pool; bodies still running finish in their threads, unobserved."""
        self._pool.shutdown(wait=False, cancel_futures=True)


class ThreadPoolTaskExecutor(_BoundedExecutor):
    """Runs each body in a pool of ``max_workers`` threads (``worker_type="thread_pool"``).

    Args:
        max_workers: Number of threads.
    """

    def __init__(self, max_workers: int) -> None:
        super().__init__(max_workers, "omniq-task")


class AsyncExecutor(_BoundedExecutor):
    """Runs coroutine functions on the worker's loop (``worker_type="async"``).

    At most ``max_workers`` bodies run at once; plain functions run in a pool of that many
    threads so they cannot block the loop.

    Args:
        max_workers: How many bodies may run at once.
    """

    def __init__(self, max_workers: int) -> None:
        super().__init__(max_workers, "omniq-sync-task")

    async def _run_body(self, func: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
        if inspect.iscoroutinefunction(func) or (
            isinstance(func, functools.partial) and inspect.iscoroutinefunction(func.func)
        ):
            return await func(**kwargs)
        return await super()._run_body(func, kwargs)
