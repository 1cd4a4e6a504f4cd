"""Backends built from configuration: mixed roles, shared instances, closing, ``oq.config``."""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from omniq import OmniQ
from omniq.backends.memory import MemoryBackend
from omniq.backends.memory.result_store import MemoryResultStorage
from omniq.backends.mixed import MixedBackend
from omniq.backends.sqlite import SQLiteBackend
from omniq.exceptions import BackendError, ConfigurationError
from omniq.models.config import OmniQConfig, TaskQueueConfig


@pytest.fixture(autouse=True)
def _no_stray_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("OMNIQ_") and name != "OMNIQ_HOME":
            monkeypatch.delenv(name)


def _rows(db_path: Path, table: str) -> int:
    with sqlite3.connect(db_path) as conn:
        count: int = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    return count


def test_queue_in_sqlite_results_in_memory(tmp_path: Path) -> None:
    db_path = tmp_path / "q.db"
    oq = OmniQ.from_config_dict(
        {
            "project_name": "mixed",
            "task_queue": {"type": "sqlite", "config": {"db_path": str(db_path)}},
            "result_store": {"type": "memory"},
        }
    )
    assert isinstance(oq.backend, MixedBackend)
    queue_backend, result_backend, event_backend = oq.backend.roles
    assert isinstance(queue_backend, SQLiteBackend)
    assert isinstance(result_backend, MemoryBackend)
    assert event_backend is queue_backend  # no event_store section: the task queue's backend
    with oq:
        oq.start_worker(max_workers=2)
        task_id = oq.enqueue(func=pow, func_args={"base": 3, "exp": 4})
        assert oq.get_result(task_id, timeout=10) == 81
        assert isinstance(oq.result_store, MemoryResultStorage)
        oq.stop_worker()
    assert _rows(db_path, "tasks") == 1
    assert _rows(db_path, "events") >= 2
    assert _rows(db_path, "results") == 0  # the result went to memory
    # OmniQ closed what it built.
    assert queue_backend._writer is None
    with pytest.raises(BackendError, match="closed"):
        asyncio.run(result_backend.result_store.get("any", 0.0))


def test_queue_in_memory_results_and_events_in_sqlite(tmp_path: Path) -> None:
    db_path = tmp_path / "r.db"
    sqlite_section = {"type": "sqlite", "config": {"db_path": str(db_path)}}
    oq = OmniQ.from_config_dict(
        {
            "project_name": "mixed2",
            "task_queue": {"type": "memory", "config": {"queues": ["high"]}},
            "result_store": sqlite_section,
            "event_store": sqlite_section,
        }
    )
    assert isinstance(oq.backend, MixedBackend)
    assert oq.backend.roles[1] is oq.backend.roles[2]  # same type and options: one instance
    assert len(oq.backend.backends) == 2
    with oq:
        oq.start_worker()
        assert oq.get_result(oq.enqueue(func=pow, func_args={"base": 7, "exp": 1}), timeout=10) == 7
        oq.stop_worker()
    assert _rows(db_path, "results") == 1
    assert _rows(db_path, "tasks") == 0


def test_same_config_roles_share_one_backend(omniq_home: Path) -> None:
    oq = OmniQ.from_config_dict(
        {
            "project_name": "shared",
            "task_queue": {"type": "sqlite", "config": {"queues": ["a"], "busy_timeout": 2}},
            "result_store": {"type": "sqlite", "config": {"busy_timeout": 2}},
            "event_store": {"type": "sqlite", "config": {"busy_timeout": 2}},
        }
    )
    assert isinstance(oq.backend, SQLiteBackend)
    with oq:
        assert oq.task_queue is oq.backend.task_queue
        assert oq.result_store is oq.backend.result_store
        assert oq.event_store is oq.backend.event_store
    assert oq.backend._writer is None  # closed by OmniQ


def test_different_options_on_one_type_make_two_backends(tmp_path: Path) -> None:
    oq = OmniQ.from_config_dict(
        {
            "project_name": "two_files",
            "task_queue": {"type": "sqlite", "config": {"db_path": str(tmp_path / "a.db")}},
            "event_store": {"type": "sqlite", "config": {"db_path": str(tmp_path / "b.db")}},
        }
    )
    assert isinstance(oq.backend, MixedBackend)
    assert len(oq.backend.backends) == 2
    with oq:
        oq.start_worker()
        oq.get_result(oq.enqueue(func=pow, func_args={"base": 1, "exp": 1}), timeout=10)
        oq.stop_worker()
    assert _rows(tmp_path / "b.db", "events") >= 2
    assert _rows(tmp_path / "a.db", "events") == 0


def test_two_instances_of_one_config_share_the_file(tmp_path: Path) -> None:
    config = {
        "project_name": "pair",
        "task_queue": {"type": "sqlite", "config": {"db_path": str(tmp_path / "q.db")}},
    }
    with OmniQ.from_config_dict(config) as producer, OmniQ.from_config_dict(config) as consumer:
        consumer.start_worker()
        task_id = producer.enqueue(func=pow, func_args={"base": 2, "exp": 1})
        assert producer.get_result(task_id, timeout=10) == 2
        consumer.stop_worker()


def test_from_backend_with_separate_result_backend() -> None:
    queue = MemoryBackend(project_name="fb")
    results = MemoryBackend(project_name="fb")
    with OmniQ.from_backend(queue, result_store_backend=results) as oq:
        assert isinstance(oq.backend, MixedBackend)
        assert oq.result_store is results.result_store
        assert oq.task_queue is queue.task_queue
    # Ready backends belong to the caller: still open.
    assert asyncio.run(queue.task_queue.get("any")) is None
    assert asyncio.run(results.result_store.get("any", 0.0)) is None


def test_from_backend_needs_a_project_name() -> None:
    class Nameless:
        pass

    with pytest.raises(ConfigurationError, match="has no project_name"):
        OmniQ.from_backend(Nameless())  # type: ignore[arg-type]


def test_config_of_a_direct_instance(tmp_path: Path) -> None:
    oq = OmniQ(
        project_name="direct",
        backend_type="sqlite",
        queues=["high", "low"],
        worker_type="async",
        worker_config={"max_workers": 3},
        db_path=tmp_path / "d.db",
        secret_key="top-secret",
    )
    config = oq.config
    assert isinstance(config, OmniQConfig)
    assert config.project_name == "direct"
    assert config.task_queue.type == "sqlite"
    assert config.task_queue.config["queues"] == ["high", "low"]
    assert config.task_queue.config["db_path"] == str(tmp_path / "d.db")
    assert config.task_queue.config["synchronous"] == "FULL"
    assert config.result_store is not None
    assert config.result_store.type == "sqlite"
    assert config.worker.type == "async"
    assert config.worker.config == {"max_workers": 3}
    assert config.secret_key == "top-secret"
    assert "top-secret" not in repr(config)
    assert "top-secret" not in str(config)
    assert "top-secret" not in config.to_yaml(mask=True)
    # The effective configuration builds the same setup again.
    again = OmniQ.from_config(config)
    assert isinstance(again.backend, SQLiteBackend)
    assert again.backend.db_path == tmp_path / "d.db"
    assert again.config.task_queue == config.task_queue
    assert again.queues == oq.queues


def test_config_of_a_configured_instance_masks_secrets() -> None:
    oq = OmniQ.from_config_dict(
        {
            "project_name": "masked",
            "task_queue": {"type": "memory"},
            "secret_key": "very-secret",
            "task_defaults": {"ttl": 30},
        }
    )
    assert oq.config.secret_key == "very-secret"
    assert oq.config.task_defaults.ttl == 30
    assert "very-secret" not in repr(oq.config)
    assert "secret_key='***'" in repr(oq.config)
    assert oq.serializer.signed


def test_config_of_ready_role_instances() -> None:
    backend = MemoryBackend(project_name="roles")
    oq = OmniQ(
        project_name="roles",
        task_queue=backend.task_queue,
        result_store=backend.result_store,
        event_store=backend.event_store,
    )
    assert oq.config.task_queue.type == "<MemoryTaskQueue instance>"
    assert oq.config.result_store is not None
    assert oq.config.result_store.type == "<MemoryResultStorage instance>"


def test_task_defaults_apply_when_not_given() -> None:
    with OmniQ.from_config_dict(
        {
            "project_name": "defaults",
            "task_queue": {"type": "memory"},
            "task_defaults": {"ttl": 60, "max_retries": 5, "retry_delay": 2, "retry_backoff": 2},
        }
    ) as oq:
        task = oq.get_task(oq.enqueue(func=pow, func_args={"base": 1, "exp": 1}))
        assert task is not None
        assert task.max_retries == 5
        assert task.expires_at is not None
        assert (task.expires_at - task.run_at).total_seconds() == pytest.approx(60)
        record = oq.backend.task_queue._tasks[task.id]  # type: ignore[union-attr]
        assert record.retry_delay == 2.0
        assert record.retry_backoff == 2.0
        explicit = oq.get_task(
            oq.enqueue(
                func=pow, func_args={"base": 1, "exp": 1}, max_retries=0, ttl=5, retry_backoff=1
            )
        )
        assert explicit is not None
        assert explicit.max_retries == 0
        assert explicit.expires_at is not None
        assert (explicit.expires_at - explicit.run_at).total_seconds() == pytest.approx(5)
        three = oq.get_task(oq.enqueue(func=pow, func_args={"base": 1, "exp": 1}, max_retries=3))
        assert three is not None
        assert three.max_retries == 3  # an explicit 3 is not the spec's default 3
        [many] = oq.enqueue_many(pow, [{"base": 1, "exp": 1}])
        many_task = oq.get_task(many)
        assert many_task is not None
        assert many_task.max_retries == 5


def test_enqueue_signature_keeps_the_spec_default() -> None:
    parameter = inspect.signature(OmniQ.enqueue).parameters["max_retries"]
    assert parameter.default == 3
    assert repr(parameter.default) == "3"


def test_without_configuration_the_defaults_are_unchanged() -> None:
    with OmniQ(project_name="plain", backend_type="memory") as oq:
        task = oq.get_task(oq.enqueue(func=pow, func_args={"base": 1, "exp": 1}))
        assert task is not None
        assert task.max_retries == 3
        assert task.expires_at is None


@pytest.fixture
def _restore_omniq_logger() -> Iterator[None]:
    logger = logging.getLogger("omniq")
    level = logger.level
    yield
    logger.setLevel(level)


@pytest.mark.usefixtures("_restore_omniq_logger")
def test_logging_level_is_applied() -> None:
    OmniQ.from_config_dict(
        {"project_name": "logs", "task_queue": {"type": "memory"}, "logging": {"level": "debug"}}
    )
    assert logging.getLogger("omniq").level == logging.DEBUG


def test_bad_configuration_fails_before_anything_is_built(omniq_home: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"^task_queue\.type: 'sqlit' is not one of"):
        OmniQ.from_config(OmniQConfig(project_name="bad", task_queue=TaskQueueConfig(type="sqlit")))
    with pytest.raises(ConfigurationError, match=r"^worker\.config\.max_workers: "):
        OmniQ.from_config_dict({"project_name": "bad", "worker": {"config": {"max_workers": 0}}})
    assert not omniq_home.exists()
