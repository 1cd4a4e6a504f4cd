"""Calling a loop-bound client from any event loop: one I/O thread, results on the caller's loop.

A psycopg pool, a ``redis.asyncio`` client or a nats-py connection belongs to the event loop
that created it, but OmniQ awaits backend verbs from its own loop thread, from the user's
loops and from worker threads (the any-loop rule of :mod:`omniq.storage.interfaces`).
:class:`LoopBridge` hosts such a client on one daemon thread running its own loop: a caller
awaits :meth:`LoopBridge.run` from wherever it is, the coroutine runs on the bridge's loop,
and the outcome is handed back on the caller's loop. Blocking callers (a sync ``initialize``)
use :meth:`LoopBridge.call`.

Outcomes are handed back in batches: everything that finished in one turn of the bridge's
loop reaches each caller loop in a single thread-safe callback, and requests that arrive
while the bridge is busy are started in one turn too. That keeps a busy worker's cost per
call near one ``await``. :func:`resolve_on_loops` is the same hand-back for backends with
their own threads (SQLite's writer).

A loop that runs for the life of the process (OmniQ's own loop thread, see
:func:`offer_host_loop`) can host bridges instead: a backend opened from it keeps its client
on that loop, and every call made from it (the sync API, a worker started with it) runs
directly, without the hop to another thread and back.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
import weakref
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import Future
from typing import Any, NamedTuple, TypeVar

from omniq.exceptions import BackendError
from omniq.storage.lifecycle import BackendLifecycle

__all__ = ["BridgedBackend", "LoopBridge", "Outcome", "offer_host_loop", "resolve_on_loops"]

T = TypeVar("T")

#: Seconds a closing backend waits for the calls in flight before it cancels them.
CLOSE_GRACE = 2.0

#: Loops that run for the life of the process, and their threads (see offer_host_loop).
_host_loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, threading.Thread] = (
    weakref.WeakKeyDictionary()
)


def offer_host_loop(loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
    """Let bridges started from ``loop`` run on it rather than on a thread of their own.

    Only for a loop that runs until the process ends (OmniQ's loop thread offers its loop
    when it starts): a bridge hosted there needs it for as long as its backend is open.

    Args:
        loop: The long-lived loop.
        thread: The thread that runs it.
    """
    _host_loops[loop] = thread


class Outcome(NamedTuple):
    """How one request ended, for the caller waiting on ``future``.

    Attributes:
        loop: The caller's event loop, or ``None`` for a blocking caller.
        future: An ``asyncio.Future`` of that loop, or a ``concurrent.futures.Future``.
        ok: Whether ``value`` is a result (else an exception).
        value: The result or the exception.
    """

    loop: asyncio.AbstractEventLoop | None
    future: asyncio.Future[Any] | Future[Any]
    ok: bool
    value: Any


def resolve_on_loops(outcomes: Iterable[Outcome]) -> None:
    """Hand outcomes back: blocking callers at once, one thread-safe callback per loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[Outcome]] = {}
    for outcome in outcomes:
        if outcome.loop is None:
            _settle(outcome)
        else:
            by_loop.setdefault(outcome.loop, []).append(outcome)
    for loop, batch in by_loop.items():
        with contextlib.suppress(RuntimeError):  # loop closed: nobody awaits any more
            loop.call_soon_threadsafe(_settle_all, batch)


def _settle_all(batch: list[Outcome]) -> None:
    for outcome in batch:
        _settle(outcome)


def _cancel_all(tasks: list[asyncio.Future[Any]]) -> None:
    for task in tasks:
        task.cancel()


def _settle(outcome: Outcome) -> None:
    future = outcome.future
    if future.cancelled() or future.done():
        return
    if outcome.ok:
        future.set_result(outcome.value)
    else:
        future.set_exception(outcome.value)


class _Request(NamedTuple):
    factory: Callable[[], Awaitable[Any]]
    loop: asyncio.AbstractEventLoop | None
    future: asyncio.Future[Any] | Future[Any]


class LoopBridge:
    """An event loop on a daemon thread that runs coroutines for callers on any loop.

    Args:
        name: The thread's name (shown in tracebacks and ``py-spy``).
        closed_message: The message of the :class:`BackendError` raised by calls made
            while the bridge is stopped.
    """

    def __init__(self, name: str, closed_message: str = "the backend is closed") -> None:
        self._name = name
        self._closed_message = closed_message
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._inbox: list[_Request] = []
        self._outbox: list[Outcome] = []
        self._draining = False
        self._flushing = False
        self._hosted = False
        self._tasks: set[asyncio.Future[Any]] = set()

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The bridge's loop while it runs, else ``None``."""
        return self._loop

    @property
    def running(self) -> bool:
        """Whether the thread runs (between :meth:`start` and :meth:`stop`)."""
        return self._loop is not None

    def start(self) -> None:
        """Start the thread and its loop (idempotent)."""
        with self._lock:
            if self._loop is not None:
                return
            loop = asyncio.new_event_loop()
            ready = threading.Event()
            thread = threading.Thread(
                target=self._main, args=(loop, ready), name=self._name, daemon=True
            )
            thread.start()
            ready.wait()
            self._loop, self._thread = loop, thread

    def start_here(self) -> None:
        """Start on the running loop if it is a host (:func:`offer_host_loop`), else :meth:`start`.

        Must be called from a running loop. A hosted bridge has no thread of its own:
        :meth:`stop` then cancels only the calls it started, and leaves the loop running.
        """
        loop = asyncio.get_running_loop()
        thread = _host_loops.get(loop)
        if thread is None:
            self.start()
            return
        with self._lock:
            if self._loop is None:
                self._loop, self._thread, self._hosted = loop, thread, True

    def stop(self) -> None:
        """Stop the loop and join the thread (idempotent; pending calls fail as closed)."""
        with self._lock:
            loop, thread, hosted = self._loop, self._thread, self._hosted
            self._loop = self._thread = None
            self._hosted = False
        if loop is None or thread is None:
            return
        if hosted:
            self._leave(loop)
            return
        if threading.current_thread() is thread:  # pragma: no cover - a misuse
            raise BackendError("LoopBridge.stop() from the bridge's own thread would deadlock")
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(loop.stop)
        thread.join()

    def _main(self, loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
        asyncio.set_event_loop(loop)
        loop.call_soon(ready.set)
        try:
            loop.run_forever()
        finally:
            self._shutdown(loop)

    def _shutdown(self, loop: asyncio.AbstractEventLoop) -> None:
        """Cancel what still runs, fail what never started, close the loop."""
        tasks = [task for task in asyncio.all_tasks(loop) if not task.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        with self._lock:
            orphans, self._inbox = self._inbox, []
            outbox, self._outbox = self._outbox, []
        closed = BackendError(self._closed_message)
        outbox.extend(Outcome(r.loop, r.future, False, closed) for r in orphans)
        resolve_on_loops(outbox)
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()

    def _forget(self, task: asyncio.Future[Any]) -> None:
        """A call run on the bridge's own loop ended (its caller may have stopped waiting)."""
        self._tasks.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: a caller that was cancelled must not log it

    def _leave(self, loop: asyncio.AbstractEventLoop) -> None:
        """Stop a hosted bridge: cancel what it started, fail what never started."""
        with self._lock:
            orphans, self._inbox = self._inbox, []
        closed = BackendError(self._closed_message)
        resolve_on_loops(Outcome(r.loop, r.future, False, closed) for r in orphans)
        tasks = list(self._tasks)
        if tasks:
            with contextlib.suppress(RuntimeError):  # the host loop ended with the process
                loop.call_soon_threadsafe(_cancel_all, tasks)

    async def settle(self, grace: float) -> None:
        """On the bridge's loop: let the calls in flight end, then cancel what still runs.

        A backend settles its bridge before it closes its client, so that no call is still
        using the client (or opening a connection in its pool) once it is closed: each call
        gets up to ``grace`` seconds to finish, the rest are cancelled and awaited (a
        cancelled call fails as closed). The calling task itself is not waited for.

        Args:
            grace: Seconds the calls in flight may take to finish.
        """
        loop = asyncio.get_running_loop()
        current = asyncio.current_task()
        deadline = loop.time() + grace
        while pending := [t for t in self._tasks if t is not current and not t.done()]:
            remaining = deadline - loop.time()
            if remaining <= 0:
                for task in pending:
                    task.cancel()
                await asyncio.wait(pending, timeout=grace)
                return
            await asyncio.wait(pending, timeout=remaining)

    async def run(self, factory: Callable[[], Awaitable[T]]) -> T:
        """Run ``factory()`` on the bridge's loop and await its outcome here.

        Args:
            factory: Called on the bridge's loop; returns the awaitable to run there (a
                coroutine function and its arguments, e.g. ``lambda: pool.fetch(...)``).

        Raises:
            BackendError: The bridge is stopped.
        """
        caller = asyncio.get_running_loop()
        if caller is self._loop:  # on the bridge's loop (hosted, or a notifier callback)
            # A task of its own, as for callers elsewhere: cancelling the caller stops its
            # wait, never a statement half way through the client.
            task: asyncio.Future[T] = asyncio.ensure_future(factory())
            self._tasks.add(task)
            task.add_done_callback(self._forget)
            return await asyncio.shield(task)
        future: asyncio.Future[T] = caller.create_future()
        self._submit(_Request(factory, caller, future))
        return await future

    def call(self, factory: Callable[[], Awaitable[T]]) -> T:
        """Blocking twin of :meth:`run`, for threads without a running loop.

        Raises:
            BackendError: The bridge is stopped, or this is the bridge's own thread.
        """
        if self._thread is not None and threading.current_thread() is self._thread:
            raise BackendError("LoopBridge.call() from the bridge's own thread would deadlock")
        future: Future[T] = Future()
        self._submit(_Request(factory, None, future))
        return future.result()

    def _submit(self, request: _Request) -> None:
        with self._lock:
            loop = self._loop
            if loop is None:
                raise BackendError(self._closed_message)
            self._inbox.append(request)
            if self._draining:
                return
            self._draining = True
        try:
            loop.call_soon_threadsafe(self._drain)
        except RuntimeError:  # pragma: no cover - stopped between the check and the call
            raise BackendError(self._closed_message) from None

    def _drain(self) -> None:
        """On the bridge's loop: start every request that arrived since the last drain."""
        with self._lock:
            requests, self._inbox = self._inbox, []
            self._draining = False
        for request in requests:
            try:
                task = asyncio.ensure_future(request.factory())
            except BaseException as exc:
                self._done(request, False, exc)
                continue
            self._tasks.add(task)
            task.add_done_callback(functools.partial(self._finished, request))

    def _finished(self, request: _Request, task: asyncio.Future[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            self._done(request, False, BackendError(self._closed_message))
        elif (error := task.exception()) is not None:
            self._done(request, False, error)
        else:
            self._done(request, True, task.result())

    def _done(self, request: _Request, ok: bool, value: Any) -> None:
        self._outbox.append(Outcome(request.loop, request.future, ok, value))
        if not self._flushing:
            self._flushing = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        """Hand back everything that finished in this turn of the loop."""
        self._flushing = False
        outcomes, self._outbox = self._outbox, []
        resolve_on_loops(outcomes)


class BridgedBackend(BackendLifecycle):
    """A backend whose client lives on a :class:`LoopBridge`: sync and async open/close.

    Subclasses set ``_bridge`` and implement :meth:`_open` and :meth:`_close`, which run on
    the bridge's loop (where the client must be created and closed). Opening starts the
    bridge's thread, or hosts the bridge on the opening loop when that loop was offered
    (:func:`offer_host_loop`); closing stops it. Both are idempotent and safe from any thread
    or loop. Closing first lets the calls in flight end (up to :data:`CLOSE_GRACE`
    seconds; the rest are cancelled), so none of them uses the client after it is closed.
    """

    _bridge: LoopBridge

    async def _open(self) -> None:  # pragma: no cover - provided by the backend
        """Create the client and the schema (on the bridge's loop)."""
        raise NotImplementedError

    async def _close(self) -> None:  # pragma: no cover - provided by the backend
        """Close the client (on the bridge's loop)."""
        raise NotImplementedError

    async def _settle_and_close(self) -> None:
        """Let the calls in flight end (see :meth:`LoopBridge.settle`), then :meth:`_close`."""
        await self._bridge.settle(CLOSE_GRACE)
        await self._close()

    def initialize(self) -> None:
        """Start the bridge and open the client (idempotent)."""
        if self._bridge.running:
            return
        self._bridge.start()
        try:
            self._bridge.call(self._open)
        except BaseException:
            self._bridge.stop()
            raise

    async def initialize_async(self) -> None:
        """Async twin of :meth:`initialize`."""
        if self._bridge.running:
            return
        if asyncio.get_running_loop() in _host_loops:
            self._bridge.start_here()
        else:
            await asyncio.to_thread(self._bridge.start)
        try:
            await self._bridge.run(self._open)
        except BaseException:
            await asyncio.to_thread(self._bridge.stop)
            raise

    def close(self) -> None:
        """Close the client and stop the bridge (idempotent)."""
        if not self._bridge.running:
            return
        try:
            self._bridge.call(self._settle_and_close)
        finally:
            self._bridge.stop()

    async def close_async(self) -> None:
        """Async twin of :meth:`close`."""
        if not self._bridge.running:
            return
        try:
            await self._bridge.run(self._settle_and_close)
        finally:
            await asyncio.to_thread(self._bridge.stop)
