"""The file backend chosen by configuration: YAML, environment, mixed roles, masked secrets."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from backend_targets import new_project
from omniq import OmniQ
from omniq.backends.file import FileBackend
from omniq.backends.memory import MemoryBackend
from omniq.backends.mixed import MixedBackend
from omniq.exceptions import MissingDependencyError


@pytest.fixture(autouse=True)
def _no_stray_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("OMNIQ_") and name != "OMNIQ_HOME":
            monkeypatch.delenv(name)


@pytest.fixture
def memory_project() -> Iterator[str]:
    import fsspec

    project = new_project("cfg")
    yield project
    fs = fsspec.filesystem("memory")
    if fs.exists(f"/omniq-cfg/{project}"):
        fs.rm(f"/omniq-cfg/{project}", recursive=True)


def task_files(root: Path) -> list[Path]:
    return sorted(root.glob("tasks/*.json"))


def test_yaml_config_runs_tasks_in_a_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("omniq.yaml").write_text(
        f"project_name: shop\ntask_queue:\n  type: file\n  config: {{path: {tmp_path / 'store'}}}\n"
    )
    with OmniQ.from_config_file("omniq.yaml") as oq:
        assert isinstance(oq.backend, FileBackend)
        oq.start_worker(max_workers=2)
        task_id = oq.enqueue(func=pow, func_args={"base": 2, "exp": 5})
        assert oq.get_result(task_id, timeout=10) == 32
        oq.stop_worker()
    [found] = task_files(tmp_path / "store" / "shop")
    document = json.loads(found.read_text())  # what `cat` shows is one JSON document
    assert document["task"]["id"] == task_id
    assert [e["type"] for e in document["events"]] == [
        "enqueued", "dequeued", "executing", "completed",
    ]  # fmt: skip


def test_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMNIQ_PROJECT_NAME", "envshop")
    monkeypatch.setenv("OMNIQ_TASK_QUEUE_TYPE", "file")
    monkeypatch.setenv("OMNIQ_TASK_QUEUE_CONFIG_PATH", str(tmp_path / "env-store"))
    with OmniQ.from_env() as oq:
        assert isinstance(oq.backend, FileBackend)
        assert oq.backend.root == tmp_path / "env-store" / "envshop"
        oq.start_worker(max_workers=1)
        assert (
            oq.get_result(oq.enqueue(func=pow, func_args={"base": -3, "exp": 2}), timeout=10) == 9
        )
        oq.stop_worker()


def test_queue_in_files_results_in_memory(tmp_path: Path) -> None:
    oq = OmniQ.from_config_dict(
        {
            "project_name": "mixed",
            "task_queue": {"type": "file", "config": {"path": str(tmp_path)}},
            "result_store": {"type": "memory"},
        }
    )
    assert isinstance(oq.backend, MixedBackend)
    queue_backend, result_backend, event_backend = oq.backend.roles
    assert isinstance(queue_backend, FileBackend)
    assert isinstance(result_backend, MemoryBackend)
    assert event_backend is queue_backend
    with oq:
        oq.start_worker(max_workers=2)
        task_id = oq.enqueue(func=pow, func_args={"base": 3, "exp": 3})
        assert oq.get_result(task_id, timeout=10) == 27
        oq.stop_worker()
    assert len(task_files(tmp_path / "mixed")) == 1
    assert not list((tmp_path / "mixed").glob("results/*.json"))  # it went to memory


def test_queue_in_memory_results_and_events_in_files(tmp_path: Path) -> None:
    files = {"type": "file", "config": {"path": str(tmp_path)}}
    oq = OmniQ.from_config_dict(
        {"project_name": "split", "task_queue": {"type": "memory"},
         "result_store": files, "event_store": files}
    )  # fmt: skip
    with oq:
        oq.start_worker(max_workers=2)
        task_id = oq.enqueue(func=pow, func_args={"base": 2, "exp": 3})
        assert oq.get_result(task_id, timeout=10) == 8
        oq.stop_worker()
        assert [e.type.value for e in oq.get_events(task_id)][:1] == ["enqueued"]
    assert len(list((tmp_path / "split").glob("results/*.json"))) == 1
    assert not task_files(tmp_path / "split")  # the tasks were in memory
    assert list((tmp_path / "split").glob("events/*.json"))  # events appended on their own


def test_memory_url_is_shared_within_the_process(memory_project: str) -> None:
    path = "memory://omniq-cfg"
    with OmniQ(project_name=memory_project, backend_type="file", path=path) as producer:
        task_id = producer.enqueue(func=pow, func_args={"base": -7, "exp": 1})
        with OmniQ(project_name=memory_project, backend_type="file", path=path) as worker:
            worker.start_worker(max_workers=1)
            assert worker.get_result(task_id, timeout=10) == -7
            worker.stop_worker()
        assert producer.get_result(task_id, timeout=10) == -7


def test_secrets_are_masked(memory_project: str) -> None:
    options = {"secret": "s3cr3t-value", "token": "t0ken-value"}
    oq = OmniQ(project_name=memory_project, backend_type="file",
               path="memory://user:hunter2@omniq-cfg", storage_options=options)  # fmt: skip
    for text in (repr(oq.config), repr(oq.backend)):
        assert "s3cr3t-value" not in text
        assert "t0ken-value" not in text
        assert "hunter2" not in text


def test_a_url_without_fsspec_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "fsspec", None)
    monkeypatch.setitem(sys.modules, "fsspec.core", None)
    backend = FileBackend(project_name="noextra", path="memory://omniq-cfg")
    with pytest.raises(MissingDependencyError, match=r"pip install 'omniq\[file\]'"):
        backend.initialize()
    local = FileBackend(project_name="noextra", path=tmp_path)  # a directory needs nothing
    local.initialize()
    local.close()
