"""DaemonThreadPool: a bounded pool of daemon threads behaving like ThreadPoolExecutor."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from concurrent.futures import CancelledError
from pathlib import Path

import pytest

from omniq.workers.daemon_pool import DaemonThreadPool


def test_runs_calls_and_returns_their_results() -> None:
    pool = DaemonThreadPool(2, "t")
    try:
        assert [pool.submit(pow, 2, n).result(timeout=5) for n in range(5)] == [1, 2, 4, 8, 16]
    finally:
        pool.shutdown()


def test_exceptions_reach_the_future() -> None:
    pool = DaemonThreadPool(1, "t")
    try:
        with pytest.raises(ZeroDivisionError):
            pool.submit(lambda: 1 // 0).result(timeout=5)
        with pytest.raises(SystemExit):
            pool.submit(sys.exit, 3).result(timeout=5)
        assert pool.submit(lambda: "still serving").result(timeout=5) == "still serving"
    finally:
        pool.shutdown()


def test_threads_are_daemons_named_and_bounded() -> None:
    pool = DaemonThreadPool(3, "omniq-test")
    release = threading.Event()
    seen: list[threading.Thread] = []
    lock = threading.Lock()

    def hold() -> None:
        with lock:
            seen.append(threading.current_thread())
        release.wait(10)

    futures = [pool.submit(hold) for _ in range(6)]
    deadline = time.monotonic() + 10
    while len(seen) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    # Threads start at submit: six calls made three, and the other three calls wait.
    pool_threads = [t for t in threading.enumerate() if t.name.startswith("omniq-test_")]
    assert len(pool_threads) == 3
    assert len(seen) == 3
    release.set()
    for future in futures:
        future.result(timeout=10)
    assert len({thread.name for thread in seen}) == 3
    assert all(t.daemon and t.name.startswith("omniq-test_") for t in seen)
    pool.shutdown()


def test_an_idle_thread_is_reused_before_a_new_one_starts() -> None:
    pool = DaemonThreadPool(4, "t")
    try:
        names = {pool.submit(lambda: threading.current_thread().name).result(5) for _ in range(20)}
        assert names == {"t_0"}
    finally:
        pool.shutdown()


def test_shutdown_cancels_queued_calls_and_refuses_new_ones() -> None:
    pool = DaemonThreadPool(1, "t")
    release = threading.Event()
    running = pool.submit(release.wait, 10)
    queued = pool.submit(lambda: "never")
    pool.shutdown(wait=False, cancel_futures=True)
    release.set()
    assert running.result(timeout=5) is True
    with pytest.raises(CancelledError):
        queued.result(timeout=5)
    with pytest.raises(RuntimeError, match="after shutdown"):
        pool.submit(lambda: None)


def test_a_stuck_call_does_not_hold_the_interpreter_at_exit(tmp_path: Path) -> None:
    script = tmp_path / "stuck.py"
    script.write_text(
        textwrap.dedent(
            """
            import time
            from omniq.workers.daemon_pool import DaemonThreadPool
            pool = DaemonThreadPool(1, "stuck")
            pool.submit(time.sleep, 60)
            print("exiting", flush=True)
            """
        )
    )
    started = time.monotonic()
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "exiting"
    assert time.monotonic() - started < 20  # not the 60 s the stuck call would take


def test_max_workers_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_workers 0"):
        DaemonThreadPool(0, "t")
