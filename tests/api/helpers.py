"""Helpers of the API tests: deadline-based waiting (never a bare sleep) and task lookups."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import TypeVar

from omniq import EventType, OmniQ, TaskEvent, TaskStatus

T = TypeVar("T")


def wait_until(
    condition: Callable[[], T], timeout: float = 5.0, interval: float = 0.005, what: str = ""
) -> T:
    """Poll ``condition`` until it returns a truthy value; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}")
        time.sleep(interval)


def stays_false(condition: Callable[[], object], seconds: float, interval: float = 0.01) -> bool:
    """Watch ``condition`` for ``seconds``: whether it stayed falsy all that time."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return False
        time.sleep(interval)
    return not condition()


def wait_for_time(oq: OmniQ, epoch: float) -> None:
    """Return once the store's clock has passed ``epoch`` (polling, bounded).

    The store's clock, not the local one: deadlines (``expires_at``) are written and
    compared in store time, which a server backend offsets from the local clock.
    """
    clock = oq.store.clock
    wait_until(lambda: clock.now() > epoch + 0.001, timeout=max(5.0, epoch - clock.now() + 5.0))


def key() -> str:
    """A fresh key for the gates and markers of ``flow_tasks``."""
    return uuid.uuid4().hex


def status(oq: OmniQ, task_id: str) -> TaskStatus:
    """The stored status of a task that must exist."""
    task = oq.get_task(task_id)
    assert task is not None
    return task.status


def has_status(oq: OmniQ, task_id: str, expected: TaskStatus) -> Callable[[], bool]:
    """A condition for :func:`wait_until`: the task has reached ``expected``."""
    return lambda: status(oq, task_id) is expected


def event_types(oq: OmniQ, task_id: str) -> list[EventType]:
    """The types of a task's events, in order."""
    return [event.type for event in oq.get_events(task_id)]


def events_ending_with(oq: OmniQ, task_id: str, last: EventType) -> list[TaskEvent]:
    """The task's events once the log ends with ``last`` (waited for, with a deadline).

    Without fused events (NATS, split roles) an outcome's event follows its status, so
    right after ``get_result`` the log may lack that last event for a moment.
    """

    return wait_until(
        lambda: _if_ending_with(oq.get_events(task_id), last),
        what=f"the {last.value} event of {task_id}",
    )


async def events_ending_with_async(oq: OmniQ, task_id: str, last: EventType) -> list[TaskEvent]:
    """:func:`events_ending_with` for a test running on its own event loop (5 s at most)."""
    async with asyncio.timeout(5.0):
        while True:
            if events := _if_ending_with(await oq.get_events_async(task_id), last):
                return events
            await asyncio.sleep(0.005)


def _if_ending_with(events: list[TaskEvent], last: EventType) -> list[TaskEvent] | None:
    """``events`` if the last one is of type ``last``, else ``None``."""
    return events if events and events[-1].type is last else None
