"""Service order: declared queues first (in order), then default, then undeclared ones."""

from __future__ import annotations

import datetime as dt
import time

from . import tasks
from .conftest import MakeOmniQ
from .helpers import wait_until


def test_queue_order_priority_and_fifo(make_oq: MakeOmniQ) -> None:
    oq = make_oq(queues=["high", "medium", "low"]).open()
    assert oq.queues == ["high", "medium", "low", "default"]
    now = dt.datetime.now(dt.UTC)
    past = now - dt.timedelta(seconds=30)
    ids: dict[str, str] = {}

    def put(label: str, queue: str, priority: int = 0, **options: object) -> None:
        ids[label] = oq.enqueue(
            func=tasks.record,
            func_args={"label": label},
            queue_name=queue,
            priority=priority,
            **options,  # type: ignore[arg-type]
        )

    put("L1", "low")
    put("M1", "medium")
    put("O1", "other")  # undeclared: declared now, served after default
    put("D1", "default", 5)
    put("H1", "high")
    put("H2", "high", 5)
    put("L2", "low", 9)
    put("H3", "high", run_at=now - dt.timedelta(seconds=60))  # due earlier than H1
    put("H4", "high", run_at=past)  # same run_at and priority as H5: enqueue order
    put("H5", "high", run_at=past)
    put("H6", "high", 9, run_in=dt.timedelta(seconds=0.5))  # not due when the worker starts
    put("M2", "medium", -1)
    put("M3", "medium")
    put("D2", "default")
    put("O2", "other")
    assert oq.queues == ["high", "medium", "low", "default", "other"]
    assert tasks.ORDER == []  # nothing runs without a worker

    oq.start_worker(worker_type="thread_pool", max_workers=1)
    wait_until(lambda: len(tasks.ORDER) == len(ids), timeout=10, what="all tasks to run")
    oq.stop_worker()

    due = [label for label in tasks.ORDER if label != "H6"]
    assert due == [
        "H2", "H3", "H4", "H5", "H1",
        "M1", "M3", "M2",
        "L2", "L1",
        "D1", "D2",
        "O1", "O2",
    ]  # fmt: skip
    h6 = oq.get_task(ids["H6"])
    assert h6 is not None
    assert h6.started_at is not None
    assert h6.started_at >= h6.run_at


def test_undeclared_queue_is_served_after_default(make_oq: MakeOmniQ) -> None:
    oq = make_oq().open()
    assert oq.queues == ["default"]
    oq.enqueue(func=tasks.record, func_args={"label": "x1"}, queue_name="xtra", priority=100)
    oq.enqueue(func=tasks.record, func_args={"label": "d1"})
    oq.enqueue(func=tasks.record, func_args={"label": "y1"}, queue_name="ytra", priority=100)
    assert oq.queues == ["default", "xtra", "ytra"]
    oq.start_worker(max_workers=1)
    wait_until(lambda: len(tasks.ORDER) == 3)
    assert tasks.ORDER == ["d1", "x1", "y1"]


def test_default_listed_explicitly_keeps_its_place(make_oq: MakeOmniQ) -> None:
    oq = make_oq(queues=["default", "bulk"]).open()
    assert oq.queues == ["default", "bulk"]
    oq.enqueue(func=tasks.record, func_args={"label": "b"}, queue_name="bulk")
    oq.enqueue(func=tasks.record, func_args={"label": "d"})
    oq.start_worker(max_workers=1)
    wait_until(lambda: len(tasks.ORDER) == 2)
    assert tasks.ORDER == ["d", "b"]


def test_a_task_enqueued_while_the_worker_is_idle_runs_at_once(make_oq: MakeOmniQ) -> None:
    oq = make_oq(worker_config={"poll_interval": 10}).open()
    oq.start_worker(max_workers=1)
    started = time.monotonic()
    task_id = oq.enqueue(func=tasks.record, func_args={"label": "now"})
    assert oq.get_result(task_id, timeout=5, poll_interval=10) == "now"
    assert time.monotonic() - started < 2


def test_a_queue_first_used_after_the_worker_started_is_served(make_oq: MakeOmniQ) -> None:
    oq = make_oq(queues=["high"]).open()
    oq.start_worker(max_workers=1)
    task_id = oq.enqueue(func=tasks.record, func_args={"label": "late"}, queue_name="late")
    assert oq.get_result(task_id, timeout=5) == "late"
    assert oq.queues == ["high", "default", "late"]
