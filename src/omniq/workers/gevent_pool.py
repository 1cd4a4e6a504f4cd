"""``worker_type="gevent"``: task bodies as greenlets (extra ``omniq[gevent]``).

Requirement: gevent's monkey-patching must run before anything else is imported, so that
blocking calls in task bodies (``time.sleep``, sockets, ``requests``...) yield to other
greenlets instead of blocking the process. The supported way to run a gevent worker is
:mod:`omniq.workers.gevent_main` (``python -m omniq.workers.gevent_main --project NAME``),
which patches first. To embed one in your own program instead, make
``from gevent import monkey; monkey.patch_all()`` its very first lines and start the worker
with the async API (``await oq.start_worker_async(worker_type="gevent")`` under
``asyncio.run``), as ``gevent_main`` does.

Design (why bodies get a hub of their own):
    In a patched process, threads are greenlets of one native thread, but asyncio keeps its
    "running loop" per *native* thread. A body greenlet sharing a native thread with an
    event loop therefore sees that loop as running: ``asyncio.run`` inside the body fails,
    and so does any sync OmniQ call that checks for a running loop. So the bodies run in a
    gevent hub on a dedicated native thread (started with the original, unpatched
    ``start_new_thread``), as greenlets of a pool of ``max_workers``; the worker's claim,
    lease and retry loop stays on its own asyncio loop, which gevent's patched selector makes
    cooperative with the greenlets of its native thread (OmniQ's SQLite threads). Jobs cross
    over through a thread-safe gevent ``async`` watcher; outcomes come back with
    ``loop.call_soon_threadsafe``. A bonus: a body that computes without yielding holds only
    its hub, while the GIL still lets the worker loop renew leases.

    Bodies share their hub thread with each other, though, so a body calling ``asyncio.run``
    (directly or through a library) would still see the loop of another body blocked in
    ``asyncio.run``. The hub thread therefore gives every greenlet its own running-loop slot:
    a greenlet switch hook saves the running loop of the greenlet switched away from and
    restores the one of the greenlet switched to. ``async def`` bodies do not need that: they
    run on the worker's event loop itself, as with ``worker_type="async"``.

Interrupting: a timed-out or cancelled body's greenlet is killed (``GreenletExit`` is raised
at its next cooperative switch; a body that never yields runs on).
"""

from __future__ import annotations

import asyncio
import asyncio.events
import contextlib
import functools
import inspect
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import gevent
import gevent.monkey
import gevent.pool
import greenlet
from greenlet import GreenletExit

from omniq.exceptions import ConfigurationError, WorkerError
from omniq.workers.executors import _BoundedExecutor, is_async_callable, run_with_time_limit

__all__ = ["REQUIRED_PATCHES", "GeventTaskExecutor", "check_monkey_patched"]

#: Modules that ``gevent.monkey.patch_all()`` patches and a gevent worker relies on.
REQUIRED_PATCHES: Final = ("socket", "select", "time", "threading")

_start_new_thread = gevent.monkey.get_original("_thread", "start_new_thread")
_allocate_lock = gevent.monkey.get_original("_thread", "allocate_lock")


def check_monkey_patched() -> None:
    """Refuse to run a gevent worker in a process that gevent has not patched.

    Raises:
        ConfigurationError: A module of :data:`REQUIRED_PATCHES` is not patched; the
            message says how to run a gevent worker.
    """
    missing = [name for name in REQUIRED_PATCHES if not gevent.monkey.is_module_patched(name)]
    if missing:
        raise ConfigurationError(
            "worker_type 'gevent' needs gevent's monkey-patching done before anything else "
            f"is imported ({', '.join(missing)} not patched): run the worker with "
            "'python -m omniq.workers.gevent_main --project NAME ...', or make "
            "'from gevent import monkey; monkey.patch_all()' the first lines of your program"
        )


@dataclass(eq=False, slots=True)
class _Job:
    func: Callable[..., Any]
    kwargs: dict[str, Any]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]
    greenlet: Any = None
    cancelled: bool = False


def _call_in_greenlet(func: Callable[..., Any], kwargs: dict[str, Any]) -> tuple[bool, Any]:
    # Every exception is returned, not raised: gevent re-raises SystemExit and
    # KeyboardInterrupt of a greenlet in the main greenlet, which would end the worker.
    try:
        return True, func(**kwargs)
    except GreenletExit:
        raise
    except BaseException as exc:
        return False, exc


def _settle(future: asyncio.Future[Any], outcome: tuple[bool, Any]) -> None:
    if future.done():
        return
    ok, value = outcome
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


class _RunningLoopPerGreenlet:
    """A greenlet switch hook that gives each greenlet its own asyncio running loop."""

    def __init__(self) -> None:
        self._loops: weakref.WeakKeyDictionary[Any, asyncio.AbstractEventLoop] = (
            weakref.WeakKeyDictionary()
        )

    def __call__(self, event: str, args: tuple[Any, Any]) -> None:
        if event not in ("switch", "throw"):
            return
        origin, target = args
        running = asyncio.events._get_running_loop()
        if running is None:
            self._loops.pop(origin, None)
        else:
            self._loops[origin] = running
        asyncio.events._set_running_loop(self._loops.get(target))


class _GreenletHub:
    """A gevent hub in a native thread of its own, running bodies in a greenlet group."""

    def __init__(self) -> None:
        self._requests: deque[Callable[[], None]] = deque()
        self._lock = _allocate_lock()  # guards _stopped against a late wake-up
        self._stopped = False
        self._group: Any = None
        self._wakeup: Any = None
        self._error: BaseException | None = None
        ready = _allocate_lock()
        ready.acquire()
        _start_new_thread(self._main, (ready,))
        ready.acquire()  # released by the hub thread once it listens
        if self._error is not None:
            raise WorkerError(f"the gevent hub thread could not start: {self._error!r}")

    def _main(self, ready: Any) -> None:
        try:
            greenlet.settrace(_RunningLoopPerGreenlet())  # for this native thread only
            hub = gevent.get_hub()
            self._group = gevent.pool.Group()
            self._wakeup = hub.loop.async_()
            self._wakeup.start(self._drain)
        except BaseException as exc:
            self._error = exc
            return
        finally:
            ready.release()
        hub.join()  # until stop() stops the wake-up watcher and the last greenlet is gone
        hub.destroy(destroy_loop=True)

    def call_soon(self, request: Callable[[], None]) -> bool:
        """Run ``request`` in the hub thread (from any thread); ``False`` once stopped."""
        with self._lock:
            if self._stopped:
                return False
            self._requests.append(request)
            self._wakeup.send()
        return True

    def stop(self) -> None:
        """Kill the greenlets and let the hub thread end (from any thread)."""
        self.call_soon(self._stop)
        with self._lock:
            self._stopped = True

    def _drain(self) -> None:
        while self._requests:
            self._requests.popleft()()

    def _stop(self) -> None:
        self._group.kill(block=False)
        self._wakeup.stop()

    def start(self, job: _Job) -> None:
        """Spawn ``job``'s greenlet (in the hub thread)."""
        if job.cancelled:
            return
        job.greenlet = self._group.spawn(_call_in_greenlet, job.func, job.kwargs)
        job.greenlet.rawlink(functools.partial(_finished, job))

    @staticmethod
    def kill(job: _Job) -> None:
        """Kill ``job``'s greenlet, or keep it from starting (in the hub thread)."""
        job.cancelled = True
        if job.greenlet is not None:
            job.greenlet.kill(block=False)


def _finished(job: _Job, greenlet: Any) -> None:
    if job.cancelled:
        return
    if not greenlet.successful():
        outcome: tuple[bool, Any] = (False, greenlet.exception)
    elif isinstance(greenlet.value, tuple):
        outcome = greenlet.value
    else:  # killed from outside (the hub stopping)
        outcome = (False, WorkerError("the greenlet running this task was killed"))
    with contextlib.suppress(RuntimeError):  # the loop is closed
        job.loop.call_soon_threadsafe(_settle, job.future, outcome)


class GeventTaskExecutor(_BoundedExecutor):
    """Runs plain bodies as greenlets, at most ``max_workers`` at once (``"gevent"``).

    Only use it in a process that gevent monkey-patched before importing anything else (see
    the module docstring); ``create_executor("gevent", ...)`` checks this.

    Args:
        max_workers: Greenlets (and coroutine bodies) running at once.
    """

    def __init__(self, max_workers: int) -> None:
        super().__init__(max_workers)
        self._hub: _GreenletHub | None = None
        self._closed = False

    async def _run_body(
        self, func: Callable[..., Any], kwargs: dict[str, Any], time_limit: float | None
    ) -> Any:
        if is_async_callable(func):
            return await run_with_time_limit(func(**kwargs), time_limit, "it was cancelled")
        stopped = "its greenlet was killed (at its next cooperative switch)"
        return await run_with_time_limit(self._in_greenlet(func, kwargs), time_limit, stopped)

    async def _in_greenlet(self, func: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
        if self._closed:
            raise WorkerError("this gevent executor was shut down")
        if self._hub is None:
            self._hub = _GreenletHub()
        hub = self._hub
        loop = asyncio.get_running_loop()
        job = _Job(func, kwargs, loop, loop.create_future())
        hub.call_soon(functools.partial(hub.start, job))
        try:
            value = await job.future
        except asyncio.CancelledError:
            hub.call_soon(functools.partial(hub.kill, job))
            raise
        if inspect.iscoroutine(value):  # a callable object whose call returns a coroutine
            return await value
        return value

    def shutdown(self) -> None:
        """Kill the running greenlets and end the hub thread, without waiting."""
        self._closed = True
        if self._hub is not None:
            self._hub.stop()
