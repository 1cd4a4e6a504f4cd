"""Fixtures for the multi-process integration tests.

Every test here starts real Python processes on one SQLite file. ``procs`` spawns the
helper scripts in ``scripts/`` with an environment in which :mod:`jobs` (the task
functions) imports under the same module name as in the test process, and kills whatever
is still running at teardown. Waits poll with a deadline (:func:`wait_until`); nothing
sleeps a fixed time.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, TypeVar

import pytest

from child_env import child_environment
from omniq import EventType, OmniQ, TaskEvent

from . import jobs

T = TypeVar("T")

SCRIPTS = Path(__file__).parent / "scripts"
PROJECT = "it"

# The directory to put on sys.path so ``jobs`` imports as ``jobs.__name__`` (e.g.
# ``integration.jobs`` when ``tests/`` is the import root): stored references must resolve
# identically in every process.
JOBS_ROOT = Path(jobs.__file__).resolve().parents[jobs.__name__.count(".")]


def wait_until(
    predicate: Callable[[], T], timeout: float, what: str = "condition", interval: float = 0.01
) -> T:
    """Poll ``predicate`` until it returns something truthy, and return that.

    Raises:
        AssertionError: ``timeout`` seconds passed first (the message names ``what``).
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def ref(func: Callable[..., Any]) -> str:
    """The ``module:name`` a helper script imports ``func`` by."""
    return f"{func.__module__}:{func.__name__}"


def event_types(events: list[TaskEvent]) -> list[EventType]:
    return [event.type for event in events]


def pid_of(worker_id: str | None) -> int:
    """The pid inside a worker id (``host:pid:random``)."""
    assert worker_id is not None
    return int(worker_id.rsplit(":", 2)[1])


def attempts_of(db: Path, task_id: str) -> int:
    """The stored attempt counter of a task (not part of the public ``Task``), read-only."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        row = conn.execute("SELECT attempts FROM tasks WHERE id = ?", (task_id,)).fetchone()
    conn.close()
    assert row is not None, task_id
    return int(row[0])


#: The warning each unprotected worker logs once at start (see omniq.workers.worker).
UNPROTECTED_WORKER = r"worker \S+ runs unprotected: whoever can write to the store can run code"


class Proc:
    """A helper-script process whose stdout and stderr go to files (no pipe can fill up)."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], logs: Path) -> None:
        self.name = name
        self.stdout_path = logs / f"{name}.out"
        self.stderr_path = logs / f"{name}.err"
        self._out: IO[bytes] = self.stdout_path.open("wb")
        self._err: IO[bytes] = self.stderr_path.open("wb")
        self.popen = subprocess.Popen(
            [sys.executable, *args], stdout=self._out, stderr=self._err, env=env
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def stdout_lines(self) -> list[str]:
        return self.stdout_path.read_text().splitlines()

    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def wait_line(self, prefix: str, timeout: float) -> str:
        """Wait for a stdout line starting with ``prefix``; fail fast if the process dies."""

        def find() -> str | None:
            for line in self.stdout_lines():
                if line.startswith(prefix):
                    return line
            if self.popen.poll() is not None:
                # One last look: the line may have been written just before it exited.
                line = next((x for x in self.stdout_lines() if x.startswith(prefix)), None)
                if line is None:
                    raise AssertionError(
                        f"{self.name} exited with {self.popen.returncode} before printing "
                        f"{prefix!r}; stderr:\n{self.stderr()}"
                    )
                return line
            return None

        return wait_until(find, timeout, f"{self.name} to print {prefix!r}")

    def signal(self, signum: int = signal.SIGTERM) -> None:
        self.popen.send_signal(signum)

    def wait_exit(self, timeout: float) -> int:
        """Wait for the process to end and return its exit code."""
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"{self.name} still running after {timeout}s; stderr:\n{self.stderr()}"
            ) from None

    def json_result(self) -> Any:
        """The last stdout line, parsed as JSON (the enqueue script prints its ids so)."""
        return json.loads(self.stdout_lines()[-1])

    def assert_clean_exit(self, timeout: float, allowed_stderr: tuple[str, ...] = ()) -> None:
        """Assert it exits 0 and its stderr has only lines matching ``allowed_stderr``.

        A worker's one warning that it runs unprotected (no strict mode, no secret_key) is
        always allowed: the scripts' workers are unprotected on purpose.
        """
        code = self.wait_exit(timeout)
        err = self.stderr()
        assert "database is locked" not in err, f"{self.name} stderr:\n{err}"
        allowed = (*allowed_stderr, UNPROTECTED_WORKER)
        unexpected = [
            line
            for line in err.splitlines()
            if not any(re.search(pattern, line) for pattern in allowed)
        ]
        assert code == 0, f"{self.name} exited with {code}; stderr:\n{err}"
        assert not unexpected, f"{self.name} wrote to stderr:\n{err}"

    def close(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
        self.popen.wait()
        self._out.close()
        self._err.close()


class Procs:
    """Starts helper scripts; :meth:`close_all` kills any still running."""

    def __init__(self, tmp_path: Path) -> None:
        self.logs = tmp_path / "logs"
        self.logs.mkdir()
        python_path = [str(JOBS_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
        self.env = child_environment(
            PYTHONPATH=os.pathsep.join(python_path),
            OMNIQ_HOME=str(tmp_path / "omniq-home"),
            PYTHONUNBUFFERED="1",
            PYTHONWARNINGS="default",  # any warning shows up in stderr, which is checked
        )
        self.all: list[Proc] = []

    def spawn(self, name: str, script: str, *args: object) -> Proc:
        proc = Proc(name, [str(SCRIPTS / script), *map(str, args)], self.env, self.logs)
        self.all.append(proc)
        return proc

    def worker(self, name: str, db: Path, **options: object) -> Proc:
        """Start ``scripts/worker.py``; options are its flags (``max_workers=2`` ...)."""
        flags = [f"--{key.replace('_', '-')}={value}" for key, value in options.items()]
        return self.spawn(name, "worker.py", f"--db={db}", *flags)

    def postgres_worker(self, name: str, dsn: str, project: str, **options: object) -> Proc:
        """Start ``scripts/worker.py`` on PostgreSQL (``dsn``, ``project``)."""
        flags = [f"--{key.replace('_', '-')}={value}" for key, value in options.items()]
        return self.spawn(name, "worker.py", f"--dsn={dsn}", f"--project={project}", *flags)

    def enqueuer(
        self,
        name: str,
        db: Path,
        func: Callable[..., Any],
        args_list: list[dict[str, Any]],
        *flags: str,
        **options: Any,
    ) -> Proc:
        """Start ``scripts/enqueue.py`` to enqueue ``func`` once per mapping."""
        return self.spawn(
            name,
            "enqueue.py",
            f"--db={db}",
            f"--func={ref(func)}",
            f"--args-json={json.dumps(args_list)}",
            f"--options-json={json.dumps(options)}",
            *flags,
        )

    def close_all(self) -> None:
        for proc in self.all:
            proc.close()

    def report(self) -> str:
        """Every process's exit code and stderr, for failure diagnostics."""
        parts = []
        for proc in self.all:
            parts.append(f"--- {proc.name} (pid {proc.pid}, rc {proc.popen.returncode})")
            parts.append(proc.stderr()[-3000:])
        return "\n".join(parts)


@pytest.fixture(autouse=True)
def _omniq_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMNIQ_HOME", str(tmp_path / "omniq-home"))


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Procs]:
    """Start helper processes; every one still alive at teardown is killed."""
    pool = Procs(tmp_path)
    try:
        yield pool
    finally:
        pool.close_all()
        print(pool.report())  # shown by pytest only when the test failed


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "queue.db"


@pytest.fixture
def oq(db_path: Path) -> Iterator[OmniQ]:
    """An open OmniQ on ``db_path`` in the test process (no worker started)."""
    with OmniQ(project_name=PROJECT, db_path=db_path) as instance:
        yield instance
