"""Bad configuration fails at load, naming the key path and what is allowed."""

from __future__ import annotations

from typing import Any

import pytest

from omniq.config import check_config, load_config_dict
from omniq.config.schema import check_choice, quoted
from omniq.exceptions import ConfigurationError, OmniQError
from omniq.models.config import OmniQConfig, TaskQueueConfig, WorkerConfig
from omniq.workers.config import WORKER_TYPES


def _with(**sections: Any) -> dict[str, Any]:
    return {"project_name": "p", **sections}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(
            _with(task_queue={"type": "sqlit"}),
            "task_queue.type: 'sqlit' is not one of 'file', 'memory', 'nats', 'postgres', "
            "'redis', 'sqlite'",
            id="unknown-backend",
        ),
        pytest.param(
            _with(result_store={"type": "sqlit"}),
            "result_store.type: 'sqlit' is not one of 'file', 'memory', 'nats', 'postgres', "
            "'redis', 'sqlite'",
            id="unknown-result-backend",
        ),
        pytest.param(
            _with(worker={"type": "threads"}),
            f"worker.type: 'threads' is not one of {quoted(WORKER_TYPES)}",
            id="unknown-worker",
        ),
        pytest.param(
            _with(projet="x"),
            "projet: unknown key; allowed: 'allowed_modules', 'event_store', 'logging', "
            "'project_name', "
            "'result_store', 'secret_key', 'strict_serialization', 'task_defaults', "
            "'task_queue', 'worker'",
            id="unknown-top-key",
        ),
        pytest.param(
            _with(task_queue={"tpe": "sqlite"}),
            "task_queue.tpe: unknown key; allowed: 'config', 'type'",
            id="unknown-section-key",
        ),
        pytest.param(
            _with(task_defaults={"ttl_seconds": 3}),
            "task_defaults.ttl_seconds: unknown key; allowed: 'max_retries', 'result_ttl', "
            "'retry_backoff', 'retry_delay', 'retry_max_delay', 'ttl'",
            id="unknown-defaults-key",
        ),
        pytest.param(
            _with(task_queue={"type": "sqlite", "config": {"db_pth": "x.db"}}),
            "task_queue.config.db_pth: unknown option of backend 'sqlite'; allowed: "
            "'busy_timeout', 'db_path', 'max_batch', 'queues', 'synchronous'",
            id="unknown-backend-option",
        ),
        pytest.param(
            _with(result_store={"type": "sqlite", "config": {"queues": ["a"]}}),
            "result_store.config.queues: unknown option of backend 'sqlite'; allowed: "
            "'busy_timeout', 'db_path', 'max_batch', 'synchronous'",
            id="queues-only-on-the-task-queue",
        ),
        pytest.param(
            _with(task_queue={"type": "memory", "config": {"db_path": "x.db"}}),
            "task_queue.config.db_path: unknown option of backend 'memory'; allowed: 'queues'",
            id="memory-has-no-options",
        ),
        pytest.param(
            _with(task_queue={"config": {"synchronous": "SOMETIMES"}}),
            "task_queue.config.synchronous: synchronous 'SOMETIMES' is not one of",
            id="bad-backend-option-value",
        ),
        pytest.param(
            _with(event_store={"config": {"busy_timeout": -1}}),
            "event_store.config.busy_timeout: busy_timeout -1 is not a positive number",
            id="bad-backend-option-value-other-role",
        ),
        pytest.param(
            _with(worker={"config": {"max_wrkers": 4}}),
            "worker.config.max_wrkers: unknown option; allowed: 'all_queues', "
            "'grace_period', 'lease_duration', 'max_workers', 'metrics_host', "
            "'metrics_port', 'poll_interval', 'prefetch_multiplier'",
            id="unknown-worker-option",
        ),
        pytest.param(
            _with(worker={"config": {"max_workers": 0}}),
            "worker.config.max_workers: max_workers 0 is not valid: expected an integer >= 1",
            id="bad-worker-option",
        ),
        pytest.param(
            _with(task_queue={"config": {"queues": "high"}}),
            "task_queue.config.queues: 'high' is not a list of names",
            id="queues-not-a-list",
        ),
        pytest.param(
            _with(task_queue={"config": {"queues": ["ok", "not ok"]}}),
            "task_queue.config.queues[1]: queue 'not ok' is not valid",
            id="bad-queue-name",
        ),
        pytest.param(
            _with(task_queue={"config": {"queues": ["a", "b", "a"]}}),
            "task_queue.config.queues: 'a' is listed twice",
            id="duplicate-queue",
        ),
        pytest.param(
            _with(task_queue={"type": 3}),
            "task_queue.type: expected `str`, got `int`",
            id="wrong-type",
        ),
        pytest.param(
            _with(worker={"config": ["max_workers"]}),
            "worker.config: expected `object`, got `array`",
            id="config-not-a-mapping",
        ),
        pytest.param(
            _with(task_defaults={"max_retries": "many"}),
            "task_defaults.max_retries: expected `int`, got `str`",
            id="wrong-defaults-type",
        ),
        pytest.param(
            _with(task_defaults={"ttl": -5}),
            "task_defaults.ttl: ttl -5.0 is not valid: expected a duration > 0",
            id="negative-ttl",
        ),
        pytest.param(
            _with(task_defaults={"max_retries": -1}),
            "task_defaults.max_retries: max_retries -1 is not valid",
            id="negative-retries",
        ),
        pytest.param(
            _with(task_defaults={"retry_backoff": 0.5}),
            "task_defaults.retry_backoff: retry_backoff 0.5 is not valid: expected a number "
            "from 1 to 100",
            id="backoff-below-one",
        ),
        pytest.param(
            _with(task_defaults={"retry_backoff": 1e200}),
            "task_defaults.retry_backoff: retry_backoff 1e+200 is not valid",
            id="backoff-too-large",
        ),
        pytest.param(
            _with(task_defaults={"max_retries": 10**30}),
            f"task_defaults.max_retries: max_retries {10**30} is out of range",
            id="retries-too-many",
        ),
        pytest.param(
            _with(task_defaults={"ttl": 1e20}),
            "task_defaults.ttl: ttl 1e+20 is too long",
            id="ttl-too-long",
        ),
        pytest.param(
            _with(task_queue={"config": {"queues": ["high\n"]}}),
            "task_queue.config.queues[0]: queue 'high\\n' is not valid",
            id="queue-name-with-newline",
        ),
        pytest.param(
            _with(logging={"level": "LOUD"}),
            "logging.level: 'LOUD' is not one of 'CRITICAL', 'DEBUG', 'ERROR', 'INFO', 'WARNING'",
            id="bad-log-level",
        ),
        pytest.param(_with(secret_key=""), "secret_key: must not be empty", id="empty-secret"),
        pytest.param(
            _with(allowed_modules=["shop.tasks"]),
            "allowed_modules: only takes effect with strict_serialization: true",
            id="allowed-modules-without-strict",
        ),
        pytest.param(
            _with(strict_serialization=True, allowed_modules=["shop tasks"]),
            "allowed_modules: 'shop tasks' is not a module name",
            id="bad-allowed-module",
        ),
        pytest.param({}, "project_name: required key is missing", id="missing-project"),
        pytest.param({"project_name": ""}, "project_name: must not be empty", id="empty-project"),
        pytest.param(
            {"project_name": "has space"},
            "project_name: project_name 'has space' is not valid",
            id="project-name-refused-by-sqlite",
        ),
        pytest.param(
            {"project_name": "proj\n"},
            "project_name: project_name 'proj\\n' is not valid",
            id="project-name-with-trailing-newline",
        ),
        pytest.param({1: "x"}, "1: key 1 is not a string", id="non-string-key"),
    ],
)
def test_bad_configuration_names_the_key(data: dict[Any, Any], expected: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_config_dict(data)
    assert str(caught.value).startswith(expected), str(caught.value)


def test_configuration_errors_are_omniq_errors() -> None:
    with pytest.raises(OmniQError):
        load_config_dict({"project_name": "p", "task_queue": {"type": "sqlit"}})


def test_a_configuration_is_a_mapping() -> None:
    with pytest.raises(ConfigurationError, match="the configuration is a list: expected a mapping"):
        load_config_dict(["project_name"])  # type: ignore[arg-type]


def test_memory_accepts_any_project_name() -> None:
    config = load_config_dict({"project_name": "has space", "task_queue": {"type": "memory"}})
    assert config.project_name == "has space"


def test_hand_built_objects_are_checked() -> None:
    bad = OmniQConfig(project_name="p", task_queue=TaskQueueConfig(type=3))  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match=r"^task_queue\.type: expected `str`, got `int`"):
        check_config(bad)
    with pytest.raises(ConfigurationError, match=r"^worker\.type: 'threads' is not one of"):
        check_config(OmniQConfig(project_name="p", worker=WorkerConfig(type="threads")))


def test_check_config_refuses_a_dict() -> None:
    with pytest.raises(ConfigurationError, match="is not an OmniQConfig"):
        check_config({"project_name": "p"})


def test_objects_that_cannot_be_plain_data_are_refused() -> None:
    config = OmniQConfig(project_name="p", task_queue=TaskQueueConfig(config={"x": object()}))
    with pytest.raises(ConfigurationError, match=r"^config: "):
        check_config(config)


def test_a_planned_backend_is_called_planned(monkeypatch: pytest.MonkeyPatch) -> None:
    import omniq.config.schema

    monkeypatch.setattr(omniq.config.schema, "PLANNED_BACKENDS", ("kafka",))
    with pytest.raises(ConfigurationError) as caught:
        load_config_dict(_with(event_store={"type": "kafka"}))
    assert str(caught.value).startswith("event_store.type: 'kafka' is planned, not available yet")


def test_choice_messages() -> None:
    with pytest.raises(ConfigurationError, match=r"^w\.type: 'b' is planned, not available yet"):
        check_choice("b", "w.type", ["a"], ["b"])
    with pytest.raises(ConfigurationError) as caught:
        check_choice("c", "w.type", ["a"], [])
    assert str(caught.value) == "w.type: 'c' is not one of 'a'"
    check_choice("a", "w.type", ["a"], ["b"])
