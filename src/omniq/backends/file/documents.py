"""The JSON documents the file backend writes, and reading them back safely.

Every document is one line of JSON (``cat`` shows it; ``python -m json.tool`` pretty-prints
it). Bytes (payloads) are base64; times are floats written in their shortest exact form,
so they read back bit for bit. A file that does not decode as the document its place
calls for (corrupted, or written by something else) is reported once per process in the
``omniq.backends.file`` log and skipped: it never stops a worker.
"""

from __future__ import annotations

import logging
import threading
from typing import TypeVar

import msgspec

from omniq.models.event import EventType, TaskEvent
from omniq.storage.admin import WorkerRecord
from omniq.storage.records import ResultRecord, ScheduleRecord, TaskRecord

__all__ = [
    "EventsDoc",
    "LogEntry",
    "PendingRun",
    "StoredEvent",
    "TaskDoc",
    "decode",
    "encode",
    "stored_events",
]

_log = logging.getLogger("omniq.backends.file")
D = TypeVar("D")


class StoredEvent(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A :class:`~omniq.models.event.TaskEvent` with its place in the event log.

    Attributes:
        log: Position of the log file that holds it too (0: not in the log).
        seq: Its index in that file.
    """

    task_id: str
    type: EventType
    timestamp: float
    worker_id: str | None = None
    error: str | None = None
    detail: str | None = None
    log: int = 0
    seq: int = 0

    def event(self) -> TaskEvent:
        """The public event."""
        return TaskEvent(
            task_id=self.task_id, type=self.type, timestamp=self.timestamp,
            worker_id=self.worker_id, error=self.error, detail=self.detail,
        )  # fmt: skip


class TaskDoc(msgspec.Struct, kw_only=True):
    """``tasks/<xx>/<id>.json``: a task's record and the events written with its changes.

    Attributes:
        omniq: Always ``"task"``.
        rev: Counts the writes of this file (so no two versions are equal).
        stamp: When it was enqueued (its place in enqueue order).
        entry: Its current queue entry while claimable, else ``None``.
        task: The record.
        events: Its events, in log order.
        result: Its result, written with its completion (in the same file: a task is
            never ``completed`` without its result, nor the other way round).
    """

    omniq: str = "task"
    rev: int = 1
    stamp: str
    entry: str | None = None
    task: TaskRecord
    events: list[StoredEvent] = msgspec.field(default_factory=list)
    result: ResultRecord | None = None


class EventsDoc(msgspec.Struct, kw_only=True):
    """``events/<xx>/<id>.json``: events appended to the event store on their own."""

    omniq: str = "events"
    rev: int = 1
    task_id: str
    events: list[StoredEvent] = msgspec.field(default_factory=list)


class LogEntry(msgspec.Struct, kw_only=True):
    """``log/<segment>/<position>.json``: the events of one write, in order."""

    omniq: str = "log"
    events: list[StoredEvent] = msgspec.field(default_factory=list)


class ResultDoc(msgspec.Struct, kw_only=True):
    """``results/<xx>/<id>.json``: one result."""

    omniq: str = "result"
    result: ResultRecord


class PendingRun(msgspec.Struct, kw_only=True):
    """A run its schedule file says was fired, until its task file exists."""

    task: TaskRecord
    events: list[TaskEvent] = msgspec.field(default_factory=list)


class ScheduleDoc(msgspec.Struct, kw_only=True):
    """``schedules/<id>.json``: one schedule (and the run being fired, briefly)."""

    omniq: str = "schedule"
    rev: int = 1
    schedule: ScheduleRecord
    pending: PendingRun | None = None


class WorkerDoc(msgspec.Struct, kw_only=True):
    """``workers/<id>.json``: one registered worker."""

    omniq: str = "worker"
    rev: int = 1
    worker: WorkerRecord


class StoreMarker(msgspec.Struct, kw_only=True):
    """``omniq.json``: what the directory is."""

    omniq: str = "file-store"
    format: int = 1
    project: str


_encoder = msgspec.json.Encoder()
_decoders: dict[type, msgspec.json.Decoder[object]] = {}
_reported: set[str] = set()
_reported_lock = threading.Lock()


def encode(document: msgspec.Struct) -> bytes:
    """One line of JSON, newline-terminated."""
    return _encoder.encode(document) + b"\n"


def decode(kind: type[D], data: bytes, where: str) -> D | None:
    """Decode a document, or report the file (once) and return ``None``.

    Args:
        kind: The document type expected there.
        data: The file's bytes.
        where: The file, named in the report.
    """
    decoder = _decoders.get(kind)
    if decoder is None:
        decoder = _decoders[kind] = msgspec.json.Decoder(kind)
    try:
        return decoder.decode(data)  # type: ignore[return-value]
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        report(where, f"it is not an OmniQ {kind.__name__} ({exc})")
        return None


def report(where: str, why: str) -> None:
    """Log once per process that a file is skipped."""
    with _reported_lock:
        if where in _reported:
            return
        _reported.add(where)
    _log.warning("skipping %s: %s", where, why)


def stored_events(events: list[TaskEvent], position: int, start: int = 0) -> list[StoredEvent]:
    """Events as stored, numbered from ``start`` within log file ``position``."""
    return [
        StoredEvent(task_id=e.task_id, type=e.type, timestamp=e.timestamp, worker_id=e.worker_id,
                    error=e.error, detail=e.detail, log=position, seq=start + i)
        for i, e in enumerate(events)
    ]  # fmt: skip
