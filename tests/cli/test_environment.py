"""The ``omniq`` processes the CLI tests start do not inherit the caller's OmniQ settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from omniq import OmniQ

from . import jobs
from .conftest import PROJECT, Cli


def test_omniq_variables_of_the_caller_are_not_passed_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OMNIQ_SECRET_KEY", "a key the test's store was not written with")
    monkeypatch.setenv("OMNIQ_PROJECT_NAME", "someone-elses")
    monkeypatch.setenv("OMNIQ_HOME", str(tmp_path / "omniq-home"))
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")  # other variables are kept
    cli = Cli(tmp_path)
    assert not {"OMNIQ_SECRET_KEY", "OMNIQ_PROJECT_NAME"} & set(cli.env)
    assert cli.env["OMNIQ_HOME"] == str(tmp_path / "omniq-home")
    assert cli.env["PYTHONDONTWRITEBYTECODE"] == "1"
    with OmniQ(project_name=PROJECT, db_path=cli.db) as oq:
        task_id = oq.enqueue(jobs.add, {"x": 1, "y": 2})
    listed = cli.json("tasks list")  # a secret key would refuse these unsigned tasks
    assert [task["id"] for task in listed] == [task_id]
