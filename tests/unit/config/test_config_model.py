"""The typed config model: defaults, frozen, round trips, masking of secrets."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
import yaml

from omniq.config import check_config, load_config_dict
from omniq.models.config import (
    EventStoreConfig,
    LoggingConfig,
    OmniQConfig,
    ResultStoreConfig,
    TaskDefaultsConfig,
    TaskQueueConfig,
    WorkerConfig,
    mask_secrets,
)

FULL = OmniQConfig(
    project_name="full",
    task_queue=TaskQueueConfig(
        type="sqlite",
        config={"queues": ["high", "low"], "db_path": "/tmp/x.db", "synchronous": "NORMAL"},
    ),
    result_store=ResultStoreConfig(type="memory"),
    event_store=EventStoreConfig(type="sqlite", config={"busy_timeout": 2.5}),
    worker=WorkerConfig(type="async", config={"max_workers": 8, "poll_interval": 0.5}),
    task_defaults=TaskDefaultsConfig(ttl=60.0, result_ttl=3600.0, max_retries=5, retry_delay=1.5),
    logging=LoggingConfig(level="INFO"),
    strict_serialization=True,
    secret_key="s3cret-value",
    allowed_modules=["shop.tasks"],
)


def test_defaults() -> None:
    config = OmniQConfig(project_name="p")
    assert config.task_queue == TaskQueueConfig(type="sqlite", config={})
    assert config.result_store is None
    assert config.event_store is None
    assert config.worker == WorkerConfig(type="thread_pool", config={})
    assert config.task_defaults.max_retries == 3
    assert config.task_defaults.ttl is None
    assert config.logging.level is None
    assert config.strict_serialization is False
    assert config.secret_key is None


def test_models_are_frozen() -> None:
    config = OmniQConfig(project_name="p")
    with pytest.raises(AttributeError):
        config.project_name = "q"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        config.task_queue.type = "memory"  # type: ignore[misc]


def test_default_config_mappings_are_not_shared() -> None:
    assert TaskQueueConfig().config is not TaskQueueConfig().config


def test_models_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        TaskQueueConfig("sqlite")  # type: ignore[misc]


@pytest.mark.parametrize("config", [FULL, OmniQConfig(project_name="minimal")])
def test_round_trip_through_dict(config: OmniQConfig) -> None:
    assert load_config_dict(config.to_dict()) == config


@pytest.mark.parametrize("config", [FULL, OmniQConfig(project_name="minimal")])
def test_round_trip_through_yaml(config: OmniQConfig) -> None:
    assert load_config_dict(yaml.safe_load(config.to_yaml())) == config


def test_round_trip_through_msgspec_json() -> None:
    assert msgspec.json.decode(msgspec.json.encode(FULL), type=OmniQConfig) == FULL


def test_dict_round_trip_from_the_other_side() -> None:
    data = {
        "project_name": "p",
        "task_queue": {"type": "memory", "config": {"queues": ["a"]}},
        "worker": {"type": "async", "config": {"max_workers": 2}},
    }
    config = load_config_dict(data)
    assert load_config_dict(config.to_dict()).to_dict() == config.to_dict()
    for key, value in data.items():
        assert config.to_dict()[key] == value


def test_paths_become_strings_in_dicts_and_checked_copies() -> None:
    config = OmniQConfig(
        project_name="p", task_queue=TaskQueueConfig(config={"db_path": Path("/tmp/q.db")})
    )
    assert config.to_dict()["task_queue"]["config"]["db_path"] == "/tmp/q.db"
    assert check_config(config).task_queue.config["db_path"] == "/tmp/q.db"


def test_repr_masks_the_secret_key() -> None:
    text = repr(FULL)
    assert "s3cret-value" not in text
    assert "secret_key='***'" in text
    assert str(FULL) == text
    assert "project_name='full'" in text


def test_repr_masks_secret_options_and_url_passwords() -> None:
    section = TaskQueueConfig(
        type="postgres",
        config={"dsn": "postgresql://omniq:hunter2@db:5432/q", "password": "pw", "api_key": "k"},
    )
    text = repr(section)
    assert "hunter2" not in text
    assert "postgresql://omniq:***@db:5432/q" in text
    assert "'password': '***'" in text
    assert "'api_key': '***'" in text
    assert "hunter2" not in repr(OmniQConfig(project_name="p", task_queue=section))


def test_to_dict_keeps_secrets_unless_masked() -> None:
    assert FULL.to_dict()["secret_key"] == "s3cret-value"
    masked = FULL.to_dict(mask=True)
    assert masked["secret_key"] == "***"
    assert masked["task_queue"] == FULL.to_dict()["task_queue"]
    assert "s3cret-value" not in FULL.to_yaml(mask=True)
    assert "s3cret-value" in FULL.to_yaml()


@pytest.mark.parametrize(
    ("value", "key", "expected"),
    [
        ("redis://:pw@host:6379/0", "url", "redis://:***@host:6379/0"),
        ("nats://user:pw@host", "", "nats://user:***@host"),
        ("https://host/path", "url", "https://host/path"),
        ("plain", "token", "***"),
        (None, "password", None),
        ({"nested": {"secret": "x", "n": 1}}, "", {"nested": {"secret": "***", "n": 1}}),
        (["a://u:p@h"], "", ["a://u:***@h"]),
        (3, "", 3),
    ],
)
def test_mask_secrets(value: object, key: str, expected: object) -> None:
    assert mask_secrets(value, key) == expected


def test_a_password_in_a_key_value_connection_string_is_masked() -> None:
    queue = TaskQueueConfig(
        type="postgres",
        config={"dsn": "host=db user=omniq password='hunter 2' dbname=q"},
    )
    assert "hunter" not in repr(queue)
    assert "password=***" in repr(queue)
