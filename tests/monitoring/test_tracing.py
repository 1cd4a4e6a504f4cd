"""OpenTelemetry spans of enqueues and executions, through the SDK's in-memory exporter.

OmniQ's spans go to a provider of the test's own (``set_tracer_provider``), so the global
provider of the test process stays the API's no-op one for every other test.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from omniq import ConfigurationError, OmniQ, TaskFailedError
from omniq.core.portal import portal
from omniq.monitoring.otel import set_tracer_provider
from omniq.serialization.values import decode_msgpack

from . import jobs


@pytest.fixture
def provider() -> Iterator[TracerProvider]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
    set_tracer_provider(provider)
    try:
        yield provider
    finally:
        set_tracer_provider(None)
        provider.shutdown()


def exporter(provider: TracerProvider) -> InMemorySpanExporter:
    [processor] = provider._active_span_processor._span_processors  # type: ignore[attr-defined]
    return processor.span_exporter  # type: ignore[no-any-return]


def finished_spans(
    provider: TracerProvider, kind: SpanKind, count: int, timeout: float = 20
) -> list[ReadableSpan]:
    """The ended spans of ``kind`` once there are ``count`` (an execution span ends just
    after the outcome a result waiter sees)."""
    deadline = time.monotonic() + timeout
    while True:
        spans = [s for s in exporter(provider).get_finished_spans() if s.kind is kind]
        if len(spans) >= count or time.monotonic() > deadline:
            assert len(spans) == count, spans
            return spans
        time.sleep(0.02)


def ref(func: Any) -> str:
    return f"{func.__module__}:{func.__qualname__}"


@pytest.mark.parametrize("worker_type", ["async", "thread_pool", "process_pool"])
def test_the_execution_span_is_a_child_of_the_enqueue_span(
    provider: TracerProvider, worker_type: str, tmp_path: Path
) -> None:
    queue = f"traced-{uuid.uuid4().hex[:6]}"
    with OmniQ(project_name="traces", db_path=tmp_path / "q.db", queues=[queue]) as oq:
        oq.start_worker(worker_type=worker_type, max_workers=2)
        task_id = oq.enqueue(jobs.add, {"x": 2, "y": 3}, queue_name=queue)
        assert oq.get_result(task_id, timeout=30) == 5
        [send] = finished_spans(provider, SpanKind.PRODUCER, 1)
        [process] = finished_spans(provider, SpanKind.CONSUMER, 1)
        worker_id = oq.worker.worker_id if oq.worker else ""
    assert send.name == f"send {queue}"
    assert dict(send.attributes or {}) == {
        "messaging.system": "omniq",
        "messaging.operation.type": "send",
        "messaging.operation.name": "send",
        "messaging.destination.name": queue,
        "messaging.message.id": task_id,
        "omniq.task.function": ref(jobs.add),
    }
    assert process.name == f"process {queue}"
    assert process.context.trace_id == send.context.trace_id
    assert process.parent is not None
    assert process.parent.span_id == send.context.span_id
    assert [link.context.span_id for link in process.links] == [send.context.span_id]
    attributes = dict(process.attributes or {})
    assert attributes.pop("omniq.task.queue_wait") >= 0  # type: ignore[operator]
    assert attributes == {
        "messaging.system": "omniq",
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
        "messaging.destination.name": queue,
        "messaging.message.id": task_id,
        "messaging.client.id": worker_id,
        "omniq.task.function": ref(jobs.add),
        "omniq.task.attempt": 1,
        "omniq.task.outcome": "completed",
    }
    assert process.status.status_code is StatusCode.UNSET
    assert not process.events


def test_a_failing_task_has_error_spans_with_the_exception(
    provider: TracerProvider, tmp_path: Path
) -> None:
    with OmniQ(project_name="traces", db_path=tmp_path / "q.db") as oq:
        oq.start_worker(worker_type="thread_pool")
        task_id = oq.enqueue(jobs.fails, {"message": "bad input"}, max_retries=1, retry_delay=0)
        with pytest.raises(TaskFailedError):
            oq.get_result(task_id, timeout=30)
        spans = finished_spans(provider, SpanKind.CONSUMER, 2)
    [send] = finished_spans(provider, SpanKind.PRODUCER, 1)
    first, second = sorted(spans, key=lambda s: s.start_time or 0)
    for span, attempt, outcome in ((first, 1, "retrying"), (second, 2, "failed")):
        assert span.parent is not None
        assert span.parent.span_id == send.context.span_id
        attributes = span.attributes or {}
        assert (attributes["omniq.task.attempt"], attributes["omniq.task.outcome"]) == (
            attempt, outcome,
        )  # fmt: skip
        assert attributes["error.type"] == "builtins.ValueError"
        assert span.status.status_code is StatusCode.ERROR
        assert span.status.description == "bad input"
        [event] = span.events
        assert event.name == "exception"
        event_attributes = event.attributes or {}
        assert event_attributes["exception.type"] == "ValueError"
        assert event_attributes["exception.message"] == "bad input"
        assert "in fails" in str(event_attributes["exception.stacktrace"])


def test_an_enqueue_joins_the_trace_of_the_caller_and_a_body_span_joins_the_execution(
    provider: TracerProvider, tmp_path: Path
) -> None:
    with OmniQ(project_name="traces", db_path=tmp_path / "q.db") as oq:
        oq.start_worker(worker_type="thread_pool")
        with provider.get_tracer("app").start_as_current_span("request") as request:
            task_id = oq.enqueue(jobs.traced_child, {"name": "inside"})
        trace_id = format(request.get_span_context().trace_id, "032x")
        # The body's span uses the global provider (no-op here): it still carries the
        # current trace, which is the execution span's.
        assert oq.get_result(task_id, timeout=30) == trace_id
        [send] = finished_spans(provider, SpanKind.PRODUCER, 1)
        [process] = finished_spans(provider, SpanKind.CONSUMER, 1)
    assert send.parent is not None
    assert send.parent.span_id == request.get_span_context().span_id
    assert process.context.trace_id == request.get_span_context().trace_id


async def test_enqueue_many_is_one_span_and_each_execution_its_child(
    provider: TracerProvider, tmp_path: Path
) -> None:
    async with OmniQ(project_name="traces", db_path=tmp_path / "q.db") as oq:
        await oq.start_worker_async(worker_type="async")
        ids = await oq.enqueue_many_async(jobs.add_async, [{"x": i, "y": 0} for i in range(3)])
        assert [await oq.get_result_async(t, timeout=30) for t in ids] == [0, 1, 2]
        [send] = finished_spans(provider, SpanKind.PRODUCER, 1)
        spans = finished_spans(provider, SpanKind.CONSUMER, 3)
        await oq.stop_worker_async()
    assert (send.attributes or {})["messaging.batch.message_count"] == 3
    assert sorted((s.attributes or {})["messaging.message.id"] for s in spans) == sorted(ids)
    assert {s.parent.span_id for s in spans if s.parent} == {send.context.span_id}


def test_the_sync_enqueue_makes_one_span(provider: TracerProvider, tmp_path: Path) -> None:
    oq = OmniQ(project_name="traces", backend_type="memory")
    try:
        oq.enqueue(jobs.add, {"x": 1, "y": 1})  # not open yet: through the event loop
        oq.enqueue(jobs.add, {"x": 1, "y": 1})  # open: written directly
        oq.enqueue_many(jobs.add, [{"x": 1, "y": 1}])
    finally:
        oq.close()
    spans = exporter(provider).get_finished_spans()
    assert [span.kind for span in spans] == [SpanKind.PRODUCER] * 3


def test_without_a_configured_sdk_tasks_run_and_carry_no_headers(tmp_path: Path) -> None:
    assert not isinstance(trace.get_tracer_provider(), TracerProvider)  # the API's proxy
    with OmniQ(project_name="traces", backend_type="memory") as oq:
        oq.start_worker(worker_type="thread_pool")
        task_id = oq.enqueue(jobs.fails_first_time, {"marker": str(tmp_path / "m")},
                             retry_delay=0)  # fmt: skip
        assert oq.get_result(task_id, timeout=30) == "second attempt"
        record = portal().call(oq.task_queue.get(task_id))
    assert record is not None
    assert len(decode_msgpack(record.payload[1:])) == 3


def test_set_tracer_provider_refuses_what_is_not_a_provider() -> None:
    with pytest.raises(ConfigurationError, match="provider 'tracer' is not valid"):
        set_tracer_provider("tracer")  # type: ignore[arg-type]
