"""The configuration examples of the spec (5.5 quick start, 5.6 core concepts, 5.7 class
methods), run as written on the test's ``OMNIQ_HOME``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from omniq import OmniQ
from omniq.backends.sqlite import SQLiteBackend
from omniq.models.config import OmniQConfig, TaskQueueConfig

CONFIG_CONTENT = """
project_name: config_example
task_queue:
  type: sqlite
  config:
    queues:
      - high
      - medium
      - low
result_store:
  type: sqlite
event_store:
  type: sqlite
worker:
  type: thread_pool
  config:
    max_workers: 4
"""


@pytest.fixture(autouse=True)
def _in_tmp_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Examples write ``config.yaml`` to the working directory; no stray OMNIQ_* settings."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("OMNIQ_") and name != "OMNIQ_HOME":
            monkeypatch.delenv(name)


def test_quickstart_configuration(omniq_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Create a configuration file
    config_content = CONFIG_CONTENT

    # Write the configuration to a file
    with open("config.yaml", "w") as f:
        f.write(config_content)

    # Load configuration from the file
    with OmniQ.from_config_file("config.yaml") as oq:
        # Start a worker
        oq.start_worker()

        try:
            # Enqueue a task
            task_id = oq.enqueue(func=lambda: "Hello from configured OmniQ!", queue_name="high")

            # Get the result
            result = oq.get_result(task_id)
            print(f"Result: {result}")

        finally:
            # Stop the worker
            oq.stop_worker()

    assert capsys.readouterr().out == "Result: Hello from configured OmniQ!\n"
    assert oq.queues == ["high", "medium", "low", "default"]
    assert oq.worker_type == "thread_pool"
    assert oq.worker_config == {"max_workers": 4}
    assert isinstance(oq.backend, SQLiteBackend)  # three roles, one file, one instance
    assert oq.backend.db_path == omniq_home / "config_example.db"


def _check_my_project(oq: OmniQ) -> None:
    try:
        assert oq.project_name == "my_project"
        assert oq.queues == ["high", "medium", "low", "default"]
        assert isinstance(oq.backend, SQLiteBackend)
        with oq:
            task_id = oq.enqueue(func=pow, func_args={"base": 2, "exp": 3}, queue_name="medium")
            oq.start_worker()
            assert oq.get_result(task_id, timeout=10) == 8
    finally:
        oq.close()


def test_code_configuration() -> None:
    oq = OmniQ(project_name="my_project", backend_type="sqlite", queues=["high", "medium", "low"])
    _check_my_project(oq)


def test_object_configuration() -> None:
    config = OmniQConfig(
        project_name="my_project",
        task_queue=TaskQueueConfig(type="sqlite", config={"queues": ["high", "medium", "low"]}),
    )

    oq = OmniQ.from_config(config)
    _check_my_project(oq)


def test_dictionary_configuration() -> None:
    config = {
        "project_name": "my_project",
        "task_queue": {"type": "sqlite", "config": {"queues": ["high", "medium", "low"]}},
    }

    oq = OmniQ.from_config_dict(config)
    _check_my_project(oq)


def _write_config() -> None:
    Path("config.yaml").write_text(
        "project_name: my_project\n"
        "task_queue:\n"
        "  type: sqlite\n"
        "  config:\n"
        "    queues: [high, medium, low]\n"
        "    db_path: ${QUEUE_DIR:-.}/my_project.db\n"
    )


def test_yaml_configuration() -> None:
    Path("config.yaml").write_text(
        "project_name: my_project\ntask_queue:\n  config:\n    queues: [high, medium, low]\n"
    )

    oq = OmniQ.from_config_file("config.yaml")
    _check_my_project(oq)


def test_yaml_configuration_with_env_vars(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write_config()
    monkeypatch.setenv("QUEUE_DIR", str(tmp_path / "queues"))

    # With environment variable substitution
    oq = OmniQ.from_config_file("config.yaml", env_vars=True)
    assert isinstance(oq.backend, SQLiteBackend)
    assert oq.backend.db_path == tmp_path / "queues" / "my_project.db"
    _check_my_project(oq)


def test_yaml_configuration_with_overrides() -> None:
    Path("config.yaml").write_text(
        "project_name: my_project\n"
        "task_queue:\n  config:\n    queues: [high, medium, low]\n"
        "worker:\n  type: async\n  config:\n    max_workers: 1\n"
    )

    # With overrides
    oq = OmniQ.from_config_file(
        "config.yaml", worker_type="thread_pool", worker_config={"max_workers": 4}
    )
    assert oq.worker_type == "thread_pool"
    assert oq.worker_config == {"max_workers": 4}
    _check_my_project(oq)


def test_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    # Environment variables:
    monkeypatch.setenv("OMNIQ_PROJECT_NAME", "my_project")
    monkeypatch.setenv("OMNIQ_TASK_QUEUE_TYPE", "sqlite")
    monkeypatch.setenv("OMNIQ_TASK_QUEUE_CONFIG_QUEUES", "high,medium,low")

    oq = OmniQ.from_env()
    _check_my_project(oq)


def test_environment_variables_for_every_role(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMNIQ_PROJECT_NAME", "my_project")
    monkeypatch.setenv("OMNIQ_TASK_QUEUE_CONFIG_QUEUES", "high,medium,low")
    monkeypatch.setenv("OMNIQ_RESULT_STORE_TYPE", "memory")
    monkeypatch.setenv("OMNIQ_EVENT_STORE_TYPE", "memory")
    monkeypatch.setenv("OMNIQ_WORKER_TYPE", "async")
    monkeypatch.setenv("OMNIQ_WORKER_CONFIG_MAX_WORKERS", "4")
    oq = OmniQ.from_env()
    try:
        assert oq.worker_type == "async"
        assert oq.worker_config == {"max_workers": 4}
        assert oq.config.result_store is not None
        assert oq.config.result_store.type == "memory"
        with oq:
            oq.start_worker()
            assert (
                oq.get_result(oq.enqueue(func=pow, func_args={"base": 3, "exp": 1}), timeout=10)
                == 3
            )
    finally:
        oq.close()


def test_from_backend() -> None:
    backend = SQLiteBackend(project_name="my_project")
    backend.initialize()

    oq = OmniQ.from_backend(
        backend=backend,
        worker_type="thread_pool",
        worker_config={"max_workers": 4},
        queues=["high", "medium", "low"],
    )
    try:
        assert oq.worker_config == {"max_workers": 4}
        _check_my_project(oq)
        # Not created by OmniQ, so not closed by it.
        assert backend.task_queue is not None
        with OmniQ.from_backend(backend=backend) as again:
            assert again.get_task("missing") is None
    finally:
        backend.close()
