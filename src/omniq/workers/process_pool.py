"""``worker_type="process_pool"``: each task body runs in a child process.

The pool has ``max_workers`` slots. A slot is one child process plus one daemon thread of
this process that sends the child a job and waits for its reply or its death, so a slot's
child runs one body at a time and the parent always knows which body a child was running:

* a child that dies (``os._exit``, a segfault, SIGKILL, the OOM killer) fails only the task
  it was running, with :class:`~omniq.exceptions.WorkerError` naming its exit code; the
  slot starts a new child for its next job. (``concurrent.futures.ProcessPoolExecutor``
  cannot do this: one dead child breaks the whole pool and every task in flight.)
* a body past its time limit (the task's ``timeout``), or whose ``run`` is cancelled (the
  worker stopping after its grace period), is stopped by killing its child.
* the function crosses the process boundary by reference (``"module:qualname"``) when it is
  importable, otherwise by value with cloudpickle (lambdas, closures, ``__main__``); the
  arguments and the result are pickled. Anything that cannot be pickled fails the task with
  a :class:`~omniq.exceptions.SerializationError` naming it, never a hang.

Children are started when first needed and kept. They are started with ``forkserver`` where
it exists (never ``fork``: the parent runs threads), with this package preloaded in the
fork server, so a new child costs a fork (~10 ms) instead of a fresh interpreter importing
OmniQ (~200 ms with ``spawn``, the fallback elsewhere). As with any ``spawn``/``forkserver``
pool, a script that starts a worker must guard its entry point with
``if __name__ == "__main__":`` (each child imports the main module again), children see the
environment variables of the moment the fork server started, and they do not inherit the
parent's logging configuration. Coroutine functions run with :func:`asyncio.run` in the
child.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import multiprocessing
import multiprocessing.forkserver
import multiprocessing.util  # before our atexit hook, so ours runs first (LIFO)
import pickle
import queue
import signal
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.context import ForkServerContext, SpawnContext
from multiprocessing.process import BaseProcess
from typing import Any, Final

from omniq.exceptions import ConfigurationError, WorkerError
from omniq.serialization.functions import dump_function, function_name
from omniq.serialization.values import pickle_value, unpickle_value
from omniq.workers.executors import _BoundedExecutor, time_limit_error
from omniq.workers.process_child import READY, RETURNED, child_main

__all__ = ["ProcessPoolTaskExecutor", "RemoteTraceback", "default_start_method"]

_CHILD_MODULE: Final = "omniq.workers.process_child"
#: Seconds a stopping slot waits for its idle child to exit before killing it.
_CHILD_EXIT_WAIT: Final = 2.0
#: Seconds a new child may take to be ready for jobs.
_CHILD_START_WAIT: Final = 60.0


class RemoteTraceback(Exception):
    """The traceback of an exception raised in a child process, as text.

    Set as the ``__cause__`` of the exception re-raised in the worker, so the stored task
    error shows where the body failed, in the child.
    """

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return f'\n"""\n{self.text}"""'


def default_start_method() -> str:
    """``"forkserver"`` where the platform has it, else ``"spawn"``."""
    return "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"


_Context = SpawnContext | ForkServerContext


def _context(start_method: str) -> _Context:
    if start_method != "forkserver":
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    # Add the child module to the fork server's preload list (only read when the server
    # starts; keeps any list set before). The default list is ["__main__"].
    server = getattr(multiprocessing.forkserver, "_forkserver", None)
    preload = list(getattr(server, "_preload_modules", ["__main__"]))
    if _CHILD_MODULE not in preload:
        context.set_forkserver_preload([*preload, _CHILD_MODULE])
    return context


@dataclass(eq=False, slots=True)
class _Call:
    """One body to run: the job bytes and where to deliver the outcome."""

    job: bytes
    name: str
    time_limit: float | None
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]
    cancelled: bool = False


class _Slot:
    """One child process and the daemon thread that feeds it jobs and waits for replies."""

    def __init__(self, context: _Context, name: str) -> None:
        self._context = context
        self._name = name
        self._jobs: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._lock = threading.Lock()  # guards _process, _current and Call.cancelled
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None
        self._current: _Call | None = None
        self.thread: threading.Thread | None = None
        self.stopped = False

    def submit(self, call: _Call) -> None:
        """Queue ``call``; its outcome is delivered to ``call.future``."""
        if self.thread is None:
            self.thread = threading.Thread(target=self._serve, name=self._name, daemon=True)
            _serving.add(self)
            self.thread.start()
        self._jobs.put(call)

    def cancel(self, call: _Call) -> None:
        """Do not run ``call``; kill the child if it is running it."""
        with self._lock:
            call.cancelled = True
            if self._current is call and self._process is not None:
                self._process.kill()

    def stop(self) -> None:
        """Kill a running body; the thread then closes the child and ends."""
        with self._lock:
            if self.stopped:
                return
            self.stopped = True
            if self._current is not None and self._process is not None:
                self._process.kill()
        if self.thread is not None:
            self._jobs.put(None)

    def _serve(self) -> None:
        try:
            while (call := self._jobs.get()) is not None:
                with self._lock:
                    if call.cancelled:
                        continue
                    self._current = call
                try:
                    outcome: tuple[bool, Any] = (True, self._exchange(call))
                except BaseException as exc:
                    outcome = (False, exc)
                finally:
                    with self._lock:
                        self._current = None
                if not call.cancelled:
                    with contextlib.suppress(RuntimeError):  # its loop is closed
                        call.loop.call_soon_threadsafe(_settle, call.future, outcome)
        finally:
            self._close_child()
            _serving.discard(self)

    def _exchange(self, call: _Call) -> Any:
        process, conn = self._child()
        with self._lock:
            if call.cancelled:
                raise asyncio.CancelledError
        try:
            conn.send_bytes(call.job)
        except OSError:  # it died while idle
            raise self._died(process) from None
        ready = wait([conn, process.sentinel], call.time_limit)
        if not ready:
            assert call.time_limit is not None
            process.kill()
            self._discard()
            raise time_limit_error(call.time_limit, "the process running it was killed")
        if conn in ready and (reply := _received(conn)) is not None:
            return _decode(reply, call.name)
        raise self._died(process)

    def _child(self) -> tuple[BaseProcess, Connection]:
        """The slot's live child, started now if there is none (or it died while idle)."""
        process, conn = self._process, self._conn
        if process is not None and conn is not None and process.is_alive():
            return process, conn
        self._discard()
        conn, child_conn = self._context.Pipe()
        process = self._context.Process(target=child_main, args=(child_conn,), name=self._name)
        process.start()
        child_conn.close()
        with self._lock:
            self._process, self._conn = process, conn
        if wait([conn, process.sentinel], _CHILD_START_WAIT) and _received(conn) == READY:
            return process, conn
        process.kill()
        self._discard()
        raise WorkerError(
            f"a worker process could not start (exit code {process.exitcode}); "
            "see its output on stderr"
        )

    def _died(self, process: BaseProcess) -> WorkerError:
        self._discard()
        code = process.exitcode
        how = f"exit code {code}"
        if code is not None and code < 0:
            with contextlib.suppress(ValueError):
                how += f", killed by {signal.Signals(-code).name}"
        return WorkerError(
            f"the worker process running this task died ({how}): the body crashed the "
            "interpreter, called os._exit(), or the process was killed"
        )

    def _discard(self) -> None:
        """Forget the current child, reaping it (it is dead or was just killed)."""
        with self._lock:
            process, conn = self._process, self._conn
            self._process = self._conn = None
        if conn is not None:
            conn.close()
        if process is not None:
            process.join(_CHILD_EXIT_WAIT)
            if process.exitcode is None:
                process.kill()
                process.join()

    def _close_child(self) -> None:
        """Close the pipe of an idle child (it exits on EOF) and reap it."""
        with self._lock:
            conn = self._conn
        if conn is not None:
            conn.close()
        self._discard()


def _received(conn: Connection) -> bytes | None:
    try:
        return conn.recv_bytes()
    except (EOFError, OSError):
        return None


def _settle(future: asyncio.Future[Any], outcome: tuple[bool, Any]) -> None:
    if future.done():  # cancelled meanwhile
        return
    ok, value = outcome
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


def _decode(reply: bytes, name: str) -> Any:
    """The value of a reply, or raise the exception it carries."""
    fields = pickle.loads(reply)  # from our own child, over our own pipe
    if fields[0] == RETURNED:
        return unpickle_value(fields[1], f"the result of {name}")
    _, data, type_name, message, text = fields
    error: object = None
    if data is not None:
        with contextlib.suppress(Exception):
            error = pickle.loads(data)
    if not isinstance(error, BaseException):
        error = WorkerError(
            f"{name} raised {type_name}: {message} (the exception itself could not be sent "
            "back from the worker process)"
        )
    error.__cause__ = RemoteTraceback(text)
    raise error


#: Slots whose thread is running, stopped at interpreter exit (whoever forgot to).
_serving: set[_Slot] = set()


def _stop_slots(slots: Iterable[_Slot], wait_seconds: float = 0.0) -> None:
    slots = list(slots)
    for slot in slots:
        slot.stop()
    deadline = time.monotonic() + wait_seconds
    for slot in slots:
        if slot.thread is not None and slot.thread.is_alive():
            slot.thread.join(max(0.0, deadline - time.monotonic()))


@atexit.register
def _stop_all_at_exit() -> None:
    # Runs before multiprocessing's own exit hook, which would otherwise wait for ever for
    # children still blocked reading their pipe.
    _stop_slots(list(_serving), wait_seconds=_CHILD_EXIT_WAIT + 1.0)


class ProcessPoolTaskExecutor(_BoundedExecutor):
    """Runs each body in one of ``max_workers`` child processes (``"process_pool"``).

    See the module docstring for how functions, arguments and results cross the process
    boundary, and what happens when a child dies or a body times out.

    Args:
        max_workers: Number of child processes (started when first needed).
        start_method: ``"forkserver"`` or ``"spawn"`` (default: :func:`default_start_method`).
            ``"fork"`` is refused: the parent runs threads.

    Raises:
        ConfigurationError: ``start_method`` is ``"fork"`` or unknown on this platform.
    """

    def __init__(self, max_workers: int, start_method: str | None = None) -> None:
        super().__init__(max_workers)
        method = start_method or default_start_method()
        if method not in ("forkserver", "spawn") or (
            method not in multiprocessing.get_all_start_methods()
        ):
            raise ConfigurationError(
                f"start_method {method!r} is not valid: expected 'forkserver' or 'spawn' "
                "(available here: "
                f"{', '.join(multiprocessing.get_all_start_methods())}; 'fork' is unsafe "
                "in a process that runs threads)"
            )
        self.start_method = method
        context = _context(method)
        slots = [_Slot(context, f"omniq-process-{index}") for index in range(max_workers)]
        self._idle = slots[::-1]  # a stack: the most recently used (warm) slot goes first
        self._closed = False
        self._stop = weakref.finalize(self, _stop_slots, slots)

    async def _run_body(
        self, func: Callable[..., Any], kwargs: dict[str, Any], time_limit: float | None
    ) -> Any:
        if self._closed:
            raise WorkerError("this process pool was shut down")
        name = function_name(func)
        arguments = pickle_value(kwargs, f"the arguments of {name}")
        job = pickle.dumps((dump_function(func), name, arguments), pickle.HIGHEST_PROTOCOL)
        loop = asyncio.get_running_loop()
        call = _Call(job, name, time_limit, loop, loop.create_future())
        slot = self._idle.pop()  # the caller holds one of max_workers slots: never empty
        try:
            slot.submit(call)
            return await call.future
        except asyncio.CancelledError:
            slot.cancel(call)
            raise
        finally:
            self._idle.append(slot)

    def shutdown(self) -> None:
        """Kill running bodies, close idle children; returns without waiting for them."""
        self._closed = True
        self._stop()
