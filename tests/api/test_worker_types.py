"""``worker_type="process_pool"`` and ``"gevent"`` end to end, on SQLite.

The process-pool tests share one OmniQ instance and its worker (two child processes), so
child start-up is paid once per module. The gevent worker runs in a subprocess through its
entry point, since monkey-patching cannot happen in the test process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from child_env import child_environment
from omniq import ConfigurationError, OmniQ, TaskFailedError, TaskStatus

from . import worker_type_tasks as tasks
from .helpers import wait_until

# The directory that makes ``worker_type_tasks`` import under the same name in a subprocess.
TESTS_ROOT = Path(tasks.__file__).resolve().parents[tasks.__name__.count(".")]


@pytest.fixture(scope="module")
def pool_oq(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OmniQ]:
    db = tmp_path_factory.mktemp("process_pool") / "q.db"
    with OmniQ(project_name="process_pool", backend_type="sqlite", db_path=db) as oq:
        oq.start_worker(worker_type="process_pool", max_workers=2)
        yield oq


def run(oq: OmniQ, func: Callable[..., Any], timeout: float = 20, **options: Any) -> Any:
    args = options.pop("func_args", {})
    return oq.get_result(oq.enqueue(func=func, func_args=args, **options), timeout=timeout)


def test_importable_function_runs_in_a_child_process(pool_oq: OmniQ) -> None:
    child = run(pool_oq, tasks.pid)
    assert child != os.getpid()
    assert pool_oq.worker is not None
    assert pool_oq.worker.runner.executor.max_workers == 2


def test_lambda_closure_and_async_def(pool_oq: OmniQ) -> None:
    base = 40

    def closure(extra: int) -> int:
        return base + extra

    assert run(pool_oq, lambda x: x * 3, func_args={"x": 7}) == 21
    assert run(pool_oq, closure, func_args={"extra": 2}) == 42
    assert run(pool_oq, tasks.async_pid, func_args={"delay": 0.01}) != os.getpid()


def test_cpu_bound_bodies_run_in_parallel_processes(pool_oq: OmniQ) -> None:
    ids = pool_oq.enqueue_many(tasks.busy_interval, [{"seconds": 0.4}, {"seconds": 0.4}])
    (pid_a, start_a, end_a), (pid_b, start_b, end_b) = [
        pool_oq.get_result(task_id, timeout=20) for task_id in ids
    ]
    assert len({pid_a, pid_b, os.getpid()}) == 3
    # The two computations overlapped in time.
    assert start_a < end_b
    assert start_b < end_a


def test_unpicklable_result_fails_the_task_clearly(pool_oq: OmniQ) -> None:
    task_id = pool_oq.enqueue(func=tasks.return_lock, max_retries=0)
    with pytest.raises(TaskFailedError) as caught:
        pool_oq.get_result(task_id, timeout=20)
    assert caught.value.error_type == "omniq.exceptions.SerializationError"
    assert "api.worker_type_tasks:return_lock" in caught.value.error_message
    assert "_thread.lock" in caught.value.error_message


def test_crashed_child_fails_only_its_task_and_the_pool_recovers(
    pool_oq: OmniQ, tmp_path: Path
) -> None:
    gate, pid_file = tmp_path / "gate", tmp_path / "crashed.pid"
    survivor = pool_oq.enqueue(func=tasks.wait_for_file, func_args={"path": str(gate)})
    wait_until(lambda: _status(pool_oq, survivor) == TaskStatus.EXECUTING, 20, what="survivor")
    crashed = pool_oq.enqueue(
        func=tasks.crash, func_args={"code": 1, "pid_file": str(pid_file)}, max_retries=0
    )
    with pytest.raises(TaskFailedError) as caught:
        pool_oq.get_result(crashed, timeout=20)
    assert caught.value.error_type == "omniq.exceptions.WorkerError"
    assert "worker process running this task died (exit code 1)" in caught.value.error_message
    gate.touch()
    survivor_pid = pool_oq.get_result(survivor, timeout=20)  # ran on, in the other child
    after = pool_oq.enqueue_many(tasks.wait_for_file, [{"path": str(gate)}] * 2)
    pids = {pool_oq.get_result(task_id, timeout=20) for task_id in after}
    crashed_pid = int(pid_file.read_text())
    assert survivor_pid != crashed_pid
    assert crashed_pid not in pids  # the crashed child was replaced
    assert len(pids) == 2


def test_crash_is_retried_per_max_retries(pool_oq: OmniQ, tmp_path: Path) -> None:
    marker = tmp_path / "crashed-once"
    task_id = pool_oq.enqueue(
        func=tasks.crash_once, func_args={"marker": str(marker)}, max_retries=1, retry_delay=0
    )
    assert pool_oq.get_result(task_id, timeout=20) == "survived"
    task = pool_oq.get_task(task_id)
    assert task is not None
    assert task.retry_count == 1
    assert marker.exists()


def test_gevent_worker_refuses_an_unpatched_process(tmp_path: Path) -> None:
    with (
        OmniQ(project_name="no_gevent", db_path=tmp_path / "q.db") as oq,
        pytest.raises(ConfigurationError, match="gevent_main"),
    ):
        oq.start_worker(worker_type="gevent")


def _start_gevent(db: Path, log: Path, **extra_env: str) -> subprocess.Popen[bytes]:
    """Start ``python -m omniq.workers.gevent_main`` on ``db``, stderr to ``log``."""
    env = child_environment(
        PYTHONPATH=os.pathsep.join(filter(None, [str(TESTS_ROOT), os.environ.get("PYTHONPATH")])),
        PYTHONWARNINGS="default",  # any warning reaches stderr, which is checked
        **extra_env,
    )
    with log.open("wb") as stderr:
        return subprocess.Popen(
            [
                sys.executable, "-m", "omniq.workers.gevent_main", "--project", "gv",
                "--db-path", str(db), "--concurrency", "50", "--queues", "gevent",
                "--import", tasks.__name__,
            ],
            stdout=subprocess.DEVNULL, stderr=stderr, env=env,
        )  # fmt: skip


@pytest.fixture
def gevent_worker(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path, Path]]:
    """``python -m omniq.workers.gevent_main`` on a fresh SQLite file; killed at teardown."""
    db, log = tmp_path / "gevent.db", tmp_path / "worker.err"
    proc = _start_gevent(db, log)
    try:
        yield proc, db, log
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def test_a_strict_gevent_worker_from_the_environment_refuses_other_functions(
    tmp_path: Path,
) -> None:
    db, log, marker = tmp_path / "gevent.db", tmp_path / "worker.err", tmp_path / "owned"
    proc = _start_gevent(
        db, log, OMNIQ_STRICT_SERIALIZATION="true", OMNIQ_ALLOWED_MODULES=tasks.__name__
    )
    try:
        with OmniQ(project_name="gv", db_path=db, queues=["gevent"]) as oq:
            injected = oq.enqueue(
                func=os.system, func_args={"command": f"touch {marker}"}, queue_name="gevent"
            )
            allowed = oq.enqueue(func=tasks.count_primes, func_args={"below": 10},
                                 queue_name="gevent")  # fmt: skip
            assert oq.get_result(allowed, timeout=60) == 4
            with pytest.raises(TaskFailedError, match="is not allowed"):
                oq.get_result(injected, timeout=20)
        assert not marker.exists()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, log.read_text()
        assert "runs unprotected" not in log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def test_gevent_entry_point_runs_tasks_concurrently_and_stops_on_sigterm(
    gevent_worker: tuple[subprocess.Popen[bytes], Path, Path],
) -> None:
    proc, db, log = gevent_worker
    with OmniQ(project_name="gv", db_path=db, queues=["gevent"]) as oq:
        ids = oq.enqueue_many(tasks.nap, [{"seconds": 0.05}] * 50, queue_name="gevent")
        helpers = [
            oq.enqueue(
                func=tasks.uses_asyncio_run, func_args={"seconds": 0.05}, queue_name="gevent"
            )
            for _ in range(5)
        ] + [oq.enqueue(func=tasks.calls_sys_exit, queue_name="gevent", max_retries=0)]
        pids = {oq.get_result(task_id, timeout=60, poll_interval=0.01) for task_id in ids}
        assert pids == {proc.pid}  # the entry point re-executed itself in place
        finished = [oq.get_task(task_id) for task_id in ids]
        starts = [task.started_at for task in finished if task and task.started_at]
        ends = [task.finished_at for task in finished if task and task.finished_at]
        assert len(starts) == len(ends) == 50
        span = (max(ends) - min(starts)).total_seconds()
        assert span < 1.0, f"50 x 0.05 s naps took {span:.3f}s: they did not overlap"
        # Sync bodies may run their own event loop, concurrently (one loop per greenlet).
        for task_id in helpers[:5]:
            assert oq.get_result(task_id, timeout=20) == "ran its own loop"
        with pytest.raises(TaskFailedError, match="SystemExit"):
            oq.get_result(helpers[5], timeout=20)
        assert proc.poll() is None  # sys.exit() in a body ended the task, not the worker
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0, log.read_text()
    err = log.read_text()
    assert "Traceback" not in err, err
    assert "Warning" not in err, err
    assert "gevent worker ready" in err
    assert err.count("runs unprotected: whoever can write to the store can run code") == 1


def _status(oq: OmniQ, task_id: str) -> TaskStatus | None:
    task = oq.get_task(task_id)
    return None if task is None else task.status
