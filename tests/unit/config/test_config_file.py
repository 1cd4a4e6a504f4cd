"""The YAML loader: errors naming the file and line, ${VAR} substitution."""

from __future__ import annotations

from pathlib import Path

import pytest
from _config_helpers import clear_omniq_env

from omniq.config import load_config_file
from omniq.config.yaml_file import read_config_file
from omniq.exceptions import ConfigurationError


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_omniq_env(monkeypatch)


def _write(tmp_path: Path, text: str, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_reads_the_file(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "project_name: p\ntask_queue:\n  type: memory\n  config:\n    queues: [high, low]\n",
    )
    config = load_config_file(path)
    assert config.project_name == "p"
    assert config.task_queue.config == {"queues": ["high", "low"]}
    assert load_config_file(str(path)) == config


def test_missing_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigurationError, match=f"^{missing}: configuration file not found$"):
        load_config_file(missing)


def test_a_directory_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read the configuration file"):
        load_config_file(tmp_path)


def test_malformed_yaml_names_file_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "project_name: p\nworker:\n  type: async\n   config: {}\n")
    with pytest.raises(ConfigurationError) as caught:
        load_config_file(path)
    message = str(caught.value)
    assert message.startswith(f"{path}, line 4, column 10: malformed YAML: ")
    assert "mapping values are not allowed here" in message


def test_unclosed_bracket_names_both_lines(tmp_path: Path) -> None:
    path = _write(tmp_path, "project_name: p\ntask_queue:\n  type: [sqlite\n")
    with pytest.raises(ConfigurationError) as caught:
        load_config_file(path)
    assert str(caught.value) == (
        f"{path}, line 4, column 1: malformed YAML: while parsing a flow sequence "
        "(line 3, column 9): expected ',' or ']', but got '<stream end>'"
    )


def test_document_must_be_a_mapping(tmp_path: Path) -> None:
    path = _write(tmp_path, "- a\n- b\n")
    with pytest.raises(ConfigurationError, match="the document is a list: expected a mapping"):
        load_config_file(path)


def test_empty_file_lacks_the_project_name(tmp_path: Path) -> None:
    path = _write(tmp_path, "# nothing\n")
    with pytest.raises(ConfigurationError, match=f"^{path}: project_name: required key"):
        load_config_file(path)


def test_bad_setting_names_file_and_key(tmp_path: Path) -> None:
    path = _write(tmp_path, "project_name: p\ntask_queue:\n  type: sqlit\n")
    with pytest.raises(ConfigurationError, match=f"^{path}: task_queue.type: 'sqlit' is not"):
        load_config_file(path)


def test_path_must_be_a_path() -> None:
    with pytest.raises(ConfigurationError, match=r"config_path 3 is not a str or pathlib\.Path"):
        read_config_file(3)  # type: ignore[arg-type]


SUBSTITUTED = """
project_name: ${PROJECT}
task_queue:
  type: ${QUEUE_TYPE:-memory}
  config:
    queues: [high, "${EXTRA_QUEUE:-low}"]
worker:
  config:
    max_workers: ${WORKERS}
    poll_interval: ${POLL:-0.25}
task_defaults:
  ttl: ${TTL:-}
"""


def test_env_substitution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROJECT", "from_var")
    monkeypatch.setenv("WORKERS", "6")
    monkeypatch.delenv("QUEUE_TYPE", raising=False)
    monkeypatch.setenv("EXTRA_QUEUE", "bulk")
    config = load_config_file(_write(tmp_path, SUBSTITUTED), env_vars=True)
    assert config.project_name == "from_var"
    assert config.task_queue.type == "memory"
    assert config.task_queue.config["queues"] == ["high", "bulk"]
    assert config.worker.config == {"max_workers": 6, "poll_interval": 0.25}
    assert config.task_defaults.ttl is None


def test_unset_variable_without_default_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROJECT", "p")
    monkeypatch.delenv("WORKERS", raising=False)
    path = _write(tmp_path, SUBSTITUTED)
    with pytest.raises(ConfigurationError) as caught:
        load_config_file(path, env_vars=True)
    assert str(caught.value) == (
        f"{path}: worker.config.max_workers: environment variable 'WORKERS' is not set and "
        "has no default (write ${WORKERS:-default} to give one)"
    )


def test_substituted_text_is_typed_like_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROJECT", "p")
    monkeypatch.setenv("WORKERS", "lots")
    with pytest.raises(ConfigurationError, match=r"'lots' \(from \$\{WORKERS\}\) is not an int"):
        load_config_file(_write(tmp_path, SUBSTITUTED), env_vars=True)


def test_substitution_inside_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATA", str(tmp_path))
    path = _write(tmp_path, "project_name: p\ntask_queue:\n  config:\n    db_path: ${DATA}/q.db\n")
    config = load_config_file(path, env_vars=True)
    assert config.task_queue.config["db_path"] == f"{tmp_path}/q.db"


def test_malformed_reference(tmp_path: Path) -> None:
    path = _write(tmp_path, "project_name: ${PROJECT\n")
    with pytest.raises(ConfigurationError, match=r"project_name: '\$\{PROJECT' has a malformed"):
        load_config_file(path, env_vars=True)


def test_no_substitution_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROJECT", "p")
    path = _write(tmp_path, "project_name: ${PROJECT}\ntask_queue:\n  type: memory\n")
    assert load_config_file(path).project_name == "${PROJECT}"
