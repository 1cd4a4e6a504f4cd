"""What the NATS backend writes in its messages: msgpack envelopes around OmniQ's records.

Floats travel as msgpack doubles, so every time round-trips bit for bit. Each envelope is
an array (its fields by position) holding the record itself as a map, so records gain
fields without breaking stored messages.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from omniq.models.event import TaskEvent
from omniq.storage.admin import WorkerRecord
from omniq.storage.records import ResultRecord, ScheduleRecord, TaskRecord

__all__ = [
    "StoredSchedule",
    "StoredTask",
    "decode_events",
    "decode_result",
    "decode_schedule",
    "decode_task",
    "decode_worker",
    "encode_events",
    "encode_result",
    "encode_schedule",
    "encode_task",
    "encode_worker",
]


class StoredTask(msgspec.Struct, array_like=True):
    """A task as stored under ``t.<id>``.

    Attributes:
        seq: Its place in enqueue order: the revision that created it (0 in the creating
            message itself, whose own revision is that place).
        task: The record.
    """

    seq: int
    task: TaskRecord


class StoredSchedule(msgspec.Struct, array_like=True):
    """A schedule as stored under ``s.<id>``.

    Attributes:
        seq: Creation order (as :attr:`StoredTask.seq`).
        schedule: The record.
        last_run_id: The task id of the latest run this schedule counted.
        pending: A run counted but maybe not stored yet (written before the task itself,
            so a crash between the two writes is finished by the next reader).
    """

    seq: int
    schedule: ScheduleRecord
    last_run_id: str | None = None
    pending: TaskRecord | None = None


class _StoredResult(msgspec.Struct, array_like=True):
    payload: bytes
    created_at: float
    expires_at: float | None
    attempt: int


_encoder = msgspec.msgpack.Encoder()
_task = msgspec.msgpack.Decoder(StoredTask)
_schedule = msgspec.msgpack.Decoder(StoredSchedule)
_result = msgspec.msgpack.Decoder(_StoredResult)
_events = msgspec.msgpack.Decoder(list[TaskEvent])
_worker = msgspec.msgpack.Decoder(WorkerRecord)


def encode_task(task: TaskRecord, seq: int) -> bytes:
    """The stored form of a task."""
    return _encoder.encode(StoredTask(seq, task))


def decode_task(data: bytes, revision: int) -> StoredTask:
    """A stored task, with ``seq`` filled in from ``revision`` for the creating message."""
    stored = _task.decode(data)
    if not stored.seq:
        stored.seq = revision
    return stored


def encode_schedule(stored: StoredSchedule) -> bytes:
    """The stored form of a schedule."""
    return _encoder.encode(stored)


def decode_schedule(data: bytes, revision: int) -> StoredSchedule:
    """A stored schedule (``seq`` filled in as for tasks)."""
    stored = _schedule.decode(data)
    if not stored.seq:
        stored.seq = revision
    return stored


def encode_result(result: ResultRecord) -> bytes:
    """The stored form of a result (the task id is the key)."""
    return _encoder.encode(
        _StoredResult(result.payload, result.created_at, result.expires_at, result.attempt)
    )


def decode_result(task_id: str, data: bytes) -> ResultRecord:
    """The result stored for ``task_id``."""
    stored = _result.decode(data)
    return ResultRecord(
        task_id=task_id,
        payload=stored.payload,
        created_at=stored.created_at,
        expires_at=stored.expires_at,
        attempt=stored.attempt,
    )


def encode_events(events: Sequence[TaskEvent]) -> bytes:
    """Events of one task, in order, as one message."""
    return _encoder.encode(list(events))


def decode_events(data: bytes) -> list[TaskEvent]:
    """The events of one message."""
    return _events.decode(data)


def encode_worker(worker: WorkerRecord) -> bytes:
    """The stored form of a worker registration."""
    return _encoder.encode(worker)


def decode_worker(data: bytes) -> WorkerRecord:
    """A stored worker registration."""
    return _worker.decode(data)
