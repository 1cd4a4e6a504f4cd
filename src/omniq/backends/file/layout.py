"""Where every file of a project lives, and keys whose sorted order is the claim order.

A project's files (``<path>/<project_name>/``)::

    omniq.json                          what this directory is (format version)
    tasks/<task id>.json                one task: its record and its events (JSON)
    queues/<queue>/<priority>/<a>/<b>/<c>/<s>/<run_at>-<stamp>-<task id>
                                        claimable tasks; sorted names = claim order
    running/<task id>                   executing tasks (what lease recovery looks at)
    waiting/<task id>                   tasks waiting for dependencies
    deps/<task id>/<dependent id>       who waits for a task
    schedules/<schedule id>.json        one schedule
    runs/<schedule id>/<stamp>-<task id>
                                        the tasks a schedule fired, in order
    results/<task id>.json              one result
    expiry/<a>/<expires_at>-<task id>   results with an expiry, by time
    events/<task id>.json               events appended outside the task's own writes
    log/<segment>/<position>.json       the event log: one file per write, positions 1, 2, 3...
    workers/<worker id>.json            the worker registry
    tmp/, locks/                        temporary files; lock stripes (local directories)

Task, result and event files are not spread over sub-directories: no claim lists them
(only operator commands do), and a write that changed one directory costs one directory
fsync, however many files of the batch it holds.

Times in names are the IEEE-754 bits of the float as 16 hex digits, flipped so that their
sorted order is numeric order. ``<a>/<b>/<c>`` are prefixes of that key (about 4.5 hours,
64 seconds and a quarter of a second for present-day times), and ``<s>`` a prefix of the
enqueue stamp (about 17 ms), so no directory a claim lists grows with the number of
tasks, even when thousands share one ``run_at`` (an ``enqueue_many`` batch). Within one
quarter second of ``run_at``, tasks are claimed in enqueue order (17 ms steps), then by
``run_at``.
"""

from __future__ import annotations

import re
import struct
import threading
import time
import zlib
from urllib.parse import quote, unquote

__all__ = [
    "due_bucket",
    "entry_key",
    "events_key",
    "expiry_key",
    "float_key",
    "id_of",
    "log_key",
    "name_of",
    "new_stamp",
    "parse_entry",
    "priority_key",
    "queue_dir",
    "result_key",
    "schedule_key",
    "shard",
    "stamp_seconds",
    "task_key",
    "worker_key",
]

_SAFE = re.compile(r"[A-Za-z0-9_~-][A-Za-z0-9_.~-]{0,199}")
_SIGN = 1 << 63
_MASK = (1 << 64) - 1
_PRIORITY_OFFSET = (1 << 63) - 1

_stamp_lock = threading.Lock()
_last_stamp = 0


def name_of(identifier: str) -> str:
    """A file name for an id or queue name (percent-quoted unless already safe)."""
    if _SAFE.fullmatch(identifier):
        return identifier
    quoted = quote(identifier, safe="-_~")
    return quoted if not quoted.startswith(".") else "%2E" + quoted[1:]


def id_of(name: str) -> str:
    """The id a file name was made from (see :func:`name_of`)."""
    return unquote(name) if "%" in name else name


def shard(identifier: str) -> str:
    """Two hex digits spreading ids over 256 directories."""
    return f"{zlib.crc32(identifier.encode()) & 0xFF:02x}"


def float_key(value: float) -> str:
    """16 hex digits whose string order is the numeric order of ``value``."""
    (bits,) = struct.unpack(">Q", struct.pack(">d", value))
    bits = bits ^ _MASK if bits & _SIGN else bits | _SIGN
    return f"{bits:016x}"


def priority_key(priority: int) -> str:
    """16 hex digits: higher priorities sort first."""
    clamped = max(-(1 << 63), min(priority, _PRIORITY_OFFSET))
    return f"{_PRIORITY_OFFSET - clamped:016x}"


def new_stamp() -> str:
    """A 16-hex-digit stamp increasing within the process (nanoseconds since the epoch).

    Across processes of one machine, stamps follow the clock: they give enqueue order.
    """
    global _last_stamp
    with _stamp_lock:
        now = time.time_ns()
        _last_stamp = now if now > _last_stamp else _last_stamp + 1
        return f"{_last_stamp:016x}"


def stamp_seconds(stamp: str) -> float:
    """The time a stamp was taken."""
    return int(stamp, 16) / 1e9


def queue_dir(queue_name: str) -> str:
    """The directory of a queue's claimable tasks."""
    return f"queues/{name_of(queue_name)}"


def due_bucket(run_at_key: str) -> tuple[str, str, str]:
    """The three bucket directories of a ``run_at`` key (coarse to fine)."""
    return run_at_key[:7], run_at_key[7:9], run_at_key[9:11]


def entry_key(queue_name: str, priority: int, run_at: float, stamp: str, task_id: str) -> str:
    """The key of a claimable task's queue entry."""
    run_at_key = float_key(run_at)
    a, b, c = due_bucket(run_at_key)
    return (
        f"{queue_dir(queue_name)}/{priority_key(priority)}/{a}/{b}/{c}/{stamp[:10]}/"
        f"{run_at_key}-{stamp}-{name_of(task_id)}"
    )


def parse_entry(name: str) -> tuple[str, str, str] | None:
    """``(run_at key, stamp, task id)`` of an entry name, or ``None`` if it is not one."""
    if len(name) < 35 or name[16] != "-" or name[33] != "-":
        return None
    return name[:16], name[17:33], id_of(name[34:])


def task_key(task_id: str) -> str:
    """The key of a task's file."""
    return f"tasks/{name_of(task_id)}.json"


def result_key(task_id: str) -> str:
    """The key of a result's file."""
    return f"results/{name_of(task_id)}.json"


def events_key(task_id: str) -> str:
    """The key of the events appended outside a task's own writes."""
    return f"events/{name_of(task_id)}.json"


def schedule_key(schedule_id: str) -> str:
    """The key of a schedule's file."""
    return f"schedules/{name_of(schedule_id)}.json"


def worker_key(worker_id: str) -> str:
    """The key of a worker's registry file."""
    return f"workers/{name_of(worker_id)}.json"


def log_key(position: int) -> str:
    """The key of the event-log file at ``position`` (10,000 per segment directory)."""
    return f"log/{position // 10_000:08d}/{position:012d}.json"


def expiry_key(expires_at: float, task_id: str) -> str:
    """The key of a result's expiry entry."""
    key = float_key(expires_at)
    return f"expiry/{key[:7]}/{key}-{name_of(task_id)}"
