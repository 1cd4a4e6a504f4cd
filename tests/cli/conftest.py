"""Running the real ``omniq`` command in subprocesses (``python -m omniq.cli``).

Workers started with :meth:`Cli.start` write to files (no pipe can fill up) and are killed at
teardown; one-shot commands run with :meth:`Cli.run` and a timeout.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, TypeVar

import pytest

from child_env import child_environment
from omniq import OmniQ

from . import jobs

T = TypeVar("T")
PROJECT = "cli"
JOBS_ROOT = Path(jobs.__file__).resolve().parents[jobs.__name__.count(".")]
JOBS = jobs.__name__


def wait_until(predicate: Callable[[], T], timeout: float, what: str) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


class Worker:
    """An ``omniq worker`` process."""

    def __init__(self, args: list[str], env: dict[str, str], logs: Path, name: str) -> None:
        self.err_path = logs / f"{name}.err"
        self._err: IO[bytes] = self.err_path.open("wb")
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "omniq.cli", "worker", *args],
            stdout=self._err, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip

    @property
    def pid(self) -> int:
        return self.popen.pid

    def log(self) -> str:
        return self.err_path.read_text()

    def wait_exit(self, timeout: float) -> int:
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"worker still running after {timeout}s:\n{self.log()}") from None

    def close(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
        self.popen.wait()
        self._err.close()


class Cli:
    """Runs ``omniq`` on one SQLite file."""

    def __init__(self, tmp_path: Path) -> None:
        self.db = tmp_path / "queue.db"
        self.logs = tmp_path / "logs"
        self.logs.mkdir()
        python_path = [str(JOBS_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
        self.env = child_environment(
            PYTHONPATH=os.pathsep.join(python_path),
            OMNIQ_HOME=str(tmp_path / "omniq-home"),
            PYTHONUNBUFFERED="1",
            COLUMNS="200",
        )
        self.workers: list[Worker] = []

    @property
    def store(self) -> list[str]:
        return ["--project", PROJECT, "--db-path", str(self.db)]

    def run(
        self, *args: str, timeout: float = 60, store: bool = True
    ) -> subprocess.CompletedProcess[str]:
        command, *rest = args
        if store:
            rest = [*rest, *self.store]
        return subprocess.run(
            [sys.executable, "-m", "omniq.cli", *command.split(), *rest],
            capture_output=True, text=True, env=self.env, timeout=timeout, check=False,
        )  # fmt: skip

    def json(self, *args: str) -> Any:
        done = self.run(*args, "--json")
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    def start(self, *args: str, name: str = "worker") -> Worker:
        worker = Worker([*self.store, "--import", JOBS, *args], self.env, self.logs, name)
        self.workers.append(worker)
        return worker

    def close(self) -> None:
        for worker in self.workers:
            worker.close()


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Cli]:
    runner = Cli(tmp_path)
    try:
        yield runner
    finally:
        runner.close()
        for worker in runner.workers:
            print(f"--- worker {worker.pid}:\n{worker.log()[-4000:]}")


@pytest.fixture
def oq(cli: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[OmniQ]:
    monkeypatch.setenv("OMNIQ_HOME", str(tmp_path / "omniq-home"))
    with OmniQ(project_name=PROJECT, db_path=cli.db) as instance:
        yield instance
