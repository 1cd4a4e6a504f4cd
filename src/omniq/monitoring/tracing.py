"""The producer side of tracing: one span per enqueue, its context stored with the task.

:func:`traced_enqueue` wraps the enqueue methods of :class:`omniq.OmniQ`. It starts a
``PRODUCER`` span named ``send <queue>`` (OpenTelemetry messaging conventions:
``messaging.system`` ``omniq``, ``messaging.operation.type`` ``send``,
``messaging.destination.name`` the queue, ``messaging.message.id`` the task id, or
``messaging.batch.message_count`` for ``enqueue_many``), makes it current, and injects its
context with the global propagator (W3C ``traceparent``/``tracestate`` by default) into
headers that :meth:`~omniq.core.task_builder.TaskOptions.record` serializes with each call
(see :mod:`omniq.serialization.serializer`). The worker reads them back and starts the
execution span as a child (see :mod:`omniq.monitoring.execution_spans`).

Without ``opentelemetry-api`` installed, :func:`traced_enqueue` returns the method itself
and :func:`producer` always returns ``None``: nothing is imported and nothing runs.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar, cast

from omniq.monitoring.otel import AVAILABLE, SYSTEM, tracer
from omniq.storage.records import TaskRecord

if TYPE_CHECKING:
    from opentelemetry.trace import Span

__all__ = ["Producer", "producer", "traced_enqueue"]

F = TypeVar("F", bound=Callable[..., Any])


class Producer:
    """The enqueue span being made: its headers, and the tasks it sent.

    Args:
        span: The ``PRODUCER`` span.
        headers: Its context, as the propagator wrote it.
    """

    __slots__ = ("count", "headers", "span")

    def __init__(self, span: Span, headers: dict[str, str]) -> None:
        self.span = span
        self.headers = headers
        self.count = 0

    def add(self, record: TaskRecord) -> None:
        """Describe the span by a task it sends (the first one names it)."""
        self.count += 1
        span = self.span
        if self.count == 1:
            span.update_name(f"send {record.queue_name}")
            span.set_attributes({
                "messaging.destination.name": record.queue_name,
                "messaging.message.id": record.id,
                "omniq.task.function": record.func_name,
            })  # fmt: skip
        else:
            span.set_attribute("messaging.batch.message_count", self.count)


_current: contextvars.ContextVar[Producer | None] = contextvars.ContextVar(
    "omniq_producer", default=None
)


def producer() -> Producer | None:
    """The enqueue span of the current call, if tracing is on."""
    return _current.get() if AVAILABLE else None


def _start() -> Span | None:
    """A new producer span, or ``None`` when there is nothing to trace.

    That is when no SDK records it and no trace is current to join (the API alone): the
    enqueue then costs one no-op span, and its task carries no headers.
    """
    from opentelemetry import trace

    span = tracer().start_span(
        "send",
        kind=trace.SpanKind.PRODUCER,
        attributes={
            "messaging.system": SYSTEM,
            "messaging.operation.type": "send",
            "messaging.operation.name": "send",
        },
    )
    if span.is_recording() or span.get_span_context().is_valid:
        return span
    return None


@contextlib.contextmanager
def _producing(span: Span) -> Iterator[None]:
    """Make ``span`` current (ended on exit, an exception recorded), with its headers."""
    from opentelemetry import propagate, trace

    with trace.use_span(span, end_on_exit=True):
        headers: dict[str, str] = {}
        propagate.inject(headers)
        token = _current.set(Producer(span, headers))
        try:
            yield
        finally:
            _current.reset(token)


def traced_enqueue(method: F) -> F:
    """Wrap an enqueue method (sync or async) in a producer span.

    A call made inside another one's span (the sync ``enqueue`` handing over to
    ``enqueue_async``) makes no second span. Without ``opentelemetry-api`` installed,
    ``method`` is returned as it is.

    Args:
        method: The method.

    Returns:
        The wrapped method.
    """
    if not AVAILABLE:
        return method
    if inspect.iscoroutinefunction(method):

        @functools.wraps(method)
        async def traced_async(*args: Any, **kwargs: Any) -> Any:
            span = None if _current.get() is not None else _start()
            if span is None:
                return await method(*args, **kwargs)
            with _producing(span):
                return await method(*args, **kwargs)

        return cast(F, traced_async)

    @functools.wraps(method)
    def traced(*args: Any, **kwargs: Any) -> Any:
        span = None if _current.get() is not None else _start()
        if span is None:
            return method(*args, **kwargs)
        with _producing(span):
            return method(*args, **kwargs)

    return cast(F, traced)
