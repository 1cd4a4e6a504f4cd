"""The Redis backend beyond the shared suites: configuration, layout, durability, the CLI.

The contract and API suites run on the ``redis`` target (``tests/backend_targets.py``);
these tests check what only this backend has. Every test uses its own project (key prefix)
on the shared server and deletes its keys by prefix afterwards.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import yaml
from redis.crc import key_slot

from backend_targets import REDIS_URL, TARGETS, new_project
from child_env import child_environment
from omniq import OmniQ
from omniq.backends import MixedBackend, create_backend
from omniq.backends.redis import RedisBackend
from omniq.backends.redis.durability import judge
from omniq.backends.redis.keys import project_prefix
from omniq.backends.sqlite import SQLiteBackend
from omniq.exceptions import BackendError, ConfigurationError, MissingDependencyError

from . import jobs
from .conftest import JOBS_ROOT

TARGET = TARGETS["redis"]


@pytest.fixture
def project() -> Iterator[str]:
    TARGET.check_service()
    name = new_project("rb")
    try:
        yield name
    finally:
        TARGET.remove(name)


def project_keys(name: str) -> list[str]:
    with redis.Redis.from_url(REDIS_URL) as client:
        return sorted(k.decode() for k in client.scan_iter(match=f"{project_prefix(name)}:*"))


def test_yaml_config_runs_a_task_and_every_key_is_in_one_cluster_slot(
    project: str, tmp_path: Path
) -> None:
    config = tmp_path / "omniq.yaml"
    config.write_text(yaml.safe_dump({
        "project_name": project,
        "task_queue": {"type": "redis", "config": {"url": REDIS_URL}},
    }))  # fmt: skip
    with OmniQ.from_config_file(config) as oq:
        assert isinstance(oq.backend, RedisBackend)
        oq.start_worker(max_workers=2)
        task_id = oq.enqueue(func=pow, func_args={"base": 2, "exp": 10}, result_ttl=60)
        assert oq.get_result(task_id, timeout=10) == 1024
        oq.stop_worker()
    keys = project_keys(project)
    assert f"{project_prefix(project)}:t:{task_id}" in keys
    assert f"{project_prefix(project)}:r:{task_id}" in keys
    assert len({key_slot(key.encode()) for key in keys}) == 1  # one hash tag: Cluster-safe
    TARGET.remove(project)
    assert project_keys(project) == []
    assert TARGET.leftovers is not None
    assert TARGET.leftovers(project) == []


def test_from_env(project: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMNIQ_PROJECT_NAME", project)
    monkeypatch.setenv("OMNIQ_TASK_QUEUE_TYPE", "redis")
    monkeypatch.setenv("OMNIQ_TASK_QUEUE_CONFIG_URL", REDIS_URL)
    monkeypatch.setenv("OMNIQ_TASK_QUEUE_CONFIG_CONNECT_TIMEOUT", "2.5")
    with OmniQ.from_env() as oq:
        assert isinstance(oq.backend, RedisBackend)
        assert oq.backend.connect_timeout == 2.5
        oq.start_worker(max_workers=1)
        assert oq.get_result(oq.enqueue(func=pow, func_args={"base": 3, "exp": 2}), timeout=10) == 9
        oq.stop_worker()


def test_mixed_roles_queue_in_redis_results_in_sqlite(project: str, tmp_path: Path) -> None:
    db = tmp_path / "results.db"
    oq = OmniQ.from_config_dict({
        "project_name": project,
        "task_queue": {"type": "redis", "config": {"url": REDIS_URL}},
        "result_store": {"type": "sqlite", "config": {"db_path": str(db)}},
    })  # fmt: skip
    assert isinstance(oq.backend, MixedBackend)
    queue_backend, result_backend, event_backend = oq.backend.roles
    assert isinstance(queue_backend, RedisBackend)
    assert isinstance(result_backend, SQLiteBackend)
    assert event_backend is queue_backend
    assert not oq.backend.capabilities.fused_results
    with oq:
        oq.start_worker(max_workers=2)
        task_id = oq.enqueue(func=pow, func_args={"base": 3, "exp": 3})
        assert oq.get_result(task_id, timeout=10) == 27
        oq.stop_worker()
    assert f"{project_prefix(project)}:r:{task_id}" not in project_keys(project)


def test_password_is_masked_everywhere(project: str, caplog: pytest.LogCaptureFixture) -> None:
    url = "redis://omniq:s3cret-pw@127.0.0.1:6379/0"
    backend = RedisBackend(project_name=project, url=url)
    assert "s3cret-pw" not in repr(backend)
    assert "omniq:***@" in repr(backend)
    oq = OmniQ.from_config_dict({
        "project_name": project, "task_queue": {"type": "redis", "config": {"url": url}},
    })  # fmt: skip
    assert "s3cret-pw" not in repr(oq.config)
    with caplog.at_level(logging.DEBUG), pytest.raises(BackendError) as failure:
        oq.open()
    message = str(failure.value)
    assert "authentication failed" in message
    assert "s3cret-pw" not in message
    assert "redis://omniq:***@127.0.0.1:6379/0" in message
    assert "s3cret-pw" not in caplog.text


@pytest.mark.parametrize(
    ("url", "expected"),
    [(6379, "url 6379"), ("http://localhost:6379", "'http://localhost:6379'"),
     ("redis://localhost:port/0", "redis://localhost:port/0")],
)  # fmt: skip
def test_bad_urls_name_the_value(url: object, expected: str) -> None:
    with pytest.raises(ConfigurationError) as failure:
        RedisBackend(project_name="bad", url=url)  # type: ignore[arg-type]
    assert expected in str(failure.value)


def test_a_missing_extra_names_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [name for name in sys.modules if name.startswith("omniq.backends.redis")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "redis", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'omniq\[redis\]'"):
        create_backend("redis", project_name="p")


def test_durability_is_read_from_the_server_and_warned_about(
    project: str, caplog: pytest.LogCaptureFixture
) -> None:
    with redis.Redis.from_url(REDIS_URL) as client:
        settings = client.config_get("appendonly")["appendonly"], client.config_get("save")["save"]
    with caplog.at_level(logging.WARNING, logger="omniq.backends.redis"):
        backend = RedisBackend(project_name=project, url=REDIS_URL)
        with backend:
            assert backend.durability is not None
            assert (backend.durability.appendonly, backend.durability.save) == settings
    if settings == ("no", ""):  # this machine's server: nothing on disk
        assert backend.durability.survives_restart is False
        [record] = [r for r in caplog.records if r.name == "omniq.backends.redis"]
        assert "keeps nothing on disk" in record.getMessage()


def test_durability_verdicts() -> None:
    assert judge("yes", "always", "").survives_restart is True
    assert "up to the last second" in judge("yes", "everysec", "3600 1").summary
    assert judge("no", "everysec", "3600 1").survives_restart is False
    assert "last snapshot" in judge("no", "everysec", "3600 1").summary
    assert "nothing on disk" in judge("no", "everysec", "").summary
    assert judge(None, None, None).survives_restart is None


async def test_times_are_stored_as_the_exact_doubles(project: str) -> None:
    """0.1 + 0.2 goes into a sorted-set score and a hash field and comes back as itself."""
    from omniq.storage.records import TaskRecord

    async with RedisBackend(project_name=project, url=REDIS_URL) as backend:
        odd = 1_700_000_000.0 + (0.1 + 0.2)
        task = TaskRecord(id="exact", func_name="m:f", payload=b"", created_at=odd, run_at=odd)
        await backend.task_queue.enqueue([task])
        assert await backend.task_queue.claim(["default"], 1, "w", odd - 1e-6, odd + 9) == []
        [claimed] = await backend.task_queue.claim(["default"], 1, "w", odd, odd + 9)
        assert claimed.run_at == odd
        assert claimed.created_at == odd


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "omniq.cli", *args],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_the_omniq_command_reads_and_works_a_redis_store(project: str, tmp_path: Path) -> None:
    config = tmp_path / "omniq.yaml"
    config.write_text(yaml.safe_dump({
        "project_name": project,
        "task_queue": {"type": "redis", "config": {"url": REDIS_URL}},
    }))  # fmt: skip
    env = child_environment(PYTHONPATH=str(JOBS_ROOT), OMNIQ_HOME=str(tmp_path / "home"))
    with OmniQ.from_config_file(config) as oq:
        task_id = oq.enqueue(jobs.describe, {"x": 21})
        worker = subprocess.Popen(
            [sys.executable, "-m", "omniq.cli", "worker", "-c", str(config), "--lease", "5"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, text=True,
        )  # fmt: skip
        try:
            assert oq.get_result(task_id, timeout=30)["double"] == 42
        finally:
            worker.terminate()
            _, err = worker.communicate(timeout=30)
        assert worker.returncode == 0, err
        assert f"task {task_id} completed" in err
    for command in (["status"], ["tasks", "list"], ["events", "tail"], ["results", "get", task_id],
                    ["tasks", "show", task_id]):  # fmt: skip
        done = run_cli(*command, "-c", str(config), "--json", env=env)
        assert done.returncode == 0, (command, done.stderr)
        assert done.stdout.strip()
        try:
            json.loads(done.stdout)
        except json.JSONDecodeError:  # one JSON document per line
            assert all(json.loads(line) is not None for line in done.stdout.splitlines())
