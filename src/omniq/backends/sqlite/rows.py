"""Converting between TaskRecord and rows of the ``tasks`` table."""

from __future__ import annotations

import sqlite3
from typing import Any

import msgspec

from omniq.models.task import TaskError, TaskStatus
from omniq.storage.records import TaskRecord

__all__ = ["TASK_COLUMNS", "record_from_row", "row_from_record"]

TASK_COLUMNS = (
    "id", "func_name", "payload", "queue_name", "priority", "status", "created_at", "run_at",
    "expires_at", "name", "description", "tags", "max_retries", "retry_count", "attempts",
    "retry_delay", "retry_backoff", "retry_max_delay", "result_ttl", "store_result",
    "started_at", "finished_at", "worker_id", "lease_expires_at", "error", "schedule_id",
    "timeout", "callback", "depends_on", "cancel_requested",
)  # fmt: skip

_encode_json = msgspec.json.Encoder().encode
_decode_tags = msgspec.json.Decoder(list[str]).decode
_decode_error = msgspec.json.Decoder(TaskError).decode


def encode_error(error: TaskError | None) -> str | None:
    """The JSON text stored for an error, or ``None``."""
    return None if error is None else _encode_json(error).decode()


def row_from_record(record: TaskRecord) -> tuple[Any, ...]:
    """The ``tasks`` row values of a record, in :data:`TASK_COLUMNS` order."""
    return (
        record.id, record.func_name, record.payload, record.queue_name, record.priority,
        record.status.value, record.created_at, record.run_at, record.expires_at, record.name,
        record.description, _encode_json(record.tags).decode(), record.max_retries,
        record.retry_count, record.attempts, record.retry_delay, record.retry_backoff,
        record.retry_max_delay, record.result_ttl, int(record.store_result), record.started_at,
        record.finished_at, record.worker_id, record.lease_expires_at, encode_error(record.error),
        record.schedule_id, record.timeout, record.callback,
        _encode_json(record.depends_on).decode(), int(record.cancel_requested),
    )  # fmt: skip


def record_from_row(row: sqlite3.Row | tuple[Any, ...]) -> TaskRecord:
    """Build a record from a row selected as :data:`TASK_COLUMNS`."""
    (
        id_, func_name, payload, queue_name, priority, status, created_at, run_at, expires_at,
        name, description, tags, max_retries, retry_count, attempts, retry_delay, retry_backoff,
        retry_max_delay, result_ttl, store_result, started_at, finished_at, worker_id,
        lease_expires_at, error, schedule_id, timeout, callback, depends_on, cancel_requested,
    ) = row  # fmt: skip
    return TaskRecord(
        id=id_, func_name=func_name, payload=payload, queue_name=queue_name, priority=priority,
        status=TaskStatus(status), created_at=created_at, run_at=run_at, expires_at=expires_at,
        name=name, description=description, tags=_decode_tags(tags), max_retries=max_retries,
        retry_count=retry_count, attempts=attempts, retry_delay=retry_delay,
        retry_backoff=retry_backoff, retry_max_delay=retry_max_delay, result_ttl=result_ttl,
        store_result=bool(store_result), started_at=started_at, finished_at=finished_at,
        worker_id=worker_id, lease_expires_at=lease_expires_at,
        error=None if error is None else _decode_error(error), schedule_id=schedule_id,
        timeout=timeout, callback=callback, depends_on=_decode_tags(depends_on),
        cancel_requested=bool(cancel_requested),
    )  # fmt: skip
