"""One precedence rule: defaults < file < environment < explicit arguments."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from _config_helpers import clear_omniq_env

from omniq.config import load_config_file
from omniq.config.layers import apply_overrides, merge_layers
from omniq.exceptions import ConfigurationError
from omniq.models.config import TaskDefaultsConfig, WorkerConfig

FILE = """
project_name: from_file
task_queue:
  type: sqlite
  config:
    queues: [high, low]
    busy_timeout: 2.0
worker:
  type: async
  config:
    max_workers: 2
    poll_interval: 0.5
task_defaults:
  max_retries: 1
"""


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_omniq_env(monkeypatch)


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(FILE)
    return path


def test_file_beats_defaults(config_file: Path) -> None:
    config = load_config_file(config_file)
    assert config.project_name == "from_file"
    assert config.worker.type == "async"
    assert config.task_defaults.max_retries == 1
    assert config.task_defaults.retry_backoff == 1.0  # default: the file does not set it
    assert config.strict_serialization is False


def test_env_beats_file(config_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMNIQ_PROJECT_NAME", "from_env")
    monkeypatch.setenv("OMNIQ_WORKER_CONFIG_MAX_WORKERS", "8")
    monkeypatch.setenv("OMNIQ_TASK_DEFAULTS_MAX_RETRIES", "7")
    config = load_config_file(config_file)
    assert config.project_name == "from_env"
    # Merged key by key: the file's other worker options and queues stay.
    assert config.worker.type == "async"
    assert config.worker.config == {"max_workers": 8, "poll_interval": 0.5}
    assert config.task_queue.config == {"queues": ["high", "low"], "busy_timeout": 2.0}
    assert config.task_defaults.max_retries == 7


def test_explicit_arguments_beat_env(config_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMNIQ_PROJECT_NAME", "from_env")
    monkeypatch.setenv("OMNIQ_WORKER_TYPE", "thread_pool")
    monkeypatch.setenv("OMNIQ_WORKER_CONFIG_MAX_WORKERS", "8")
    config = load_config_file(
        config_file,
        project_name="explicit",
        worker_type="async",
        worker_config={"max_workers": 16},
        queues=["only"],
        task_defaults=TaskDefaultsConfig(max_retries=0),
    )
    assert config.project_name == "explicit"
    assert config.worker.type == "async"
    assert config.worker.config == {"max_workers": 16, "poll_interval": 0.5}
    assert config.task_queue.config["queues"] == ["only"]
    assert config.task_defaults.max_retries == 0


def test_env_layer_can_be_disabled(config_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMNIQ_PROJECT_NAME", "from_env")
    assert load_config_file(config_file, env_prefix=None).project_name == "from_file"


def test_none_means_not_given(config_file: Path) -> None:
    config = load_config_file(config_file, worker_type=None, project_name=None)
    assert config.worker.type == "async"
    assert config.project_name == "from_file"


def test_a_section_object_replaces_the_section(config_file: Path) -> None:
    config = load_config_file(config_file, worker=WorkerConfig(config={"max_workers": 3}))
    assert config.worker == WorkerConfig(type="thread_pool", config={"max_workers": 3})


def test_a_section_mapping_is_merged(config_file: Path) -> None:
    config = load_config_file(config_file, worker={"type": "thread_pool"})
    assert config.worker == WorkerConfig(
        type="thread_pool", config={"max_workers": 2, "poll_interval": 0.5}
    )


def test_changing_a_type_drops_the_old_config(
    config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OMNIQ_TASK_QUEUE_TYPE", "memory")
    config = load_config_file(config_file)
    assert config.task_queue.type == "memory"
    assert config.task_queue.config == {}  # busy_timeout belonged to sqlite


def test_backend_type_sets_every_given_storage_section(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("project_name: p\nresult_store:\n  type: sqlite\n")
    config = load_config_file(path, backend_type="memory")
    assert config.task_queue.type == "memory"
    assert config.result_store is not None
    assert config.result_store.type == "memory"
    assert config.event_store is None  # follows the task queue
    explicit = load_config_file(path, backend_type="memory", result_store={"type": "sqlite"})
    assert explicit.result_store is not None
    assert explicit.result_store.type == "sqlite"


def test_unknown_override_is_an_error(config_file: Path) -> None:
    with pytest.raises(
        ConfigurationError,
        match="from_config_file got an unexpected keyword argument 'max_workers'; allowed: "
        "'allowed_modules', 'backend_type', ",
    ):
        load_config_file(config_file, max_workers=4)


def test_merge_layers_does_not_modify_its_inputs() -> None:
    base: dict[str, Any] = {"worker": {"type": "async", "config": {"max_workers": 2}}}
    over: dict[str, Any] = {"worker": {"config": {"max_workers": 3}}}
    merged = merge_layers(base, over)
    assert merged == {"worker": {"type": "async", "config": {"max_workers": 3}}}
    assert base == {"worker": {"type": "async", "config": {"max_workers": 2}}}
    assert over == {"worker": {"config": {"max_workers": 3}}}


def test_lists_are_replaced_not_concatenated() -> None:
    merged = merge_layers(
        {"task_queue": {"config": {"queues": ["a", "b"]}}},
        {"task_queue": {"config": {"queues": ["c"]}}},
    )
    assert merged["task_queue"]["config"]["queues"] == ["c"]


def test_same_type_keeps_the_config() -> None:
    merged = merge_layers(
        {"task_queue": {"type": "sqlite", "config": {"busy_timeout": 1.0}}},
        {"task_queue": {"type": "sqlite"}},
    )
    assert merged["task_queue"]["config"] == {"busy_timeout": 1.0}


def test_apply_overrides_names_the_caller() -> None:
    with pytest.raises(ConfigurationError, match=r"^mine got an unexpected keyword argument"):
        apply_overrides({}, {"nope": 1}, "mine")
