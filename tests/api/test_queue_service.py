"""Queues nobody serves are flagged; a worker with all_queues serves every queue in use."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from omniq import OmniQ

from . import tasks
from .conftest import MakeOmniQ
from .helpers import wait_until


def test_a_queue_no_live_worker_serves_is_flagged_by_stats_and_the_worker_log(
    oq: OmniQ, same_store: Callable[..., OmniQ], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="omniq.worker")
    producer = same_store(oq)
    stuck = producer.enqueue(tasks.add_numbers, {"x": 1, "y": 2}, queue_name="emails")
    oq.start_worker(max_workers=1)  # serves "default" only
    served = oq.enqueue(tasks.add_numbers, {"x": 2, "y": 2})
    assert oq.get_result(served, timeout=10) == 4

    emails = next(q for q in oq.stats().queues if q.queue_name == "emails")
    assert (emails.due, emails.served) == (1, False)
    default = next(q for q in oq.stats().queues if q.queue_name == "default")
    assert default.served
    warning = wait_until(
        lambda: [r.getMessage() for r in caplog.records if "'emails'" in r.getMessage()],
        timeout=10, what="the worker's warning about the unserved queue",
    )  # fmt: skip
    assert "has 1 due task(s) and no live worker serves it" in warning[0]
    assert oq.get_task(stuck).status.value == "enqueued"  # type: ignore[union-attr]


def test_a_worker_with_all_queues_serves_a_queue_first_used_after_it_started(
    make_oq: MakeOmniQ, same_store: Callable[..., OmniQ]
) -> None:
    worker_side = make_oq().open()
    worker_side.start_worker(max_workers=1, all_queues=True)
    producer = same_store(worker_side)
    task_id = producer.enqueue(tasks.add_numbers, {"x": 20, "y": 22}, queue_name="emails")
    assert producer.get_result(task_id, timeout=15) == 42
    (info,) = worker_side.list_workers()
    assert "*" in info.queues
    assert all(q.served for q in producer.stats().queues)
