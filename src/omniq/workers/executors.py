"""How a task body runs: the only thing worker types differ in.

Every executor accepts both plain and ``async def`` functions: a coroutine function given to
the thread pool runs in its own short-lived loop in a pool thread; a plain function given to
the async executor runs in a thread so it cannot block the loop.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

__all__ = ["AsyncExecutor", "TaskExecutor", "ThreadPoolTaskExecutor"]


class TaskExecutor(Protocol):
    """Runs task bodies for a worker.

    Attributes:
        max_workers: How many bodies may run at once.
    """

    max_workers: int

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


class ThreadPoolTaskExecutor:
    """Runs each body in a pool of ``max_workers`` threads (``worker_type="thread_pool"``).

    Args:
        max_workers: Number of threads.
    """

    def __init__(self, max_workers: int) -> None:
        self.max_workers = max_workers
        self._pool = ThreadPoolExecutor(max_workers, thread_name_prefix="omniq-task")

    async def run(self, func: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
        """Run ``func(**kwargs)`` in a pool thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, _call_in_thread, func, kwargs)

    def shutdown(self) -> None:
        """Stop the pool; bodies still running finish in their threads, unobserved."""
        self._pool.shutdown(wait=False, cancel_futures=True)


class AsyncExecutor:
    """Runs coroutine functions on the worker's loop (``worker_type="async"``).

    Plain functions run in a pool of ``max_workers`` threads so they cannot block the loop.

    Args:
        max_workers: How many bodies may run at once.
    """

    def __init__(self, max_workers: int) -> None:
        self.max_workers = max_workers
        self._pool = ThreadPoolExecutor(max_workers, thread_name_prefix="omniq-sync-task")

    async def run(self, func: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
        """Await a coroutine function, or run a plain one in a thread."""
        if inspect.iscoroutinefunction(func) or (
            isinstance(func, functools.partial) and inspect.iscoroutinefunction(func.func)
        ):
            return await func(**kwargs)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, _call_in_thread, func, kwargs)

    def shutdown(self) -> None:
        """Stop the thread pool without waiting for abandoned bodies."""
        self._pool.shutdown(wait=False, cancel_futures=True)
