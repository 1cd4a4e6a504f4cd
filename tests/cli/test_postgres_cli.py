"""The ``omniq`` command on PostgreSQL: a worker and every read command from a config file.

The DSN carries a password (the server here trusts local connections, so any password
connects): it must never show in what the command prints.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import yaml
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from backend_targets import POSTGRES_DSN, TARGETS, new_project
from omniq import OmniQ

from . import jobs
from .conftest import Cli, wait_until

PASSWORD = "hunter2-not-shown"


def dsn_with_password(port: int | None = None) -> str:
    params = conninfo_to_dict(POSTGRES_DSN)
    params["password"] = PASSWORD
    if port is not None:
        params["port"] = str(port)
    return make_conninfo("", **params)


class PostgresCli(Cli):
    """Runs ``omniq`` with ``--config`` naming a PostgreSQL store."""

    def __init__(self, tmp_path: Path, project: str) -> None:
        super().__init__(tmp_path)
        self.config = tmp_path / "omniq.yaml"
        self.config.write_text(yaml.safe_dump({
            "project_name": project,
            "task_queue": {"type": "postgres", "config": {"dsn": dsn_with_password()}},
        }))  # fmt: skip

    @property
    def store(self) -> list[str]:
        return ["--config", str(self.config)]


@pytest.fixture
def project() -> Iterator[str]:
    TARGETS["postgres"].check_service()
    name = new_project("cli_pg")
    yield name
    TARGETS["postgres"].remove(name)


@pytest.fixture
def pg_cli(tmp_path: Path, project: str) -> Iterator[PostgresCli]:
    runner = PostgresCli(tmp_path, project)
    try:
        yield runner
    finally:
        runner.close()
        for worker in runner.workers:
            print(f"--- worker {worker.pid}:\n{worker.log()[-4000:]}")


def test_a_worker_and_the_read_commands_from_a_postgres_config(pg_cli: PostgresCli) -> None:
    with OmniQ.from_config_file(pg_cli.config) as oq:
        task_id = oq.enqueue(jobs.add, {"x": 20, "y": 22})
        worker = pg_cli.start("--concurrency", "2")
        assert oq.get_result(task_id, timeout=30) == 42
        status = pg_cli.json("status")
        assert status["totals"]["completed"] == 1
        assert any(w["alive"] for w in status["workers"])
        listed = pg_cli.json("tasks list")
        assert [t["id"] for t in listed] == [task_id]
        result = pg_cli.run("results get", task_id)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "42"

        def types_in_the_log() -> list[str] | None:
            lines = pg_cli.run("events tail", "--json").stdout.splitlines()
            types = [e["type"] for e in map(json.loads, lines) if e["task_id"] == task_id]
            return types if types and types[-1] == "completed" else None

        # The log shows an event once every older transaction on the server has ended (a
        # test elsewhere on the shared server may hold one open for a moment).
        types = wait_until(types_in_the_log, 30, "the completed event in `events tail`")
        assert types[0] == "enqueued"
        worker.popen.terminate()
        assert worker.wait_exit(30) == 0
    outputs = [worker.log(), json.dumps(status), result.stdout, result.stderr]
    assert all(PASSWORD not in text for text in outputs)


def schema_exists(project: str) -> bool:
    with psycopg.connect(dsn_with_password(), autocommit=True) as conn:
        found = conn.execute(
            "SELECT 1 FROM pg_namespace WHERE nspname = %s", (f"omniq_{project}",)
        ).fetchone()
    return found is not None


def test_the_store_from_omniq_environment_variables(
    pg_cli: PostgresCli, project: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    variables = {
        "OMNIQ_PROJECT_NAME": project,
        "OMNIQ_TASK_QUEUE_TYPE": "postgres",
        "OMNIQ_TASK_QUEUE_CONFIG_DSN": dsn_with_password(),
    }
    pg_cli.env.update(variables)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    missing = pg_cli.run("status", "--json", store=False)  # nothing created it yet
    assert missing.returncode == 1
    assert "no OmniQ store at PostgresBackend(" in missing.stderr
    assert PASSWORD not in missing.stderr
    assert not schema_exists(project)  # and the read command did not create it
    with OmniQ.from_env():  # the library creates it
        pass
    done = pg_cli.run("status", "--json", store=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["totals"]["enqueued"] == 0


def test_an_unreachable_server_is_one_line_naming_it_without_the_password(
    tmp_path: Path, project: str
) -> None:
    runner = PostgresCli(tmp_path, project)
    runner.config.write_text(yaml.safe_dump({
        "project_name": project,
        "task_queue": {"type": "postgres",
                       "config": {"dsn": dsn_with_password(port=1), "connect_timeout": 2}},
    }))  # fmt: skip
    done = runner.run("status", timeout=30)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1, done.stderr
    assert "omniq: error: StoreUnavailableError: cannot connect to PostgreSQL at" in done.stderr
    assert ":1/" in done.stderr
    assert PASSWORD not in done.stderr
