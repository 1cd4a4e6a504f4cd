"""How a task body runs: the only thing worker types differ in.

Every executor accepts both plain and ``async def`` functions: a coroutine function given to
the thread pool runs in its own short-lived loop in a pool thread; a plain function given to
the async executor runs in a thread so it cannot block the loop.

Interrupting a body: cancelling :meth:`TaskExecutor.run` (or its ``time_limit`` passing)
stops the body where the worker type allows it. Coroutine bodies on the worker's loop are
cancelled, ``process_pool`` kills the child process, ``gevent`` kills the greenlet; a plain
function in a thread cannot be interrupted, so it runs on unobserved while ``run`` returns,
and its slot stays taken until the thread really ends (``max_workers`` is never exceeded;
``abandoned`` counts such bodies). :func:`watch_threads` tells a caller which bodies run in
threads, so a stopping worker keeps their leases until they really end.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import inspect
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, Protocol

from omniq.exceptions import TaskTimeoutError
from omniq.workers.daemon_pool import DaemonThreadPool

__all__ = [
    "AsyncExecutor",
    "TaskExecutor",
    "ThreadPoolTaskExecutor",
    "call_body",
    "hold_slot_until",
    "is_async_callable",
    "run_with_time_limit",
    "time_limit_error",
    "watch_threads",
]


class TaskExecutor(Protocol):
    """Runs task bodies for a worker.

    Attributes:
        max_workers: How many bodies may run at once (more may wait in ``run``).
        mean_duration: Moving average of body run times in seconds, ``None`` before the first.
        abandoned: Bodies ``run`` stopped waiting for (timeout or cancellation) that could not
            be stopped and still hold their slot (threads running on).
    """

    max_workers: int
    mean_duration: float | None
    abandoned: int

    async def run(
        self, func: Callable[..., Any], kwargs: dict[str, Any], time_limit: float | None = None
    ) -> Any:
        """Run ``func(**kwargs)`` and return its result (or raise its exception).

        Args:
            func: The task function.
            kwargs: Its keyword arguments.
            time_limit: Seconds the body may run; past that it is stopped where the worker
                type allows (see the module docstring) and
                :class:`~omniq.exceptions.TaskTimeoutError` is raised.
        """
        ...

    def shutdown(self) -> None:
        """Release the executor's threads (and processes) without waiting for bodies."""
        ...


def is_async_callable(func: Callable[..., Any]) -> bool:
    """Whether calling ``func`` returns a coroutine (``async def`` or a partial of one)."""
    while isinstance(func, functools.partial):
        func = func.func
    return inspect.iscoroutinefunction(func)


def call_body(func: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    """Call ``func(**kwargs)`` in a thread or process that runs no event loop.

    A coroutine function (or a callable that returns a coroutine) runs to completion in a
    new event loop of its own.
    """
    if inspect.iscoroutinefunction(func):
        return asyncio.run(func(**kwargs))
    result = func(**kwargs)
    if inspect.iscoroutine(result):  # e.g. a partial of an async function
        return asyncio.run(result)
    return result


async def run_with_time_limit(body: Awaitable[Any], time_limit: float | None, stopped: str) -> Any:
    """Await ``body``, cancelling it after ``time_limit`` seconds.

    Args:
        body: The running body.
        time_limit: Seconds to wait, or ``None`` for no limit.
        stopped: What cancelling ``body`` does to it, for the error message (e.g. ``"its
            greenlet was killed"``).

    Raises:
        TaskTimeoutError: ``time_limit`` passed (a ``TimeoutError`` raised by the body
            itself is passed on unchanged).
    """
    if time_limit is None:
        return await body
    scope = asyncio.timeout(time_limit)
    try:
        async with scope:
            return await body
    except TimeoutError:
        if scope.expired():
            raise time_limit_error(time_limit, stopped) from None
        raise


def time_limit_error(time_limit: float, stopped: str) -> TaskTimeoutError:
    """The error of a body that ran longer than ``time_limit`` seconds."""
    return TaskTimeoutError(
        f"the task body ran longer than its timeout of {time_limit:g}s: {stopped}"
    )


#: What a time limit does to a plain function running in a thread.
_THREAD_RUNS_ON = "a thread cannot be interrupted, so the body runs on unobserved"

#: Set by ``_BoundedExecutor.run`` for the body it runs: a body that cannot be stopped adds
#: its still-running future, and the slot is then released only once that future is done.
_slot_held_by: contextvars.ContextVar[list[asyncio.Future[Any]] | None] = contextvars.ContextVar(
    "omniq_slot_held_by", default=None
)


#: Set by whoever awaits :meth:`TaskExecutor.run` (see :func:`watch_threads`): a body that
#: runs in a thread, and so cannot be interrupted, adds its future to the list.
_thread_bodies: contextvars.ContextVar[list[asyncio.Future[Any]] | None] = contextvars.ContextVar(
    "omniq_thread_bodies", default=None
)


#: Set by whoever awaits :meth:`TaskExecutor.run` (see :func:`watch_start`): the
#: ``time.perf_counter()`` at which the body started, once a slot was free, is appended.
_body_start: contextvars.ContextVar[list[float] | None] = contextvars.ContextVar(
    "omniq_body_start", default=None
)


@contextlib.contextmanager
def watch_start(into: list[float]) -> Iterator[None]:
    """Append to ``into`` when the body of a task created meanwhile starts (``perf_counter``).

    As for :func:`watch_threads`, create the task awaiting :meth:`TaskExecutor.run` inside
    this block. The body starts once a slot is free, which may be after ``run`` is called.
    """
    token = _body_start.set(into)
    try:
        yield
    finally:
        _body_start.reset(token)


@contextlib.contextmanager
def watch_threads(into: list[asyncio.Future[Any]]) -> Iterator[None]:
    """Collect into ``into`` the futures of bodies run in threads by tasks created meanwhile.

    Create the task that awaits :meth:`TaskExecutor.run` inside this block (a task copies the
    context it starts in). A body in a thread cannot be interrupted: while its future is not
    done, the body is still running.
    """
    token = _thread_bodies.set(into)
    try:
        yield
    finally:
        _thread_bodies.reset(token)


def hold_slot_until(body: asyncio.Future[Any]) -> None:
    """Keep the slot of the body ``run`` is running taken until ``body`` is done.

    For bodies that run on after ``run`` stopped waiting (a thread cannot be stopped).
    """
    held_by = _slot_held_by.get()
    if held_by is not None:
        held_by.append(body)


class _BoundedExecutor:
    """Runs at most ``max_workers`` bodies at once and tracks how long bodies take."""

    def __init__(self, max_workers: int) -> None:
        self.max_workers = max_workers
        self.mean_duration: float | None = None
        self.abandoned = 0
        self._slots: asyncio.Semaphore | None = None

    async def run(
        self, func: Callable[..., Any], kwargs: dict[str, Any], time_limit: float | None = None
    ) -> Any:
        """Run ``func(**kwargs)`` once a slot is free and return its result.

        The time limit counts from the start of the body, not the wait for a slot.
        """
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.max_workers)
        slots = self._slots
        await slots.acquire()
        held_by: list[asyncio.Future[Any]] = []
        token = _slot_held_by.set(held_by)
        started = time.perf_counter()
        start_watch = _body_start.get()
        if start_watch is not None:
            start_watch.append(started)
        try:
            return await self._run_body(func, kwargs, time_limit)
        finally:
            _slot_held_by.reset(token)
            elapsed = time.perf_counter() - started
            mean = self.mean_duration
            self.mean_duration = elapsed if mean is None else 0.8 * mean + 0.2 * elapsed
            running = [body for body in held_by if not body.done()]
            if running:
                self.abandoned += 1
                running[0].add_done_callback(functools.partial(self._abandoned_ended, slots))
            else:
                slots.release()

    def _abandoned_ended(self, slots: asyncio.Semaphore, _: object) -> None:
        self.abandoned -= 1
        slots.release()

    async def _run_body(
        self, func: Callable[..., Any], kwargs: dict[str, Any], time_limit: float | None
    ) -> Any:
        raise NotImplementedError

    def shutdown(self) -> None:
        """Release resources; bodies still running finish unobserved."""


class _ThreadBackedExecutor(_BoundedExecutor):
    """Runs plain bodies in a pool of ``max_workers`` threads."""

    def __init__(self, max_workers: int, thread_name_prefix: str) -> None:
        super().__init__(max_workers)
        # Daemon threads: a body abandoned after its timeout never holds the process at exit.
        self._pool = DaemonThreadPool(max_workers, thread_name_prefix)

    async def _in_thread(
        self, func: Callable[..., Any], kwargs: dict[str, Any], time_limit: float | None
    ) -> Any:
        loop = asyncio.get_running_loop()
        # In a copy of this context, as asyncio.to_thread does: the body sees the context
        # variables of the task running it (the current trace span, for one).
        call = functools.partial(contextvars.copy_context().run, call_body, func, kwargs)
        body = loop.run_in_executor(self._pool, call)
        watchers = _thread_bodies.get()
        if watchers is not None:
            watchers.append(body)
        try:
            # shield: cancelling must not mark the body done while its thread runs on.
            return await run_with_time_limit(asyncio.shield(body), time_limit, _THREAD_RUNS_ON)
        finally:
            if not body.done():
                hold_slot_until(body)

    def shutdown(self) -> None:
        """Stop the thread pool; bodies still running finish in their threads, unobserved."""
        self._pool.shutdown(wait=False, cancel_futures=True)


class ThreadPoolTaskExecutor(_ThreadBackedExecutor):
    """Runs each body in a pool of ``max_workers`` threads (``worker_type="thread_pool"``).

    Args:
        max_workers: Number of threads.
    """

    def __init__(self, max_workers: int) -> None:
        super().__init__(max_workers, "omniq-task")

    async def _run_body(
        self, func: Callable[..., Any], kwargs: dict[str, Any], time_limit: float | None
    ) -> Any:
        return await self._in_thread(func, kwargs, time_limit)


class AsyncExecutor(_ThreadBackedExecutor):
    """Runs coroutine functions on the worker's loop (``worker_type="async"``).

    At most ``max_workers`` bodies run at once; plain functions run in a pool of that many
    threads so they cannot block the loop.

    Args:
        max_workers: How many bodies may run at once.
    """

    def __init__(self, max_workers: int) -> None:
        super().__init__(max_workers, "omniq-sync-task")

    async def _run_body(
        self, func: Callable[..., Any], kwargs: dict[str, Any], time_limit: float | None
    ) -> Any:
        if is_async_callable(func):
            return await run_with_time_limit(func(**kwargs), time_limit, "it was cancelled")
        return await self._in_thread(func, kwargs, time_limit)
