"""The ``omniq`` command on the file backend: a worker and the read commands, from a YAML file."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from omniq import OmniQ

from . import jobs
from .conftest import JOBS, PROJECT, Cli, Worker, wait_until


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "omniq.yaml"
    path.write_text(
        f"project_name: {PROJECT}\n"
        "task_queue:\n"
        "  type: file\n"
        f"  config: {{path: {tmp_path / 'store'}}}\n"
    )
    return path


@pytest.fixture
def files_oq(tmp_path: Path) -> Iterator[OmniQ]:
    with OmniQ(project_name=PROJECT, backend_type="file", path=tmp_path / "store") as oq:
        yield oq


@pytest.mark.timeout(90)
def test_worker_and_read_commands_on_a_directory(cli: Cli, config: Path, files_oq: OmniQ) -> None:
    task_id = files_oq.enqueue(jobs.add, {"x": 2, "y": 3})
    flags = ["--config", str(config)]
    listed = cli.run("tasks list", "--json", *flags, store=False)
    assert listed.returncode == 0, listed.stderr
    assert [t["id"] for t in json.loads(listed.stdout)] == [task_id]

    worker = Worker([*flags, "--import", JOBS], cli.env, cli.logs, "file-worker")
    cli.workers.append(worker)
    assert files_oq.get_result(task_id, timeout=30) == 5
    status = cli.run("status", "--json", *flags, store=False)
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["workers"]
    shown = cli.run("results get", task_id, "--json", *flags, store=False)
    assert shown.returncode == 0, shown.stderr
    events = cli.run("events tail", "--json", *flags, store=False).stdout.splitlines()
    assert [json.loads(line)["type"] for line in events] == [
        "enqueued", "dequeued", "executing", "completed",
    ]  # fmt: skip
    worker.popen.send_signal(signal.SIGTERM)
    assert worker.wait_exit(30) == 0
    log = worker.log()
    assert f"task {task_id} completed" in log  # the lifecycle lines come from the event log
    wait_until(lambda: "stopped" in worker.log(), 10, "the worker's last line")
