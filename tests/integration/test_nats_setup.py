"""Choosing the NATS backend from configuration, the environment and the ``omniq`` command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from backend_targets import NATS_URL, TARGETS, new_project
from omniq import OmniQ
from omniq.backends.memory import MemoryBackend
from omniq.backends.mixed import MixedBackend
from omniq.backends.nats import NATSBackend
from omniq.backends.sqlite import SQLiteBackend

TARGET = TARGETS["nats"]


def triple(n: int) -> int:
    return 3 * n


@pytest.fixture
def project() -> Iterator[str]:
    TARGET.check_service()
    name = new_project("natssetup")
    try:
        yield name
    finally:
        TARGET.remove(name)


@pytest.fixture(autouse=True)
def _no_stray_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("OMNIQ_") and name != "OMNIQ_HOME":
            monkeypatch.delenv(name)


def round_trip(oq: OmniQ) -> int:
    oq.start_worker(max_workers=1)
    try:
        value: int = oq.get_result(oq.enqueue(triple, func_args={"n": 14}), timeout=30)
    finally:
        oq.stop_worker()
    return value


def test_from_a_config_file(project: str, tmp_path: Path) -> None:
    path = tmp_path / "omniq.yaml"
    path.write_text(
        f"project_name: {project}\n"
        f"task_queue:\n  type: nats\n  config:\n    servers: {NATS_URL}\n"
        "    request_timeout: 3\n"
    )
    with OmniQ.from_config_file(path) as oq:
        assert isinstance(oq.backend, NATSBackend)
        assert oq.backend.options.request_timeout == 3.0
        assert round_trip(oq) == 42


def test_from_the_environment(project: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMNIQ_PROJECT_NAME", project)
    monkeypatch.setenv("OMNIQ_TASK_QUEUE_TYPE", "nats")
    monkeypatch.setenv("OMNIQ_TASK_QUEUE_CONFIG_SERVERS", NATS_URL)
    with OmniQ.from_env() as oq:
        assert isinstance(oq.backend, NATSBackend)
        assert round_trip(oq) == 42


def test_queue_on_nats_results_in_memory(project: str) -> None:
    oq = OmniQ.from_config_dict({
        "project_name": project,
        "task_queue": {"type": "nats", "config": {"servers": NATS_URL}},
        "result_store": {"type": "memory"},
    })  # fmt: skip
    with oq:
        assert isinstance(oq.backend, MixedBackend)
        queue, results, events = oq.backend.roles
        assert isinstance(queue, NATSBackend)
        assert isinstance(results, MemoryBackend)
        assert events is queue
        assert round_trip(oq) == 42


def test_queue_in_sqlite_results_and_events_on_nats(project: str, tmp_path: Path) -> None:
    oq = OmniQ.from_config_dict({
        "project_name": project,
        "task_queue": {"type": "sqlite", "config": {"db_path": str(tmp_path / "q.db")}},
        "result_store": {"type": "nats", "config": {"servers": NATS_URL}},
        "event_store": {"type": "nats", "config": {"servers": NATS_URL}},
    })  # fmt: skip
    with oq:
        queue, results, events = oq.backend.roles  # type: ignore[attr-defined]
        assert isinstance(queue, SQLiteBackend)
        assert isinstance(results, NATSBackend)
        assert events is results
        task_id = oq.enqueue(triple, func_args={"n": 2})
        oq.start_worker(max_workers=1)
        assert oq.get_result(task_id, timeout=30) == 6
        oq.stop_worker()
        assert [e.type.value for e in oq.get_events(task_id)][-1] == "completed"


def test_the_omniq_command(project: str, tmp_path: Path) -> None:
    with OmniQ(project_name=project, backend_type="nats", servers=NATS_URL) as oq:
        oq.enqueue(triple, func_args={"n": 1}, queue_name="mail")
    env = {**os.environ, "OMNIQ_PROJECT_NAME": project, "OMNIQ_TASK_QUEUE_TYPE": "nats",
           "OMNIQ_TASK_QUEUE_CONFIG_SERVERS": NATS_URL, "OMNIQ_HOME": str(tmp_path)}  # fmt: skip
    done = subprocess.run([sys.executable, "-m", "omniq.cli", "status", "--json"], env=env,
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    status = json.loads(done.stdout)
    assert "mail" in json.dumps(status)
    assert done.stderr == ""


async def test_a_backend_opened_again_claims_again(project: str) -> None:
    from omniq.storage.records import TaskRecord

    backend = NATSBackend(project, servers=NATS_URL)
    for round_no in range(3):  # each open runs a new loop thread: nothing may stay bound
        await backend.initialize_async()
        task = TaskRecord(id=f"t{round_no}", func_name="m:f", payload=b"", created_at=1.0,
                          run_at=1.0)  # fmt: skip
        await backend.task_queue.enqueue([task])
        [claimed] = await backend.task_queue.claim(["default"], 10, "w", 2.0, 32.0)
        assert claimed.id == task.id
        await backend.close_async()


def test_nothing_is_left_on_the_server() -> None:
    TARGET.check_service()
    assert TARGET.leftovers is not None
    name = new_project("natsleft")
    with OmniQ(project_name=name, backend_type="nats", servers=NATS_URL) as oq:
        oq.enqueue(triple, func_args={"n": 1})
    assert len(TARGET.leftovers("natsleft_")) >= 3
    TARGET.remove(name)
    assert [s for s in TARGET.leftovers("natsleft_") if name.replace("_", "__") in s] == []
