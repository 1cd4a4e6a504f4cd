"""TaskRunner tells its worker a task is no longer busy before it writes that task's outcome.

The worker's heartbeat reports a lease as lost when a task it still counts as busy is no longer
``executing`` in the store. So every path that writes an outcome must call ``body_done`` first:
otherwise a heartbeat landing between that write and the worker's bookkeeping reports a
"lost lease" that never happened.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import _executor_tasks
import msgspec
import pytest

from omniq.backends.memory import MemoryBackend
from omniq.core.notify import Channel
from omniq.core.store import Store
from omniq.models.task import TaskStatus
from omniq.serialization import Serializer
from omniq.storage.capabilities import SPLIT
from omniq.storage.records import TaskRecord
from omniq.workers.completions import CompletionBatcher
from omniq.workers.executors import AsyncExecutor
from omniq.workers.lifecycle import TaskRunner

WORKER = "runner-test"


class LoggingQueue:
    """Forwards to the memory backend and notes each write the runner makes."""

    def __init__(self, backend: MemoryBackend, log: list[str]) -> None:
        self._queue = backend.task_queue
        self._log = log

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._queue, name)
        if name in {"finish", "complete_many", "retry_later"}:

            async def logged(*args: Any, **kwargs: Any) -> Any:
                self._log.append(name)
                return await attribute(*args, **kwargs)

            return logged
        return attribute


@pytest.fixture
async def backend() -> AsyncIterator[MemoryBackend]:
    instance = MemoryBackend(project_name="runner")
    await instance.initialize_async()
    yield instance
    await instance.close_async()


async def claim_one(
    backend: MemoryBackend,
    serializer: Serializer,
    arguments: dict[str, Any] | None = None,
    **fields: Any,
) -> TaskRecord:
    now = time.time()
    arguments = {"x": 1, "y": 2} if arguments is None else arguments
    # Stored without enqueue's checks: as a store written by another version would hold it.
    func_name, payload = serializer.dump_call(_executor_tasks.add, arguments, {})
    record = TaskRecord(
        id="t1",
        func_name=func_name,
        payload=payload,
        queue_name="default",
        priority=0,
        status=TaskStatus.ENQUEUED,
        created_at=now,
        run_at=now,
        **fields,
    )
    await backend.task_queue.enqueue([record])
    (claimed,) = await backend.task_queue.claim(["default"], 1, WORKER, now, now + 30)
    return claimed


def make_runner(backend: MemoryBackend, log: list[str]) -> TaskRunner:
    queue: Any = LoggingQueue(backend, log)
    store = Store(
        task_queue=queue,
        result_store=backend.result_store,
        event_store=backend.event_store,
        capabilities=SPLIT,
        channel=Channel(),
    )
    return TaskRunner(
        store=store,
        serializer=Serializer(),
        executor=AsyncExecutor(2),
        worker_id=WORKER,
        completions=CompletionBatcher(store, WORKER),
    )


@pytest.mark.parametrize(
    ("fields", "final"),
    [
        pytest.param({}, TaskStatus.COMPLETED, id="completed"),
        pytest.param({"max_retries": 0, "attempts": 2}, TaskStatus.FAILED, id="attempts-used-up"),
        pytest.param({"expires_at": 1.0}, TaskStatus.EXPIRED, id="ttl-passed"),
        pytest.param({"cancel_requested": True}, TaskStatus.CANCELLED, id="cancel-requested"),
    ],
)
async def test_body_done_comes_before_the_outcome_is_written(
    backend: MemoryBackend, fields: dict[str, Any], final: TaskStatus
) -> None:
    log: list[str] = []
    runner = make_runner(backend, log)
    claimed = await claim_one(backend, runner.serializer)
    if fields:  # as a later claim would return it: attempts used up, expired, cancelled
        claimed = msgspec.structs.replace(claimed, **fields)
    await runner.run(claimed, body_done=lambda: log.append("body_done"))
    task = await backend.task_queue.get("t1")
    assert task is not None
    assert task.status is final
    assert log[0] == "body_done", log
    assert log.count("body_done") == 1


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        pytest.param({"x": 1}, "missing a required argument: 'y'", id="missing"),
        pytest.param({"x": 1, "y": 2, "z": 3}, "unexpected keyword argument 'z'", id="extra"),
    ],
)
async def test_a_call_that_does_not_bind_fails_at_once_without_retries(
    backend: MemoryBackend, arguments: dict[str, Any], named: str
) -> None:
    log: list[str] = []
    runner = make_runner(backend, log)
    claimed = await claim_one(backend, runner.serializer, arguments, max_retries=3)
    await runner.run(claimed, body_done=lambda: log.append("body_done"))
    task = await backend.task_queue.get("t1")
    assert task is not None
    assert task.status is TaskStatus.FAILED
    assert task.error is not None
    assert task.error.type == "omniq.exceptions.ConfigurationError"
    assert named in task.error.message
    assert "retry_later" not in log
    assert log == ["body_done", "finish"]
