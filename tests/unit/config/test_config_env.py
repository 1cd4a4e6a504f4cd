"""The environment loader: names, coercion with the model's types, errors naming variables."""

from __future__ import annotations

from typing import Any

import pytest
from _config_helpers import clear_omniq_env

from omniq.config import load_config_env
from omniq.config.decode import config_from_dict
from omniq.config.env import env_layer
from omniq.config.text import EnvText, from_text
from omniq.exceptions import ConfigurationError


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_omniq_env(monkeypatch)


def _load(**variables: str) -> Any:
    return config_from_dict(env_layer("OMNIQ_", variables))


def test_the_spec_example() -> None:
    config = _load(
        OMNIQ_PROJECT_NAME="my_project",
        OMNIQ_TASK_QUEUE_TYPE="sqlite",
        OMNIQ_TASK_QUEUE_CONFIG_QUEUES="high,medium,low",
    )
    assert config.project_name == "my_project"
    assert config.task_queue.type == "sqlite"
    assert config.task_queue.config == {"queues": ["high", "medium", "low"]}


def test_every_section() -> None:
    config = _load(
        OMNIQ_PROJECT_NAME="p",
        OMNIQ_TASK_QUEUE_CONFIG_DB_PATH="/tmp/q.db",
        OMNIQ_TASK_QUEUE_CONFIG_BUSY_TIMEOUT="2.5",
        OMNIQ_TASK_QUEUE_CONFIG_MAX_BATCH="64",
        OMNIQ_RESULT_STORE_TYPE="memory",
        OMNIQ_EVENT_STORE_TYPE="sqlite",
        OMNIQ_EVENT_STORE_CONFIG_SYNCHRONOUS="NORMAL",
        OMNIQ_WORKER_TYPE="async",
        OMNIQ_WORKER_CONFIG_MAX_WORKERS="4",
        OMNIQ_WORKER_CONFIG_POLL_INTERVAL="0.5",
        OMNIQ_TASK_DEFAULTS_TTL="60",
        OMNIQ_TASK_DEFAULTS_MAX_RETRIES="5",
        OMNIQ_TASK_DEFAULTS_RETRY_MAX_DELAY="",
        OMNIQ_LOGGING_LEVEL="DEBUG",
        OMNIQ_STRICT_SERIALIZATION="true",
        OMNIQ_SECRET_KEY="k",
        OMNIQ_ALLOWED_MODULES="shop.tasks, shop.reports",
    )
    assert config.task_queue.config == {
        "db_path": "/tmp/q.db",
        "busy_timeout": 2.5,
        "max_batch": 64,
    }
    assert type(config.task_queue.config["db_path"]) is str
    assert config.result_store is not None
    assert config.result_store.type == "memory"
    assert config.event_store is not None
    assert config.event_store.config == {"synchronous": "NORMAL"}
    assert config.worker.type == "async"
    assert config.worker.config == {"max_workers": 4, "poll_interval": 0.5}
    assert type(config.worker.config["max_workers"]) is int
    assert config.task_defaults.ttl == 60.0
    assert config.task_defaults.max_retries == 5
    assert config.task_defaults.retry_max_delay is None
    assert config.logging.level == "DEBUG"
    assert config.strict_serialization is True
    assert config.secret_key == "k"
    assert config.allowed_modules == ["shop.tasks", "shop.reports"]


def test_other_omniq_variables_are_ignored() -> None:
    layer = env_layer("OMNIQ_", {"OMNIQ_HOME": "/x", "OMNIQ_REQUIRE_SERVICES": "1", "PATH": "/"})
    assert layer == {}


def test_custom_prefix() -> None:
    layer = env_layer("APP_", {"APP_PROJECT_NAME": "p", "OMNIQ_PROJECT_NAME": "other"})
    assert layer == {"project_name": "p"}


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        (
            {"OMNIQ_WORKER_TPYE": "async"},
            "OMNIQ_WORKER_TPYE: names no setting of worker; expected OMNIQ_WORKER_TYPE, "
            "OMNIQ_WORKER_CONFIG_<OPTION>",
        ),
        (
            {"OMNIQ_TASK_QUEUE_CONFIG_": "x"},
            "OMNIQ_TASK_QUEUE_CONFIG_: names no setting of task_queue",
        ),
        (
            {"OMNIQ_TASK_DEFAULTS_TIMEOUT": "3"},
            "OMNIQ_TASK_DEFAULTS_TIMEOUT: names no setting of task_defaults; expected "
            "OMNIQ_TASK_DEFAULTS_TTL, OMNIQ_TASK_DEFAULTS_RESULT_TTL",
        ),
        (
            {"OMNIQ_LOGGING_FORMAT": "x"},
            "OMNIQ_LOGGING_FORMAT: names no setting of logging; expected OMNIQ_LOGGING_LEVEL",
        ),
    ],
)
def test_unknown_variables_in_a_section_are_errors(
    variables: dict[str, str], expected: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        env_layer("OMNIQ_", variables)
    assert str(caught.value).startswith(expected), str(caught.value)


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        (
            {"OMNIQ_WORKER_CONFIG_MAX_WORKERS": "four"},
            "worker.config.max_workers: 'four' (from $OMNIQ_WORKER_CONFIG_MAX_WORKERS) is not "
            "an integer",
        ),
        (
            {"OMNIQ_TASK_QUEUE_CONFIG_BUSY_TIMEOUT": "soon"},
            "task_queue.config.busy_timeout: 'soon' (from $OMNIQ_TASK_QUEUE_CONFIG_BUSY_TIMEOUT) "
            "is not a number",
        ),
        (
            {"OMNIQ_STRICT_SERIALIZATION": "maybe"},
            "strict_serialization: 'maybe' (from $OMNIQ_STRICT_SERIALIZATION) is not a boolean",
        ),
        (
            {"OMNIQ_TASK_QUEUE_CONFIG_DB_PTH": "x"},
            "task_queue.config.db_pth: unknown option of backend 'sqlite'",
        ),
        ({"OMNIQ_TASK_QUEUE_TYPE": "sqlit"}, "task_queue.type: 'sqlit' is not one of"),
    ],
)
def test_bad_values_name_the_variable_or_key(variables: dict[str, str], expected: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        _load(OMNIQ_PROJECT_NAME="p", **variables)
    assert str(caught.value).startswith(expected), str(caught.value)


def test_load_config_env_reads_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMNIQ_PROJECT_NAME", "from_env")
    monkeypatch.setenv("OMNIQ_TASK_QUEUE_TYPE", "memory")
    config = load_config_env()
    assert config.project_name == "from_env"
    assert config.task_queue.type == "memory"


def test_load_config_env_needs_a_project_name() -> None:
    with pytest.raises(ConfigurationError, match=r"project_name: required: set MY_PROJECT_NAME"):
        load_config_env("MY_")


@pytest.mark.parametrize(
    ("text", "annotation", "expected"),
    [
        ("4", int, 4),
        (" 4 ", int, 4),
        ("2.5", float, 2.5),
        ("3", float, 3.0),
        ("3", int | float, 3),
        ("3.5", int | float, 3.5),
        ("true", bool, True),
        ("Yes", bool, True),
        ("off", bool, False),
        ("0", bool, False),
        ("a, b,,c", list[str], ["a", "b", "c"]),
        ("", list[str], []),
        ("", float | None, None),
        ("null", int | None, None),
        ("x", str | None, "x"),
        ("FULL", Any, "FULL"),
    ],
)
def test_from_text(text: str, annotation: Any, expected: Any) -> None:
    value = from_text(EnvText(text, "$X"), annotation, "key")
    assert value == expected
    assert type(value) is type(expected)
