"""SQLite's task counts (schema v5): the triggers keep them equal to a count of the table."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from test_sqlite_schema import make_v1_database

from api import tasks
from omniq import OmniQ, TaskStatus


def kept_counts(path: Path) -> dict[tuple[str, str], int]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT queue_name, status, n FROM task_counts WHERE n > 0")
        return {(queue, status): n for queue, status, n in rows}


def counted(path: Path) -> dict[tuple[str, str], int]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT queue_name, status, COUNT(*) FROM tasks GROUP BY 1, 2")
        return {(queue, status): n for queue, status, n in rows}


def wait_final(oq: OmniQ, task_ids: list[str], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    final = {TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED}
    while time.monotonic() < deadline:
        if all(oq.get_task(task_id).status in final for task_id in task_ids):
            return
        time.sleep(0.02)
    raise AssertionError("the tasks did not finish in time")


def test_counts_follow_enqueue_claim_outcomes_retry_cancel_and_purge(tmp_path: Path) -> None:
    path = tmp_path / "counts.db"
    with OmniQ(project_name="counts", db_path=path, queues=["default", "mail"]) as oq:
        done = oq.enqueue_many(tasks.add_numbers, [{"x": i, "y": 1} for i in range(20)])
        failing = [oq.enqueue(tasks.always_fails, {"message": f"m{i}"}, queue_name="mail",
                              max_retries=1, retry_delay=0.0) for i in range(3)]  # fmt: skip
        later = oq.enqueue(tasks.add_numbers, {"x": 1, "y": 2}, run_in=3600, queue_name="mail")
        assert kept_counts(path) == counted(path) == {("default", "enqueued"): 20,
                                                      ("mail", "enqueued"): 4}  # fmt: skip
        oq.start_worker(max_workers=2)
        wait_final(oq, done + failing)
        oq.stop_worker()
        assert kept_counts(path) == counted(path)
        assert kept_counts(path)[("mail", "failed")] == 3
        assert oq.cancel(later)
        assert oq.retry(failing[0])
        assert kept_counts(path) == counted(path)
        assert kept_counts(path)[("mail", "cancelled")] == 1
        report = oq.purge(older_than=0, status="completed")
        assert len(report.task_ids) == 20
        assert kept_counts(path) == counted(path)
        assert ("default", "completed") not in kept_counts(path)
        stats = {queue.queue_name: queue.counts for queue in oq.stats().queues}
        assert stats["mail"]["failed"] == 2
        assert stats["mail"]["enqueued"] == 1  # the retried one, waiting for a worker


def test_counts_are_filled_when_an_older_store_is_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    make_v1_database(path)  # one waiting task, written before the counts existed
    with OmniQ(project_name="old", db_path=path) as oq:
        assert kept_counts(path) == {("default", "enqueued"): 1}
        assert oq.stats().totals["enqueued"] == 1
