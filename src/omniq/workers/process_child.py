"""The child side of ``worker_type="process_pool"``: run one job at a time, for ever.

A child first writes :data:`READY` to its pipe, then reads a job, runs it and writes back
one reply, until the pipe closes (the parent stopped the pool, or died). Jobs and replies
are pickled tuples:

* job: ``(function, name, arguments)``, where ``function`` is a ``"module:qualname"``
  reference or cloudpickle bytes (see :mod:`omniq.serialization.functions`), ``name`` is
  the readable function name and ``arguments`` the pickled keyword-argument dict.
* reply: ``(RETURNED, pickled value)`` or ``(RAISED, pickled exception or None, type name,
  message, formatted traceback)``. The exception is ``None`` when it cannot be pickled; the
  parent then rebuilds an error from the other fields.

The child ignores SIGINT and SIGTERM: a Ctrl-C or a stop signal sent to the whole process
group must not kill the bodies the parent is still waiting for during its grace period. The
parent stops children by closing their pipe (idle) or killing them (abandoned bodies).
"""

from __future__ import annotations

import pickle
import signal
import traceback
from multiprocessing.connection import Connection
from typing import Any, Final

from omniq.exceptions import SerializationError
from omniq.serialization.functions import load_function
from omniq.serialization.values import pickle_value, unpickle_value
from omniq.workers.executors import call_body

__all__ = ["RAISED", "READY", "RETURNED", "child_main", "run_job"]

RETURNED: Final = "returned"
RAISED: Final = "raised"
#: The first message of a child: it is ready for jobs (a time limit starts with the job).
READY: Final = b"ready"


def child_main(conn: Connection) -> None:
    """Serve jobs from ``conn`` until it closes (the entry point of a pool process)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        conn.send_bytes(READY)
    except OSError:
        return
    while True:
        try:
            job = conn.recv_bytes()
        except (EOFError, OSError):
            return
        reply = run_job(job)
        try:
            conn.send_bytes(reply)
        except OSError:  # the parent is gone
            return


def run_job(job: bytes) -> bytes:
    """Run one job and return its reply (never raises)."""
    name = "the task function"
    try:
        function, name, arguments = pickle.loads(job)
        func = load_function(function)
        kwargs = unpickle_value(arguments, f"the arguments of {name}")
    except BaseException as exc:
        return _raised(exc)
    try:
        value = call_body(func, kwargs)
    except BaseException as exc:
        return _raised(exc)
    try:
        data = pickle_value(value, f"the result of {name}")
    except SerializationError as exc:
        return _raised(SerializationError(f"{exc}; a process_pool task's result must be picklable"))
    return pickle.dumps((RETURNED, data), protocol=pickle.HIGHEST_PROTOCOL)


def _raised(exc: BaseException) -> bytes:
    kind = type(exc)
    text = "".join(traceback.format_exception(exc))
    exception: bytes | None = None
    try:
        data = pickle_value(exc, "exception")
        pickle.loads(data)  # some exceptions pickle but cannot be rebuilt
    except BaseException:
        pass
    else:
        exception = data
    fields: tuple[Any, ...] = (
        RAISED,
        exception,
        f"{kind.__module__}.{kind.__qualname__}",
        _message(exc),
        text,
    )
    return pickle.dumps(fields, protocol=pickle.HIGHEST_PROTOCOL)


def _message(exc: BaseException) -> str:
    try:
        return str(exc)
    except BaseException:
        return f"<{type(exc).__qualname__} whose str() failed>"
