"""The ``omniq`` command's helpers: option precedence, ages, durations."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from omniq.cli.connect import StoreOptions, load_config
from omniq.cli.maintenance import parse_age
from omniq.cli.output import age
from omniq.exceptions import ConfigurationError


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("0", 0.0), ("90", 90.0), ("90s", 90.0), ("15m", 900.0), ("1.5h", 5400.0),
     ("7d", 604800.0), ("2w", 1209600.0)],
)  # fmt: skip
def test_parse_age(text: str, seconds: float) -> None:
    assert parse_age(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "-1d", "5y", "1 d 2"])
def test_parse_age_rejects(text: str) -> None:
    with pytest.raises(click.BadParameter):
        parse_age(text)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "-"), (3.25, "3.2s"), (250, "4m10s"), (7500, "2h05m"), (273600, "3d4h")],
)
def test_age(seconds: float | None, text: str) -> None:
    assert age(seconds) == text


def test_flags_win_over_environment_over_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "omniq.yaml"
    config.write_text("project_name: from_file\nworker:\n  config:\n    max_workers: 2\n")
    store = StoreOptions(config=config)
    assert load_config(store).project_name == "from_file"
    monkeypatch.setenv("OMNIQ_PROJECT_NAME", "from_env")
    assert load_config(store).project_name == "from_env"
    flagged = load_config(
        StoreOptions(config=config, project="from_flag", db_path=tmp_path / "q.db"),
        worker_config={"grace_period": 5.0},
    )
    assert flagged.project_name == "from_flag"
    assert flagged.task_queue.config["db_path"] == str(tmp_path / "q.db")
    assert flagged.worker.config == {"max_workers": 2, "grace_period": 5.0}


def test_project_defaults_to_the_database_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OMNIQ_PROJECT_NAME", raising=False)
    assert load_config(StoreOptions(db_path=tmp_path / "orders.db")).project_name == "orders"
    with pytest.raises(ConfigurationError, match="no project"):
        load_config(StoreOptions())


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("project_name: p\nbogus: 1\n")
    with pytest.raises(ConfigurationError, match=r"bad\.yaml: .*bogus"):
        load_config(StoreOptions(config=config))
