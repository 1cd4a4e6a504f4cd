"""Transactional enqueue: a task stored in the application's own PostgreSQL transaction.

It exists if and only if that transaction commits; workers see it from the commit on.
"""

from __future__ import annotations

import psycopg
import pytest

from backend_targets import POSTGRES_DSN
from omniq import ConfigurationError, EventType, OmniQ, TaskStatus

from . import tasks
from .conftest import MakeOmniQ


class Rollback(Exception):
    """Raised inside a transaction to roll it back."""


@pytest.mark.capability("transactional")
def test_a_rolled_back_transaction_leaves_no_task(make_oq: MakeOmniQ) -> None:
    oq = make_oq().open()
    enqueued: list[str] = []
    with psycopg.connect(POSTGRES_DSN) as conn:
        try:
            with conn.transaction():
                conn.execute("SELECT 1")  # the application's own work
                enqueued.append(oq.enqueue(tasks.add_numbers, {"x": 1, "y": 2}, connection=conn))
                raise Rollback
        except Rollback:
            pass
    (task_id,) = enqueued
    assert oq.get_task(task_id) is None
    assert oq.get_events(task_id) == []


@pytest.mark.capability("transactional")
def test_a_committed_transaction_stores_the_task_and_a_worker_runs_it(
    make_oq: MakeOmniQ,
) -> None:
    oq = make_oq().open()
    oq.start_worker(max_workers=2)
    with psycopg.connect(POSTGRES_DSN) as conn:
        with conn.transaction():
            task_id = oq.enqueue(tasks.add_numbers, {"x": 20, "y": 22}, connection=conn)
            # Not committed yet: nobody else sees it, so no worker can run it.
            assert oq.get_task(task_id) is None
        assert oq.get_result(task_id, timeout=10) == 42
    assert [e.type for e in oq.get_events(task_id)] == [
        EventType.ENQUEUED, EventType.DEQUEUED, EventType.EXECUTING, EventType.COMPLETED,
    ]  # fmt: skip


@pytest.mark.capability("transactional")
async def test_async_enqueue_in_an_async_transaction(make_oq: MakeOmniQ) -> None:
    async with make_oq() as oq:
        async with await psycopg.AsyncConnection.connect(POSTGRES_DSN) as conn:
            dropped: list[str] = []
            try:
                async with conn.transaction():
                    dropped.append(await oq.enqueue_async(tasks.add_numbers, {"x": 1, "y": 1},
                                                          connection=conn))  # fmt: skip
                    raise Rollback
            except Rollback:
                pass
            async with conn.transaction():
                kept = await oq.enqueue_async(tasks.add_numbers, {"x": 2, "y": 2},
                                              connection=conn)  # fmt: skip
        assert await oq.get_task_async(dropped[0]) is None
        kept_task = await oq.get_task_async(kept)
        assert kept_task is not None
        assert kept_task.status is TaskStatus.ENQUEUED


@pytest.mark.capability("transactional")
async def test_the_wrong_kind_of_connection_is_refused(make_oq: MakeOmniQ) -> None:
    async with make_oq() as oq:
        with (
            psycopg.connect(POSTGRES_DSN) as sync_conn,
            pytest.raises(ConfigurationError, match="AsyncConnection"),
        ):
            await oq.enqueue_async(tasks.add_numbers, {"x": 1, "y": 1}, connection=sync_conn)
        with pytest.raises(ConfigurationError, match="'not a connection'"):
            await oq.enqueue_async(tasks.add_numbers, {"x": 1, "y": 1},
                                   connection="not a connection")  # fmt: skip


@pytest.mark.without("transactional")
def test_a_store_without_transactions_refuses_connection(make_oq: MakeOmniQ) -> None:
    oq: OmniQ = make_oq().open()
    with pytest.raises(ConfigurationError, match="cannot store tasks in the application's"):
        oq.enqueue(tasks.add_numbers, {"x": 1, "y": 1}, connection=object())
