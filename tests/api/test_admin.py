"""The operating methods: stats, list_workers, list_tasks, retry, list_events, purge."""

from __future__ import annotations

import datetime as dt
import sqlite3
import time
from pathlib import Path

import pytest

from omniq import EventType, OmniQ, TaskStatus
from omniq.exceptions import ConfigurationError, TaskFailedError, TaskNotFoundError
from omniq.storage.admin import SpaceReclaimer

from . import tasks
from .conftest import MakeOmniQ
from .helpers import events_ending_with, wait_until


def test_stats_count_tasks_by_queue_and_status(oq: OmniQ) -> None:
    oq.enqueue(tasks.add_numbers, {"x": 1, "y": 2}, queue_name="high")
    oq.enqueue(tasks.add_numbers, {"x": 1, "y": 2}, queue_name="high", run_in=3600)
    oq.enqueue(tasks.add_numbers, {"x": 1, "y": 2})
    oq.schedule(tasks.add_numbers, {"x": 1, "y": 2}, interval=dt.timedelta(hours=1))
    stats = oq.stats()
    by_name = {queue.queue_name: queue for queue in stats.queues}
    assert sorted(by_name) == ["default", "high"]
    high = by_name["high"]
    assert high.counts["enqueued"] == 2
    assert high.counts["failed"] == 0
    assert (high.due, high.delayed) == (1, 1)
    assert high.oldest_due_age is not None
    assert 0 <= high.oldest_due_age < 60
    assert stats.totals["enqueued"] == 3
    assert stats.schedules == {"active": 1}
    assert stats.workers == []


def test_a_running_worker_is_listed_and_gone_after_stop(oq: OmniQ) -> None:
    assert oq.list_workers() == []
    oq.start_worker(max_workers=3)
    assert oq.worker is not None
    [info] = oq.list_workers()
    assert info.id == oq.worker.worker_id
    assert info.alive
    assert info.concurrency == 3
    assert "default" in info.queues
    assert oq.stats().workers == [info]
    oq.stop_worker()
    assert oq.list_workers(include_dead=True) == []


def test_list_tasks_filters(oq: OmniQ) -> None:
    first = oq.enqueue(tasks.add_numbers, {"x": 1, "y": 2}, queue_name="a")
    second = oq.enqueue(tasks.add_numbers, {"x": 3, "y": 4}, queue_name="b")
    assert [t.id for t in oq.list_tasks()] == [second, first]
    assert [t.id for t in oq.list_tasks(queue_name="a")] == [first]
    assert [t.id for t in oq.list_tasks(status="enqueued", limit=1)] == [second]
    assert oq.list_tasks(status=["failed", TaskStatus.COMPLETED]) == []
    assert oq.list_tasks()[0].args == {"x": 3, "y": 4}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"status": "nope"}, "status 'nope' is not one of"),
        ({"limit": 0}, "limit 0 is not a positive integer"),
        ({"status": []}, "is not a status or a list of statuses"),
    ],
)
def test_list_tasks_rejects_bad_arguments(
    oq: OmniQ, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        oq.list_tasks(**kwargs)  # type: ignore[arg-type]


def test_retry_runs_a_failed_task_again(oq: OmniQ) -> None:
    task_id = oq.enqueue(tasks.flaky, {"key": "k", "failures": 1}, max_retries=0)
    oq.start_worker(max_workers=1)
    with pytest.raises(TaskFailedError):
        oq.get_result(task_id, timeout=10)
    assert oq.retry(task_id) is True
    assert oq.get_result(task_id, timeout=10) == 2
    task = oq.get_task(task_id)
    assert task is not None
    assert task.status is TaskStatus.COMPLETED
    assert task.error is None
    events = events_ending_with(oq, task_id, EventType.COMPLETED)
    types = [event.type for event in events]
    assert types.count(EventType.ENQUEUED) == 2
    assert types[-1] is EventType.COMPLETED
    # The second life starts with its enqueued event, before the new attempt's events.
    again = types.index(EventType.ENQUEUED, 1)
    assert events[again].detail == "re-enqueued by retry (was failed)"
    second_life = [EventType.ENQUEUED, EventType.DEQUEUED, EventType.EXECUTING]
    if oq.store.capabilities.fused_events:
        assert types[again:-1] == second_life
    else:  # the event follows the re-queue, which a worker may claim first (see retry)
        assert sorted(types[again:-1]) == sorted(second_life)
    assert oq.retry(task_id) is False  # completed: nothing to retry


def test_retry_an_unknown_task(oq: OmniQ) -> None:
    with pytest.raises(TaskNotFoundError):
        oq.retry("no-such-task")


def test_list_events_follows_the_log(oq: OmniQ) -> None:
    # A log may hold back an event until it can place it in commit order (on PostgreSQL,
    # while any older transaction on the server is open): followers poll until it shows.
    assert oq.list_events() == []
    first = oq.enqueue(tasks.add_numbers, {"x": 1, "y": 2})
    entries = wait_until(oq.list_events, what="the first event")
    assert [(e.task_id, e.type) for _, e in entries] == [(first, EventType.ENQUEUED)]
    second = oq.enqueue(tasks.add_numbers, {"x": 1, "y": 2})
    newer = wait_until(lambda: oq.list_events(after=entries[-1][0]), what="the second event")
    assert [(e.task_id, e.type) for _, e in newer] == [(second, EventType.ENQUEUED)]
    assert len(oq.list_events(limit=1)) == 1


def test_purge_dry_run_then_purge(oq: OmniQ) -> None:
    done = oq.enqueue(tasks.add_numbers, {"x": 1, "y": 2})
    failed = oq.enqueue(tasks.always_fails, {"message": "no"}, max_retries=0)
    short = oq.enqueue(tasks.add_numbers, {"x": 2, "y": 2}, result_ttl=0.001)
    oq.start_worker(max_workers=2)
    assert oq.get_result(done, timeout=10) == 3
    with pytest.raises(TaskFailedError):
        oq.get_result(failed, timeout=10)
    deadline = time.monotonic() + 10
    while (task := oq.get_task(short)) is None or task.status is not TaskStatus.COMPLETED:
        assert time.monotonic() < deadline, "the short-lived task did not complete"
        time.sleep(0.01)
    oq.stop_worker()
    assert oq.purge().task_ids == []  # younger than 7 days
    report = oq.purge(older_than=0, dry_run=True)
    assert report.dry_run
    assert sorted(report.task_ids) == sorted([done, short])
    assert oq.get_task(done) is not None
    report = oq.purge(older_than=dt.timedelta(0))
    assert sorted(report.task_ids) == sorted([done, short])
    assert oq.get_task(done) is None
    assert oq.get_events(done) == []
    assert oq.get_task(failed) is not None  # failed tasks are kept unless named
    assert oq.purge(older_than=0, status="failed").task_ids == [failed]


def test_purge_with_vacuum_gives_the_space_back(oq: OmniQ) -> None:
    padding = "x" * 20_000
    ids = oq.enqueue_many(tasks.echo, [{"pad": padding, "n": n} for n in range(300)])
    oq.start_worker(max_workers=4)
    for task_id in ids:
        oq.get_result(task_id, timeout=30)
    oq.stop_worker()
    if not isinstance(oq.task_queue, SpaceReclaimer):  # a server gives space back itself
        with pytest.raises(ConfigurationError, match="vacuum is not supported"):
            oq.purge(older_than=0, vacuum=True)
        assert oq.get_task(ids[0]) is not None  # refused before anything was deleted
        return
    db_path = getattr(oq.backend, "db_path", None)
    before = None if db_path is None else db_path.stat().st_size
    assert oq.purge(older_than=0, vacuum=True, dry_run=True).reclaimed_bytes == 0
    report = oq.purge(older_than=0, vacuum=True)
    assert sorted(report.task_ids) == sorted(ids)
    assert report.reclaimed_bytes is not None
    assert report.reclaimed_bytes > 5_000_000  # 300 payloads and results of 20 kB
    if db_path is not None:
        assert before is not None
        assert db_path.stat().st_size < before - 5_000_000
    assert oq.purge(older_than=0).reclaimed_bytes is None  # not asked


def test_purge_rejects_bad_arguments(oq: OmniQ) -> None:
    with pytest.raises(ConfigurationError, match="older_than"):
        oq.purge(older_than=-1)
    with pytest.raises(ConfigurationError, match="status 'x'"):
        oq.purge(status="x")
    with pytest.raises(ConfigurationError, match="vacuum 'yes'"):
        oq.purge(vacuum="yes")  # type: ignore[arg-type]


async def test_async_twins(make_oq: MakeOmniQ) -> None:
    async with make_oq() as oq:
        task_id = await oq.enqueue_async(tasks.add_numbers, {"x": 1, "y": 2})
        assert [t.id for t in await oq.list_tasks_async()] == [task_id]
        assert (await oq.stats_async()).totals["enqueued"] == 1
        assert await oq.list_workers_async() == []
        assert len(await oq.list_events_async()) == 1
        assert (await oq.purge_async(dry_run=True)).task_ids == []
        with pytest.raises(TaskNotFoundError):
            await oq.retry_async("missing")


def test_purge_sweeps_results_and_events_an_interrupted_purge_left(tmp_path: Path) -> None:
    db_path = tmp_path / "orphans.db"
    with OmniQ(project_name="orphans", backend_type="sqlite", db_path=db_path) as oq:
        oq.start_worker(max_workers=1)
        gone, kept = (oq.enqueue(tasks.add_numbers, {"x": n, "y": 1}) for n in (1, 2))
        assert oq.get_result(gone, timeout=10) == 2
        assert oq.get_result(kept, timeout=10) == 3
        oq.stop_worker()
        # What an older version's purge, killed after deleting the task, left behind.
        with sqlite3.connect(db_path) as conn:
            conn.execute("DELETE FROM tasks WHERE id = ?", (gone,))
        conn.close()
        report = oq.purge(older_than=3600)  # deletes no task: kept is too young
        assert report.task_ids == []
        assert report.orphans == 1 + 4  # its result and its 4 events
        assert oq.get_events(gone) == []
        assert oq.get_result(kept, timeout=0) == 3  # a task's own are kept
        assert len(oq.get_events(kept)) == 4
        assert oq.purge(older_than=3600).orphans == 0
