"""Records to script arguments and hash fields, and back.

Times are written as ``repr(float)``, the shortest text that parses back to the same double
(exact both in Python and in the server's ``strtod``). The fields a script reads or changes
have a hash field each; the ones nothing ever changes travel as one msgpack blob (``b``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import msgspec

from omniq.models.event import TaskEvent
from omniq.models.schedule import ScheduleStatus
from omniq.models.task import TaskError, TaskStatus
from omniq.storage.admin import WorkerRecord
from omniq.storage.records import ResultRecord, ScheduleRecord, TaskRecord

__all__ = [
    "Arg",
    "decode_event",
    "decode_schedule",
    "decode_task",
    "decode_worker",
    "encode_error",
    "encode_event",
    "event_args",
    "grouped_event_args",
    "hash_of",
    "result_args",
    "schedule_args",
    "task_args",
    "time_arg",
    "version_of",
    "worker_args",
]

#: One script argument.
Arg = str | bytes | int

#: Results stay in Redis this long after they expire (covers readers whose clock lags).
RESULT_GRACE_MS = 5_000


class _Static(msgspec.Struct, array_like=True):
    """The task fields no verb ever changes."""

    func_name: str
    payload: bytes
    created_at: float
    name: str | None
    description: str | None
    tags: list[str]
    max_retries: int
    retry_delay: float
    retry_backoff: float
    retry_max_delay: float | None
    result_ttl: float | None
    store_result: bool
    timeout: float | None
    callback: bytes | None


_encode = msgspec.msgpack.Encoder().encode
_decode_static = msgspec.msgpack.Decoder(_Static).decode
_decode_event = msgspec.msgpack.Decoder(TaskEvent).decode
_decode_worker = msgspec.msgpack.Decoder(WorkerRecord).decode
_encode_json = msgspec.json.Encoder().encode
_decode_error = msgspec.json.Decoder(TaskError).decode
_decode_strings = msgspec.json.Decoder(list[str]).decode


def time_arg(value: float) -> str:
    """A time as script argument: the shortest text of the exact double."""
    return repr(float(value))


def _opt_time(value: float | None) -> str:
    return "" if value is None else repr(float(value))


def encode_error(error: TaskError | None) -> str:
    """The JSON text stored for an error (``''`` for none)."""
    return "" if error is None else _encode_json(error).decode()


def task_args(task: TaskRecord) -> list[Arg]:
    """One task as ``read_task`` in ``_lib.lua`` reads it: header, then hash fields."""
    static = _Static(
        task.func_name, task.payload, task.created_at, task.name, task.description,
        list(task.tags), task.max_retries, task.retry_delay, task.retry_backoff,
        task.retry_max_delay, task.result_ttl, task.store_result, task.timeout, task.callback,
    )  # fmt: skip
    deps = _encode_json(task.depends_on).decode() if task.depends_on else ""
    fields: list[Arg] = [
        "id", task.id, "b", _encode(static), "s", task.status.value, "q", task.queue_name,
        "p", str(task.priority), "ra", time_arg(task.run_at), "rc", task.retry_count,
        "at", task.attempts,
    ]  # fmt: skip
    optional: tuple[tuple[str, Arg | None], ...] = (
        ("xa", None if task.expires_at is None else time_arg(task.expires_at)),
        ("sa", None if task.started_at is None else time_arg(task.started_at)),
        ("fa", None if task.finished_at is None else time_arg(task.finished_at)),
        ("w", task.worker_id),
        ("l", None if task.lease_expires_at is None else time_arg(task.lease_expires_at)),
        ("er", encode_error(task.error) or None),
        ("cr", "1" if task.cancel_requested else None),
        ("d", deps or None),
        ("sc", task.schedule_id),
    )
    for name, value in optional:
        if value is not None:
            fields += [name, value]
    header: list[Arg] = [
        task.id, task.queue_name, str(task.priority), task.status.value, time_arg(task.run_at),
        _opt_time(task.finished_at), _opt_time(task.lease_expires_at), deps,
        task.schedule_id or "", len(fields) // 2,
    ]  # fmt: skip
    return header + fields


def hash_of(flat: Sequence[bytes] | Mapping[bytes, bytes]) -> dict[bytes, bytes]:
    """A hash as a dict, from ``HGETALL``'s mapping or a script's flat list."""
    if isinstance(flat, Mapping):
        return dict(flat)
    return dict(zip(flat[::2], flat[1::2], strict=True))


def _float(value: bytes | None) -> float | None:
    return None if value is None else float(value)


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode()


def decode_task(flat: Sequence[bytes] | Mapping[bytes, bytes]) -> TaskRecord:
    """A task record from its hash."""
    h = hash_of(flat)
    s = _decode_static(h[b"b"])
    error = h.get(b"er")
    deps = h.get(b"d")
    return TaskRecord(
        id=h[b"id"].decode(), func_name=s.func_name, payload=s.payload,
        queue_name=h[b"q"].decode(), priority=int(h[b"p"]), status=TaskStatus(h[b"s"].decode()),
        created_at=s.created_at, run_at=float(h[b"ra"]), expires_at=_float(h.get(b"xa")),
        name=s.name, description=s.description, tags=s.tags, max_retries=s.max_retries,
        retry_count=int(h[b"rc"]), attempts=int(h[b"at"]), retry_delay=s.retry_delay,
        retry_backoff=s.retry_backoff, retry_max_delay=s.retry_max_delay,
        result_ttl=s.result_ttl, store_result=s.store_result,
        started_at=_float(h.get(b"sa")), finished_at=_float(h.get(b"fa")),
        worker_id=_text(h.get(b"w")), lease_expires_at=_float(h.get(b"l")),
        error=None if error is None else _decode_error(error),
        schedule_id=_text(h.get(b"sc")), timeout=s.timeout, callback=s.callback,
        depends_on=[] if deps is None else _decode_strings(deps),
        cancel_requested=b"cr" in h,
    )  # fmt: skip


def version_of(flat: Sequence[bytes] | Mapping[bytes, bytes]) -> bytes:
    """The change counter of a task hash (claims compare it with the one they peeked)."""
    return hash_of(flat)[b"v"]


def event_args(events: Iterable[TaskEvent]) -> list[Arg]:
    """Events as ``append_events_from_args`` reads them: count, then (task id, blob)."""
    out: list[Arg] = []
    count = 0
    for event in events:
        out += [event.task_id, _encode(event)]
        count += 1
    return [count, *out]


def grouped_event_args(events: Iterable[TaskEvent]) -> list[Arg]:
    """Events grouped by task, as ``read_grouped_events`` reads them."""
    groups: dict[str, list[bytes]] = {}
    for event in events:
        groups.setdefault(event.task_id, []).append(_encode(event))
    out: list[Arg] = [len(groups)]
    for task_id, blobs in groups.items():
        out += [task_id, len(blobs), *blobs]
    return out


def encode_event(event: TaskEvent) -> bytes:
    """The stored blob of an event."""
    return _encode(event)


def decode_event(blob: bytes) -> TaskEvent:
    """An event from its stored blob."""
    return _decode_event(blob)


def result_args(result: ResultRecord) -> list[Arg]:
    """One result as ``read_result`` reads it (with its Redis TTL in milliseconds)."""
    if result.expires_at is None:
        return [result.task_id, result.payload, time_arg(result.created_at), "", result.attempt, ""]
    lifetime = max(result.expires_at - result.created_at, 0.0)
    ttl_ms = int(lifetime * 1000) + RESULT_GRACE_MS
    return [
        result.task_id, result.payload, time_arg(result.created_at),
        time_arg(result.expires_at), result.attempt, ttl_ms,
    ]  # fmt: skip


def decode_result(task_id: str, h: Mapping[bytes, bytes]) -> ResultRecord:
    """A result from its hash."""
    return ResultRecord(
        task_id=task_id, payload=h[b"p"], created_at=float(h[b"c"]),
        expires_at=_float(h.get(b"x")), attempt=int(h[b"a"]),
    )  # fmt: skip


def schedule_args(schedule: ScheduleRecord) -> list[Arg]:
    """A new schedule as ``add_schedule.lua`` reads it."""
    s = schedule
    fields: list[Arg] = [
        "id", s.id, "f", s.func_name, "b", s.payload, "sp", s.spec, "s", s.status.value,
        "rc", s.run_count, "c", time_arg(s.created_at),
    ]  # fmt: skip
    if s.next_run_at is not None:
        fields += ["nx", time_arg(s.next_run_at)]
    if s.max_runs is not None:
        fields += ["mx", s.max_runs]
    if s.last_run_at is not None:
        fields += ["lr", time_arg(s.last_run_at)]
    return [s.id, s.status.value, _opt_time(s.next_run_at), time_arg(s.created_at),
            len(fields) // 2, *fields]  # fmt: skip


def decode_schedule(flat: Sequence[bytes] | Mapping[bytes, bytes]) -> ScheduleRecord:
    """A schedule from its hash."""
    h = hash_of(flat)
    max_runs = h.get(b"mx")
    return ScheduleRecord(
        id=h[b"id"].decode(), func_name=h[b"f"].decode(), payload=h[b"b"], spec=h[b"sp"],
        status=ScheduleStatus(h[b"s"].decode()), next_run_at=_float(h.get(b"nx")),
        run_count=int(h[b"rc"]), max_runs=None if max_runs is None else int(max_runs),
        created_at=float(h[b"c"]), last_run_at=_float(h.get(b"lr")),
    )  # fmt: skip


def worker_args(worker: WorkerRecord) -> list[Arg]:
    """A worker as ``workers.lua register`` reads it."""
    return [worker.id, time_arg(worker.started_at), _encode(worker),
            time_arg(worker.heartbeat_at)]  # fmt: skip


def decode_worker(record: bytes, heartbeat: bytes) -> WorkerRecord:
    """A worker from its stored record and latest heartbeat."""
    worker = _decode_worker(record)
    worker.heartbeat_at = float(heartbeat)
    return worker


def decode_optional_text(value: Any) -> str | None:
    """A bulk string reply as text (``None`` stays ``None``)."""
    return None if value is None else bytes(value).decode()
