"""``omniq dashboard``: refusals before anything is opened, and serving a real store."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from omniq import OmniQ

from . import jobs
from .conftest import Cli, wait_until

TOKEN = "cli-dashboard-token-0123456789"


def test_help_names_the_options(cli: Cli) -> None:
    done = cli.run("dashboard", "--help", store=False)
    assert done.returncode == 0
    for option in ("--host", "--port", "--token", "--read-only", "--db-path", "--config"):
        assert option in done.stdout
    assert "127.0.0.1:8080" in done.stdout
    assert "OMNIQ_DASHBOARD_TOKEN" in done.stdout


def test_a_public_address_without_a_token_is_refused(cli: Cli) -> None:
    done = cli.run("dashboard", "--host", "0.0.0.0")
    assert done.returncode == 1
    assert done.stderr.startswith("omniq: error: UnsafeBindError: refusing to serve the "
                                  "dashboard on '0.0.0.0' without a token")  # fmt: skip
    assert "--token" in done.stderr
    assert not cli.db.exists()


def test_a_short_token_and_a_missing_or_memory_store_are_refused(cli: Cli) -> None:
    short = cli.run("dashboard", "--token", "abc")
    assert short.returncode == 1
    assert "at least 16" in short.stderr
    missing = cli.run("dashboard")
    assert missing.returncode == 1
    assert "no OmniQ store" in missing.stderr
    assert not cli.db.exists()
    memory = cli.run("dashboard", "--backend", "memory", "--project", "x", store=False)
    assert memory.returncode == 1
    assert "lives only in the process" in memory.stderr
    bad_port = cli.run("dashboard", "--port", "99999")
    assert bad_port.returncode == 2
    assert "99999" in bad_port.stderr


def test_it_serves_the_store_behind_the_token_from_the_environment(cli: Cli, oq: OmniQ) -> None:
    task_id = oq.enqueue(jobs.add, {"x": 1, "y": 2}, queue_name="served")
    log = cli.logs / "dashboard.err"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "omniq.cli", "dashboard", "--port", "0", "--log-level",
             "info", *cli.store],
            stdout=out, stderr=subprocess.STDOUT,
            env={**cli.env, "OMNIQ_DASHBOARD_TOKEN": TOKEN},
        )  # fmt: skip
        try:
            found = wait_until(
                lambda: re.search(r"running on (http://127\.0\.0\.1:\d+)", log.read_text()),
                30, "the dashboard to listen",
            )  # fmt: skip
            base = found.group(1)
            assert "actions on" in log.read_text()
            request = urllib.request.Request(
                f"{base}/tasks/{task_id}", headers={"Authorization": f"Bearer {TOKEN}"}
            )
            with urllib.request.urlopen(request, timeout=10) as response:
                page = response.read().decode()
            assert task_id in page
            assert "served" in page
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(f"{base}/api/activity", timeout=10)
            refused.value.close()
            assert refused.value.code == 401
        finally:
            server.send_signal(signal.SIGINT)
            assert server.wait(15) == 0, log.read_text()
