"""The quick-start (spec 5.5) and core API reference (spec 5.7) examples, run as written.

Only ``backend_type`` is parametrized (the examples say ``"sqlite"``); ``project_name`` lands
under the test's ``OMNIQ_HOME``. The schedule and configuration examples are not built yet.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from omniq import OmniQ, Task, TaskStatus

#: The spec's examples name ``backend_type`` literally: they run on the embedded backends.
pytestmark = pytest.mark.targets("memory", "sqlite")

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def add_numbers(x, y):
    """Add two numbers and return the result."""
    return x + y


async def async_add_numbers(x, y):
    """Asynchronously add two numbers and return the result."""
    await asyncio.sleep(0.1)  # Simulate async work
    return x + y


def process_data(data_id, processing_time=0.1):
    """Process some data with a simulated delay."""
    time.sleep(processing_time)
    return f"Processed data {data_id}"


def process_task(task_name, priority):
    """Process a task with a given priority."""
    return f"Processed {task_name} with priority {priority}"


def test_basic_setup(backend_name: str, capsys: pytest.CaptureFixture[str]) -> None:
    with OmniQ(project_name="my_project", backend_type=backend_name) as oq:
        oq.start_worker(worker_type="thread_pool", max_workers=2)
        try:
            task_id = oq.enqueue(func=add_numbers, func_args={"x": 5, "y": 10})
            print(f"Enqueued task with ID: {task_id}")
            result = oq.get_result(task_id)
            print(f"Result: {result}")  # Output: Result: 15
        finally:
            oq.stop_worker()
    out = capsys.readouterr().out.splitlines()
    assert re.fullmatch(f"Enqueued task with ID: {UUID}", out[0])
    assert out[1] == "Result: 15"


def test_asynchronous_usage(backend_name: str, capsys: pytest.CaptureFixture[str]) -> None:
    async def main():
        async with OmniQ(project_name="my_async_project", backend_type=backend_name) as oq:
            await oq.start_worker_async(worker_type="async", max_workers=2)
            try:
                task_id = await oq.enqueue_async(
                    func=async_add_numbers, func_args={"x": 5, "y": 10}
                )
                print(f"Enqueued task with ID: {task_id}")
                result = await oq.get_result_async(task_id)
                print(f"Result: {result}")  # Output: Result: 15
            finally:
                await oq.stop_worker_async()

    asyncio.run(main())
    out = capsys.readouterr().out.splitlines()
    assert re.fullmatch(f"Enqueued task with ID: {UUID}", out[0])
    assert out[1] == "Result: 15"


def test_multiple_tasks(backend_name: str, capsys: pytest.CaptureFixture[str]) -> None:
    with OmniQ(project_name="multi_task_project", backend_type=backend_name) as oq:
        oq.start_worker(worker_type="thread_pool", max_workers=4)
        try:
            task_ids = []
            for i in range(5):
                task_id = oq.enqueue(
                    func=process_data, func_args={"data_id": i, "processing_time": 0.1}
                )
                task_ids.append(task_id)
            print(f"Enqueued {len(task_ids)} tasks")
            results = []
            for task_id in task_ids:
                result = oq.get_result(task_id)
                results.append(result)
                print(f"Task {task_id}: {result}")
            print(f"Processed {len(results)} tasks")
        finally:
            oq.stop_worker()
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "Enqueued 5 tasks"
    assert out[1:6] == [f"Task {tid}: Processed data {i}" for i, tid in enumerate(task_ids)]
    assert out[6] == "Processed 5 tasks"


def test_multiple_queues(backend_name: str, capsys: pytest.CaptureFixture[str]) -> None:
    with OmniQ(
        project_name="multi_queue_project",
        backend_type=backend_name,
        queues=["high", "medium", "low"],
    ) as oq:
        oq.start_worker(worker_type="thread_pool", max_workers=2)
        try:
            high_task_id = oq.enqueue(
                func=process_task,
                func_args={"task_name": "High Priority", "priority": "high"},
                queue_name="high",
            )
            medium_task_id = oq.enqueue(
                func=process_task,
                func_args={"task_name": "Medium Priority", "priority": "medium"},
                queue_name="medium",
            )
            low_task_id = oq.enqueue(
                func=process_task,
                func_args={"task_name": "Low Priority", "priority": "low"},
                queue_name="low",
            )
            print("Enqueued tasks to high, medium, and low priority queues")
            high_result = oq.get_result(high_task_id)
            medium_result = oq.get_result(medium_task_id)
            low_result = oq.get_result(low_task_id)
            print(f"High priority task: {high_result}")
            print(f"Medium priority task: {medium_result}")
            print(f"Low priority task: {low_result}")
        finally:
            oq.stop_worker()
    assert capsys.readouterr().out.splitlines() == [
        "Enqueued tasks to high, medium, and low priority queues",
        "High priority task: Processed High Priority with priority high",
        "Medium priority task: Processed Medium Priority with priority medium",
        "Low priority task: Processed Low Priority with priority low",
    ]


def test_reference_enqueue_examples(backend_name: str) -> None:
    import datetime as dt

    with OmniQ(project_name="my_project", backend_type=backend_name) as oq:
        task_id = oq.enqueue(func=add_numbers, func_args={"x": 5, "y": 10})
        task_id2 = oq.enqueue(
            func=add_numbers,
            func_args={"x": 5, "y": 10},
            queue_name="high",
            name="Add Numbers",
            description="Add two numbers",
            tags=["math", "simple"],
            priority=10,
            run_in=dt.timedelta(seconds=30),
            ttl=dt.timedelta(hours=1),
            result_ttl=dt.timedelta(minutes=30),
        )
        task = oq.get_task(task_id2)
    assert isinstance(task_id, str)
    assert task is not None
    assert (task.queue_name, task.name, task.description, task.tags, task.priority) == (
        "high",
        "Add Numbers",
        "Add two numbers",
        ["math", "simple"],
        10,
    )
    assert task.expires_at is not None
    assert abs((task.expires_at - task.run_at) - dt.timedelta(hours=1)) < dt.timedelta(
        milliseconds=1
    )
    assert abs((task.run_at - task.created_at) - dt.timedelta(seconds=30)) < dt.timedelta(
        milliseconds=1
    )


def test_reference_enqueue_async_examples(backend_name: str) -> None:
    import datetime as dt

    async def main():
        async with OmniQ(project_name="my_project", backend_type=backend_name) as oq:
            task_id = await oq.enqueue_async(func=async_add_numbers, func_args={"x": 5, "y": 10})
            task_id = await oq.enqueue_async(
                func=async_add_numbers,
                func_args={"x": 5, "y": 10},
                queue_name="high",
                name="Add Numbers",
                description="Add two numbers asynchronously",
                tags=["math", "async"],
                priority=10,
                run_in=dt.timedelta(seconds=30),
                ttl=dt.timedelta(hours=1),
                result_ttl=dt.timedelta(minutes=30),
            )
            return await oq.get_task_async(task_id)

    task = asyncio.run(main())
    assert task is not None
    assert task.status is TaskStatus.ENQUEUED
    assert task.tags == ["math", "async"]


def test_reference_get_result(backend_name: str, capsys: pytest.CaptureFixture[str]) -> None:
    with OmniQ(project_name="my_project", backend_type=backend_name) as oq:
        oq.start_worker(worker_type="thread_pool", max_workers=1)
        try:
            task_id = oq.enqueue(func=add_numbers, func_args={"x": 5, "y": 10})
            result = oq.get_result(task_id)
            print(f"Result: {result}")  # Output: Result: 15
            result = oq.get_result(task_id, timeout=10.0)
            print(f"Result: {result}")
        finally:
            oq.stop_worker()
    assert capsys.readouterr().out.splitlines() == ["Result: 15", "Result: 15"]


def test_reference_get_result_async(backend_name: str, capsys: pytest.CaptureFixture[str]) -> None:
    async def main():
        async with OmniQ(project_name="my_project", backend_type=backend_name) as oq:
            await oq.start_worker_async(worker_type="async", max_workers=1)
            try:
                task_id = await oq.enqueue_async(
                    func=async_add_numbers, func_args={"x": 5, "y": 10}
                )
                result = await oq.get_result_async(task_id)
                print(f"Result: {result}")  # Output: Result: 15
            finally:
                await oq.stop_worker_async()

    asyncio.run(main())
    assert capsys.readouterr().out.splitlines() == ["Result: 15"]


def test_reference_get_task(backend_name: str, capsys: pytest.CaptureFixture[str]) -> None:
    with OmniQ(project_name="my_project", backend_type=backend_name) as oq:
        task_id = oq.enqueue(func=add_numbers, func_args={"x": 5, "y": 10})
        task = oq.get_task(task_id)
        if task:
            print(f"Task ID: {task.id}")
            print(f"Task status: {task.status}")
            print(f"Task function: {task.func}")
    assert isinstance(task, Task)
    assert capsys.readouterr().out.splitlines() == [
        f"Task ID: {task_id}",
        "Task status: enqueued",
        f"Task function: {__name__}:add_numbers",
    ]


def test_reference_get_task_async(backend_name: str, capsys: pytest.CaptureFixture[str]) -> None:
    async def main():
        async with OmniQ(project_name="my_project", backend_type=backend_name) as oq:
            task_id = await oq.enqueue_async(func=async_add_numbers, func_args={"x": 5, "y": 10})
            task = await oq.get_task_async(task_id)
            if task:
                print(f"Task ID: {task.id}")
                print(f"Task status: {task.status}")
                print(f"Task function: {task.func}")
            return task_id

    task_id = asyncio.run(main())
    assert capsys.readouterr().out.splitlines() == [
        f"Task ID: {task_id}",
        "Task status: enqueued",
        f"Task function: {__name__}:async_add_numbers",
    ]


def test_reference_start_worker_with_config(
    backend_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with OmniQ(project_name="my_project", backend_type=backend_name) as oq:
        oq.start_worker(worker_type="thread_pool", worker_config={"max_workers": 4})
        try:
            task_id = oq.enqueue(func=lambda: "Hello, World!")
            result = oq.get_result(task_id)
            print(f"Result: {result}")
        finally:
            oq.stop_worker()
    assert capsys.readouterr().out.splitlines() == ["Result: Hello, World!"]


def test_reference_start_worker_async_with_config(
    backend_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    async def main():
        async with OmniQ(project_name="my_project", backend_type=backend_name) as oq:
            await oq.start_worker_async(worker_type="async", worker_config={"max_workers": 4})
            try:
                task_id = await oq.enqueue_async(func=lambda: "Hello, World!")
                result = await oq.get_result_async(task_id)
                print(f"Result: {result}")
            finally:
                await oq.stop_worker_async()

    asyncio.run(main())
    assert capsys.readouterr().out.splitlines() == ["Result: Hello, World!"]


def test_reference_stop_worker_and_context_manager(
    backend_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    for max_workers in (4, 2):  # the stop_worker and the context-manager examples
        with OmniQ(project_name="my_project", backend_type=backend_name) as oq:
            oq.start_worker(worker_type="thread_pool", max_workers=max_workers)
            try:
                task_id = oq.enqueue(func=lambda: "Hello, World!")
                result = oq.get_result(task_id)
                print(f"Result: {result}")
            finally:
                oq.stop_worker()
    assert capsys.readouterr().out.splitlines() == ["Result: Hello, World!"] * 2


def test_reference_async_context_manager(
    backend_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    async def main():
        for max_workers in (4, 2):  # the stop_worker_async and async context-manager examples
            async with OmniQ(project_name="my_project", backend_type=backend_name) as oq:
                await oq.start_worker_async(worker_type="async", max_workers=max_workers)
                try:
                    task_id = await oq.enqueue_async(func=lambda: "Hello, World!")
                    result = await oq.get_result_async(task_id)
                    print(f"Result: {result}")
                finally:
                    await oq.stop_worker_async()

    asyncio.run(main())
    assert capsys.readouterr().out.splitlines() == ["Result: Hello, World!"] * 2


SCRIPT_BASIC = """
from omniq import OmniQ

# Define a simple task function
def add_numbers(x, y):
    \"\"\"Add two numbers and return the result.\"\"\"
    return x + y

# Create an OmniQ instance with SQLite backend
with OmniQ(project_name="my_project", backend_type="sqlite") as oq:
    # Start a worker
    oq.start_worker(worker_type="thread_pool", max_workers=2)

    try:
        # Enqueue a task
        task_id = oq.enqueue(
            func=add_numbers,
            func_args={"x": 5, "y": 10}
        )
        print(f"Enqueued task with ID: {task_id}")

        # Get the result
        result = oq.get_result(task_id)
        print(f"Result: {result}")  # Output: Result: 15

    finally:
        # Stop the worker
        oq.stop_worker()
"""

SCRIPT_ASYNC = """
import asyncio
from omniq import OmniQ

# Define an async task function
async def async_add_numbers(x, y):
    \"\"\"Asynchronously add two numbers and return the result.\"\"\"
    await asyncio.sleep(0.1)  # Simulate async work
    return x + y

async def main():
    # Create an OmniQ instance with SQLite backend
    async with OmniQ(project_name="my_async_project", backend_type="sqlite") as oq:
        # Start a worker
        await oq.start_worker_async(worker_type="async", max_workers=2)

        try:
            # Enqueue a task
            task_id = await oq.enqueue_async(
                func=async_add_numbers,
                func_args={"x": 5, "y": 10}
            )
            print(f"Enqueued task with ID: {task_id}")

            # Get the result
            result = await oq.get_result_async(task_id)
            print(f"Result: {result}")  # Output: Result: 15

        finally:
            # Stop the worker
            await oq.stop_worker_async()

# Run the async example
asyncio.run(main())
"""


@pytest.mark.parametrize("script", [SCRIPT_BASIC, SCRIPT_ASYNC], ids=["basic", "async"])
def test_quickstart_as_a_script(
    script: str, tmp_path: Path, omniq_home: Path, backend_name: str
) -> None:
    """Verbatim, as ``__main__`` of a fresh interpreter (functions stored by value)."""
    path = tmp_path / "example.py"
    path.write_text(textwrap.dedent(script).replace('"sqlite"', repr(backend_name)))
    done = subprocess.run(
        [sys.executable, "-W", "error", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        env={"OMNIQ_HOME": str(omniq_home), "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout.splitlines()
    assert re.fullmatch(f"Enqueued task with ID: {UUID}", out[0])
    assert out[1:] == ["Result: 15"]
    # The only other output: the unprotected worker's warning (no strict mode, no secret_key;
    # Python prints warnings of an application without logging configuration to stderr).
    assert [
        line for line in done.stderr.splitlines() if "runs unprotected: whoever can" not in line
    ] == []
    assert len(done.stderr.splitlines()) <= 1
