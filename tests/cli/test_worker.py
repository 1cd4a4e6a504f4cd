"""``omniq worker`` in real processes: runs tasks, registers, stops gracefully or at once."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from omniq import OmniQ, TaskStatus

from . import jobs
from .conftest import Cli, Worker, wait_until

pytestmark = pytest.mark.slow


def wait_registered(oq: OmniQ, worker: Worker) -> str:
    """Wait for the worker process to appear in the registry; return its id."""

    def find() -> str | None:
        assert worker.popen.poll() is None, f"worker exited early:\n{worker.log()}"
        return next((w.id for w in oq.list_workers() if w.pid == worker.pid), None)

    return wait_until(find, 30, "the worker to register")


@pytest.mark.timeout(60)
def test_worker_runs_tasks_enqueued_by_another_process_and_stops_on_sigterm(
    cli: Cli, oq: OmniQ
) -> None:
    worker = cli.start("--queues", "high,low", "--concurrency", "2", "--lease", "3")
    worker_id = wait_registered(oq, worker)
    [info] = oq.list_workers()
    assert (info.queues[:2], info.concurrency, info.alive) == (["high", "low"], 2, True)
    low = oq.enqueue(jobs.add, {"x": 2, "y": 3}, queue_name="low")
    there = oq.enqueue(jobs.pid)
    assert oq.get_result(low, timeout=30) == 5
    assert oq.get_result(there, timeout=30) == worker.pid
    wait_until(lambda: f"task {low} completed" in worker.log(), 10, "the completed log line")
    log = worker.log()
    assert f"task {low} executing" in log
    assert f"worker {worker_id} ready" in log

    worker.popen.send_signal(signal.SIGTERM)
    assert worker.wait_exit(30) == 0, worker.log()
    assert "Traceback" not in worker.log()
    assert oq.list_workers(include_dead=True) == []


@pytest.mark.timeout(60)
def test_sigterm_during_a_long_task_lets_it_finish_within_the_grace(
    cli: Cli, oq: OmniQ, tmp_path: Path
) -> None:
    marker = tmp_path / "started"
    task_id = oq.enqueue(jobs.slow, {"marker": str(marker), "seconds": 1.5})
    worker = cli.start("--grace", "20")
    wait_until(marker.exists, 30, "the task to start")
    worker.popen.send_signal(signal.SIGTERM)
    assert worker.wait_exit(30) == 0, worker.log()
    assert oq.get_result(task_id, timeout=0) == f"done in {worker.pid}"
    assert "stopping; waiting up to 20.0s for 1 running task" in worker.log()


@pytest.mark.timeout(60)
def test_a_task_outliving_the_grace_is_released(cli: Cli, oq: OmniQ, tmp_path: Path) -> None:
    marker = tmp_path / "started"
    task_id = oq.enqueue(jobs.hangs_first_time, {"marker": str(marker)})
    worker = cli.start("--grace", "0.2")
    wait_until(marker.exists, 30, "the task to start")
    worker.popen.send_signal(signal.SIGINT)
    assert worker.wait_exit(30) == 0, worker.log()
    task = oq.get_task(task_id)
    assert task is not None
    assert task.status is TaskStatus.ENQUEUED
    second = cli.start(name="second")
    assert oq.get_result(task_id, timeout=30) == f"second run in {second.pid}"


@pytest.mark.timeout(60)
def test_a_second_sigint_stops_at_once(cli: Cli, oq: OmniQ, tmp_path: Path) -> None:
    marker = tmp_path / "started"
    oq.enqueue(jobs.slow, {"marker": str(marker), "seconds": 60})
    worker = cli.start("--grace", "60")
    wait_until(marker.exists, 30, "the task to start")
    worker.popen.send_signal(signal.SIGINT)
    wait_until(lambda: "stopping;" in worker.log(), 10, "the stop to begin")
    assert worker.popen.poll() is None
    worker.popen.send_signal(signal.SIGINT)
    assert worker.wait_exit(10) == 130
    assert "stopping at once" in worker.log()


@pytest.mark.timeout(60)
def test_a_task_of_a_killed_worker_is_completed_by_the_next_worker(
    cli: Cli, oq: OmniQ, tmp_path: Path
) -> None:
    marker = tmp_path / "started"
    task_id = oq.enqueue(jobs.hangs_first_time, {"marker": str(marker)})
    first = cli.start("--lease", "1", name="first")
    first_id = wait_registered(oq, first)
    wait_until(marker.exists, 30, "the task to start")
    first.popen.send_signal(signal.SIGKILL)
    first.wait_exit(10)
    second = cli.start("--lease", "1", name="second")
    assert oq.get_result(task_id, timeout=30) == f"second run in {second.pid}"
    wait_until(
        lambda: [w.id for w in oq.list_workers(include_dead=True) if not w.alive] == [first_id],
        10, "the killed worker to show as dead",
    )  # fmt: skip
