"""Records to query parameters and back: JSON and column arrays in, rows out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from omniq.models.event import EventType, TaskEvent
from omniq.models.schedule import ScheduleStatus
from omniq.models.task import TaskError, TaskStatus
from omniq.storage.records import ResultRecord, ScheduleRecord, TaskRecord

__all__ = [
    "encode_error",
    "event_arrays",
    "result_arrays",
    "schedule_from_row",
    "task_arrays",
    "task_from_row",
]

_encode_json = msgspec.json.Encoder().encode
_decode_error = msgspec.json.Decoder(TaskError).decode


def encode_error(error: TaskError | None) -> str | None:
    """The JSON text stored for an error, or ``None``."""
    return None if error is None else _encode_json(error).decode()


def task_arrays(tasks: Sequence[TaskRecord]) -> dict[str, Any]:
    """The parameters of the ``enqueue`` statement's tasks and dependency records.

    The tasks go as one JSON array (``json_to_recordset`` on the server: bytes in base64,
    floats in their shortest exact form, so they come back bit for bit).
    """
    return {
        "tasks": _encode_json([_task_object(t) for t in tasks]).decode(),
        "dep_on": [d for t in tasks if t.status is TaskStatus.WAITING for d in t.depends_on],
        "dep_task": [t.id for t in tasks if t.status is TaskStatus.WAITING for _ in t.depends_on],
    }


def _task_object(t: TaskRecord) -> dict[str, Any]:
    return {
        "id": t.id, "func_name": t.func_name, "payload": t.payload,
        "queue_name": t.queue_name, "priority": t.priority, "status": t.status.value,
        "created_at": t.created_at, "run_at": t.run_at, "expires_at": t.expires_at,
        "name": t.name, "description": t.description, "tags": t.tags,
        "max_retries": t.max_retries, "retry_count": t.retry_count, "attempts": t.attempts,
        "retry_delay": t.retry_delay, "retry_backoff": t.retry_backoff,
        "retry_max_delay": t.retry_max_delay, "result_ttl": t.result_ttl,
        "store_result": t.store_result, "started_at": t.started_at,
        "finished_at": t.finished_at, "worker_id": t.worker_id,
        "lease_expires_at": t.lease_expires_at, "error": encode_error(t.error),
        "schedule_id": t.schedule_id, "timeout": t.timeout, "callback": t.callback,
        "depends_on": t.depends_on, "cancel_requested": t.cancel_requested,
    }  # fmt: skip


def event_arrays(events: Sequence[TaskEvent]) -> dict[str, str]:
    """The ``events`` parameter of an event insert: one JSON array, in the given order."""
    return {"events": _encode_json([_event_object(e) for e in events]).decode()}


def _event_object(e: TaskEvent) -> dict[str, Any]:
    return {"task_id": e.task_id, "type": e.type.value, "timestamp": e.timestamp,
            "worker_id": e.worker_id, "error": e.error, "detail": e.detail}  # fmt: skip


def result_arrays(results: Sequence[ResultRecord]) -> dict[str, list[Any]]:
    """The column arrays of a result insert."""
    return {
        "r_task": [r.task_id for r in results],
        "r_payload": [r.payload for r in results],
        "r_created": [r.created_at for r in results],
        "r_expires": [r.expires_at for r in results],
        "r_attempt": [r.attempt for r in results],
    }


def task_from_row(row: Sequence[Any]) -> TaskRecord:
    """A record from a row selected as ``queries.TASK_COLUMNS`` (or ``tasks.*``)."""
    (
        id_, func_name, payload, queue_name, priority, status, created_at, run_at, expires_at,
        name, description, tags, max_retries, retry_count, attempts, retry_delay, retry_backoff,
        retry_max_delay, result_ttl, store_result, started_at, finished_at, worker_id,
        lease_expires_at, error, schedule_id, timeout, callback, depends_on, cancel_requested,
    ) = row  # fmt: skip
    return TaskRecord(
        id=id_, func_name=func_name, payload=bytes(payload), queue_name=queue_name,
        priority=priority, status=TaskStatus(status), created_at=created_at, run_at=run_at,
        expires_at=expires_at, name=name, description=description, tags=list(tags),
        max_retries=max_retries, retry_count=retry_count, attempts=attempts,
        retry_delay=retry_delay, retry_backoff=retry_backoff, retry_max_delay=retry_max_delay,
        result_ttl=result_ttl, store_result=store_result, started_at=started_at,
        finished_at=finished_at, worker_id=worker_id, lease_expires_at=lease_expires_at,
        error=None if error is None else _decode_error(error), schedule_id=schedule_id,
        timeout=timeout, callback=None if callback is None else bytes(callback),
        depends_on=list(depends_on), cancel_requested=cancel_requested,
    )  # fmt: skip


def schedule_from_row(row: Sequence[Any]) -> ScheduleRecord:
    """A schedule from a row selected as ``queries.SCHEDULE_COLUMNS``."""
    return ScheduleRecord(
        id=row[0], func_name=row[1], payload=bytes(row[2]), spec=bytes(row[3]),
        status=ScheduleStatus(row[4]), next_run_at=row[5], run_count=row[6], max_runs=row[7],
        created_at=row[8], last_run_at=row[9],
    )  # fmt: skip


def event_from_row(task_id: str, row: Sequence[Any]) -> TaskEvent:
    """An event from ``(type, timestamp, worker_id, error, detail)``."""
    return TaskEvent(
        task_id=task_id, type=EventType(row[0]), timestamp=row[1], worker_id=row[2],
        error=row[3], detail=row[4],
    )  # fmt: skip
