"""The consumer side of tracing: one span per execution of a task, in the worker.

:class:`ExecutionSpans` starts a ``CONSUMER`` span named ``process <queue>`` when a claimed
task's body is about to run, as a child of the enqueue's span (its context comes with the
task: see :mod:`omniq.monitoring.tracing`) and with a link to it, as the OpenTelemetry
messaging conventions ask. The span is current while the body runs, so spans a coroutine
body (``async`` worker) or a body in a thread (``thread_pool``) makes are its children. It
ends once the attempt's outcome is recorded: a failed attempt (failed, or retrying) has an
``exception`` event with the traceback and status ``ERROR``.

Bodies of a ``process_pool`` worker run in child processes: the span is made in the worker
process around the execution, and spans made by the body in its child do not join it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from omniq.models.task import TaskError, TaskStatus
from omniq.monitoring.observer import TaskObserver
from omniq.monitoring.otel import SYSTEM, tracer
from omniq.storage.records import TaskRecord

if TYPE_CHECKING:
    from opentelemetry.trace import Span

__all__ = ["ExecutionSpans"]

#: Outcomes of a failed attempt: their span's status is ``ERROR``.
_FAILED = frozenset({TaskStatus.FAILED, TaskStatus.RETRYING})


class ExecutionSpans(TaskObserver):
    """Makes a consumer span per task execution (needs ``opentelemetry-api``).

    Args:
        worker_id: The worker, written as ``messaging.client.id`` on every span.
    """

    def __init__(self, worker_id: str) -> None:
        self.worker_id = worker_id
        self._open: dict[str, tuple[Span, Any]] = {}  # task id -> span, its context token

    def task_started(  # noqa: D102 - as TaskObserver
        self, record: TaskRecord, headers: Mapping[str, str] | None, waited: float
    ) -> None:
        from opentelemetry import context, propagate, trace

        parent = propagate.extract(headers) if headers else None
        creation = trace.get_current_span(parent).get_span_context() if parent else None
        links = [trace.Link(creation)] if creation is not None and creation.is_valid else None
        attributes: dict[str, str | int | float] = {
            "messaging.system": SYSTEM,
            "messaging.operation.type": "process",
            "messaging.operation.name": "process",
            "messaging.destination.name": record.queue_name,
            "messaging.message.id": record.id,
            "messaging.client.id": self.worker_id,
            "omniq.task.function": record.func_name,
            "omniq.task.attempt": record.attempts,
            "omniq.task.queue_wait": waited,
        }
        if record.name:
            attributes["omniq.task.name"] = record.name
        span = tracer().start_span(
            f"process {record.queue_name}",
            context=parent,
            kind=trace.SpanKind.CONSUMER,
            attributes=attributes,
            links=links,
        )
        if not span.is_recording() and not span.get_span_context().is_valid:
            return  # no SDK records it and no trace to join: nothing to keep
        token = context.attach(trace.set_span_in_context(span))
        self._open[record.id] = (span, token)

    def body_ended(  # noqa: D102
        self, record: TaskRecord, seconds: float, error: BaseException | None
    ) -> None:
        opened = self._open.get(record.id)
        if opened is not None and error is not None:
            opened[0].record_exception(error)

    def task_finished(  # noqa: D102
        self, record: TaskRecord, status: TaskStatus, error: TaskError | None
    ) -> None:
        opened = self._open.get(record.id)
        if opened is None:  # refused before its body ran: no span
            return
        from opentelemetry.trace import Status, StatusCode

        span = opened[0]
        span.set_attribute("omniq.task.outcome", status.value)
        if status in _FAILED:
            if error is not None:
                span.set_attribute("error.type", error.type)
            span.set_status(Status(StatusCode.ERROR, None if error is None else error.message))

    def attempt_ended(self, record: TaskRecord) -> None:  # noqa: D102
        opened = self._open.pop(record.id, None)
        if opened is None:
            return
        from opentelemetry import context

        span, token = opened
        context.detach(token)
        span.end()
