"""enqueue / get_task / get_result basics, and the sync API from every calling context."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from omniq import EventType, OmniQ, Task, TaskNotFoundError, TaskStatus

from . import tasks
from .conftest import MakeOmniQ
from .helpers import events_ending_with, events_ending_with_async, wait_until


def test_enqueue_returns_str_id_and_get_task_describes_the_task(oq: OmniQ) -> None:
    before = dt.datetime.now(dt.UTC)
    task_id = oq.enqueue(
        func=tasks.echo,
        func_args={"a": 1, "b": [1, 2]},
        func_kwargs={"c": {"k": "v"}},
        queue_name="reports",
        priority=7,
        name="n",
        description="d",
        tags=["t1", "t2"],
        max_retries=2,
    )
    after = dt.datetime.now(dt.UTC)
    assert isinstance(task_id, str)
    assert task_id
    task = oq.get_task(task_id)
    assert isinstance(task, Task)
    assert task.id == task_id
    assert task.func == "api.tasks:echo"
    assert task.args == {"a": 1, "b": [1, 2]}
    assert task.kwargs == {"c": {"k": "v"}}
    assert task.queue_name == "reports"
    assert task.priority == 7
    assert task.status is TaskStatus.ENQUEUED
    assert (task.name, task.description, task.tags) == ("n", "d", ["t1", "t2"])
    assert task.created_at.tzinfo is not None
    # created_at is the enqueue time (on the store's clock: the local one plus the offset
    # measured to it, within clock.error); run_at defaults to it.
    slack = dt.timedelta(seconds=oq.store.clock.error + 0.001)
    assert before - slack <= task.created_at <= after + slack
    assert task.run_at == task.created_at
    assert task.expires_at is None
    assert task.started_at is None
    assert task.finished_at is None
    assert task.retry_count == 0
    assert task.max_retries == 2
    assert task.worker_id is None
    assert task.error is None


def test_task_after_completion(make_oq: MakeOmniQ) -> None:
    oq = make_oq()
    oq.start_worker(max_workers=1)
    task_id = oq.enqueue(func=tasks.add_numbers, func_args={"x": 2, "y": 3})
    assert oq.get_result(task_id, timeout=5) == 5
    task = oq.get_task(task_id)
    assert task is not None
    assert task.status is TaskStatus.COMPLETED
    assert task.started_at is not None
    assert task.finished_at is not None
    assert task.created_at <= task.started_at <= task.finished_at
    assert task.worker_id is not None
    assert task.retry_count == 0
    assert task.error is None
    assert task.args == {"x": 2, "y": 3}


def test_unknown_ids(oq: OmniQ) -> None:
    assert oq.get_task("no-such-task") is None
    with pytest.raises(TaskNotFoundError) as info:
        oq.get_result("no-such-task", timeout=1)
    assert "no-such-task" in str(info.value)
    assert oq.get_events("no-such-task") == []


def test_ids_are_unique(oq: OmniQ) -> None:
    ids = {oq.enqueue(func=tasks.add_numbers, func_args={"x": i, "y": i}) for i in range(50)}
    assert len(ids) == 50


def test_sync_api_from_the_main_thread(make_oq: MakeOmniQ) -> None:
    assert threading.current_thread() is threading.main_thread()
    with make_oq(worker_config={"max_workers": 2}) as oq:
        oq.start_worker()
        ids = [oq.enqueue(func=tasks.add_numbers, func_args={"x": i, "y": 1}) for i in range(5)]
        assert [oq.get_result(i, timeout=5) for i in ids] == [1, 2, 3, 4, 5]
        oq.stop_worker()


def test_sync_api_from_many_threads_at_once(make_oq: MakeOmniQ) -> None:
    oq = make_oq()
    oq.start_worker(max_workers=4)
    barrier = threading.Barrier(8)

    def client(n: int) -> list[int]:
        barrier.wait(timeout=5)
        ids = [oq.enqueue(func=tasks.add_numbers, func_args={"x": n, "y": k}) for k in range(5)]
        assert all(oq.get_task(i) is not None for i in ids)
        return [oq.get_result(i, timeout=10) for i in ids]

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(client, range(8)))
    assert results == [[n + k for k in range(5)] for n in range(8)]
    oq.stop_worker()


async def test_sync_api_inside_a_running_event_loop(make_oq: MakeOmniQ) -> None:
    asyncio.get_running_loop()  # there is one: the sync methods must not try to start another
    oq = make_oq()
    oq.open()
    oq.start_worker(worker_type="thread_pool", max_workers=2)
    task_id = oq.enqueue(func=tasks.add_numbers, func_args={"x": 5, "y": 10})
    assert oq.get_result(task_id, timeout=5) == 15
    task = oq.get_task(task_id)
    assert task is not None
    assert task.status is TaskStatus.COMPLETED
    assert events_ending_with(oq, task_id, EventType.COMPLETED)[0].type is EventType.ENQUEUED
    oq.stop_worker()
    oq.close()


async def test_sync_context_manager_inside_a_running_event_loop(make_oq: MakeOmniQ) -> None:
    with make_oq() as oq:
        oq.start_worker(worker_type="async", max_workers=1)
        task_id = oq.enqueue(func=tasks.async_add_numbers, func_args={"x": 1, "y": 2})
        assert oq.get_result(task_id, timeout=5) == 3


async def test_async_api_with_async_with(make_oq: MakeOmniQ) -> None:
    async with make_oq() as oq:
        await oq.start_worker_async(worker_type="async", max_workers=2)
        ids = [
            await oq.enqueue_async(func=tasks.async_add_numbers, func_args={"x": i, "y": i})
            for i in range(3)
        ]
        results = await asyncio.gather(*(oq.get_result_async(i, timeout=5) for i in ids))
        assert results == [0, 2, 4]
        task = await oq.get_task_async(ids[0])
        assert task is not None
        assert task.status is TaskStatus.COMPLETED
        events = await events_ending_with_async(oq, ids[0], EventType.COMPLETED)
        assert events[0].type is EventType.ENQUEUED
        assert await oq.get_task_async("nope") is None
        with pytest.raises(TaskNotFoundError):
            await oq.get_result_async("nope")
        await oq.stop_worker_async()


async def test_async_api_with_a_thread_pool_worker(make_oq: MakeOmniQ) -> None:
    async with make_oq() as oq:
        await oq.start_worker_async(worker_type="thread_pool", max_workers=2)
        task_id = await oq.enqueue_async(func=tasks.add_numbers, func_args={"x": 4, "y": 4})
        assert await oq.get_result_async(task_id, timeout=5) == 8
    # leaving the block stopped the worker
    assert oq.worker is None


def test_close_stops_the_worker(make_oq: MakeOmniQ) -> None:
    with make_oq() as oq:
        oq.start_worker(max_workers=1)
        assert oq.worker is not None
    assert oq.worker is None


def _store_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("omniq-sqlite")}


def test_concurrent_first_use_opens_the_store_once(make_oq: MakeOmniQ) -> None:
    before = _store_threads()
    oq = make_oq()
    barrier = threading.Barrier(8)

    def client(n: int) -> str:
        barrier.wait(timeout=5)
        return oq.enqueue(func=tasks.add_numbers, func_args={"x": n, "y": 1})

    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(client, range(8)))
    assert len(set(ids)) == 8
    oq.close()
    wait_until(lambda: not (_store_threads() - before), timeout=5, what="store threads to end")
