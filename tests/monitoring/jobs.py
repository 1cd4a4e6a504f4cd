"""Task functions of the monitoring tests (importable, so process-pool children run them).

State shared with the test process goes through files named by arguments.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path


def add(x: int, y: int) -> int:
    return x + y


async def add_async(x: int, y: int) -> int:
    await asyncio.sleep(0)
    return x + y


def fails(message: str) -> None:
    raise ValueError(message)


def fails_first_time(marker: str) -> str:
    """Raise on the first attempt (creating ``marker``), succeed on the next."""
    path = Path(marker)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return "second attempt"
    os.close(fd)
    raise RuntimeError("first attempt fails")


def traced_child(name: str) -> str:
    """Make a span of the body's own (from the global API): a child of the execution span."""
    from opentelemetry import trace

    with trace.get_tracer("jobs").start_as_current_span(name) as span:
        return format(span.get_span_context().trace_id, "032x")
