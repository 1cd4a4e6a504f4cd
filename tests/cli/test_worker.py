"""``omniq worker`` in real processes: runs tasks, registers, stops gracefully or at once."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from omniq import OmniQ, TaskFailedError, TaskStatus

from . import jobs
from .conftest import JOBS, Cli, Worker, wait_until

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
    assert log.count("whoever can write to the store can run code here") == 1

    worker.popen.send_signal(signal.SIGTERM)
    assert worker.wait_exit(30) == 0, worker.log()
    assert "Traceback" not in worker.log()
    assert oq.list_workers(include_dead=True) == []


@pytest.mark.timeout(60)
def test_sigterm_during_a_long_task_lets_it_finish_within_the_grace(
    cli: Cli, oq: OmniQ, tmp_path: Path
) -> None:
    marker = tmp_path / "started"
    # 3 s: the body still runs when the worker counts its running tasks, even on a loaded
    # machine that is slow to deliver the signal.
    task_id = oq.enqueue(jobs.slow, {"marker": str(marker), "seconds": 3.0})
    worker = cli.start("--grace", "20")
    wait_until(marker.exists, 30, "the task to start")
    worker.popen.send_signal(signal.SIGTERM)
    assert worker.wait_exit(30) == 0, worker.log()
    assert oq.get_result(task_id, timeout=0) == f"done in {worker.pid}"
    assert "stopping; waiting up to 20.0s for 1 running task" in worker.log()


@pytest.mark.timeout(60)
def test_a_task_outliving_the_grace_is_released(cli: Cli, oq: OmniQ, tmp_path: Path) -> None:
    marker = tmp_path / "started"
    task_id = oq.enqueue(jobs.hangs_first_time_async, {"marker": str(marker)})
    worker = cli.start("--grace", "0.2", "--type", "async")  # a coroutine is interrupted
    wait_until(marker.exists, 30, "the task to start")
    worker.popen.send_signal(signal.SIGINT)
    assert worker.wait_exit(30) == 0, worker.log()
    task = oq.get_task(task_id)
    assert task is not None
    assert task.status is TaskStatus.ENQUEUED
    second = cli.start(name="second")
    assert oq.get_result(task_id, timeout=30) == f"second run in {second.pid}"


@pytest.mark.timeout(60)
def test_a_body_in_a_thread_keeps_the_worker_until_it_ends(
    cli: Cli, oq: OmniQ, tmp_path: Path
) -> None:
    marker, release = tmp_path / "started", tmp_path / "release"
    task_id = oq.enqueue(jobs.waits_for, {"marker": str(marker), "release": str(release)})
    worker = cli.start("--grace", "0.2")
    wait_until(marker.exists, 30, "the task to start")
    worker.popen.send_signal(signal.SIGINT)
    wait_until(lambda: "leases are kept" in worker.log(), 10, "the grace period to pass")
    assert worker.popen.poll() is None  # not released: a thread cannot be interrupted
    task = oq.get_task(task_id)
    assert task is not None
    assert task.status is TaskStatus.EXECUTING
    release.touch()
    assert worker.wait_exit(30) == 0, worker.log()
    assert oq.get_result(task_id, timeout=0) == f"released in {worker.pid}"


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
    first = cli.start("--lease", "3", name="first")  # not expired by a stall before the kill
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


@pytest.mark.timeout(60)
def test_a_worker_without_queues_serves_every_queue_producers_use(cli: Cli, oq: OmniQ) -> None:
    worker = cli.start("--concurrency", "1")  # no --queues, none configured
    wait_registered(oq, worker)
    [info] = oq.list_workers()
    assert "*" in info.queues
    emails = oq.enqueue(jobs.add, {"x": 1, "y": 1}, queue_name="emails")
    assert oq.get_result(emails, timeout=30) == 2
    assert "and every queue that holds tasks" in worker.log()
    worker.popen.send_signal(signal.SIGTERM)
    assert worker.wait_exit(30) == 0, worker.log()


@pytest.mark.timeout(60)
def test_status_and_the_worker_log_flag_a_queue_no_worker_serves(cli: Cli, oq: OmniQ) -> None:
    stuck = oq.enqueue(jobs.add, {"x": 1, "y": 1}, queue_name="emails")
    worker = cli.start("--queues", "default", "--concurrency", "1")
    wait_registered(oq, worker)
    wait_until(lambda: "'emails' has 1 due task(s)" in worker.log(), 30, "the worker's warning")
    status = cli.run("status")
    assert status.returncode == 0, status.stderr
    assert "Warning: queue 'emails' has 1 due task(s) and no live worker serves it" in (
        status.stdout.replace("\n", " ")
    )
    [emails] = [q for q in cli.json("status")["queues"] if q["queue_name"] == "emails"]
    assert (emails["due"], emails["served"]) == (1, False)
    assert oq.get_task(stuck).status is TaskStatus.ENQUEUED  # type: ignore[union-attr]
    worker.popen.send_signal(signal.SIGTERM)
    assert worker.wait_exit(30) == 0, worker.log()


@pytest.mark.timeout(60)
def test_type_gevent_reexecutes_itself_patched_with_the_same_flags(cli: Cli, oq: OmniQ) -> None:
    worker = cli.start("--type", "gevent", "--queues", "default", "--lease", "5")
    wait_registered(oq, worker)
    [info] = oq.list_workers()
    assert info.concurrency == 100  # greenlets, when --concurrency is not given
    assert info.pid == worker.pid  # os.execv: the same process
    patched = oq.enqueue(jobs.gevent_patched)
    assert oq.get_result(patched, timeout=30) is True
    worker.popen.send_signal(signal.SIGTERM)
    assert worker.wait_exit(30) == 0, worker.log()
    assert "Traceback" not in worker.log()


@pytest.mark.timeout(60)
def test_a_strict_worker_configured_by_the_environment_runs_only_allowed_modules(
    cli: Cli, oq: OmniQ, tmp_path: Path
) -> None:
    cli.env = {**cli.env, "OMNIQ_STRICT_SERIALIZATION": "true", "OMNIQ_ALLOWED_MODULES": JOBS}
    worker = cli.start("--concurrency", "1")
    wait_registered(oq, worker)
    marker = tmp_path / "owned"
    # The producer writes what any store writer can: a msgpack call naming os.system.
    injected = oq.enqueue(os.system, {"command": f"touch {marker}"})
    allowed = oq.enqueue(jobs.add, {"x": 2, "y": 3})
    assert oq.get_result(allowed, timeout=30) == 5
    with pytest.raises(TaskFailedError) as info:
        oq.get_result(injected, timeout=30)
    assert info.value.error_type == "omniq.exceptions.FunctionNotAllowedError"
    assert not marker.exists()
    assert "runs unprotected" not in worker.log()
