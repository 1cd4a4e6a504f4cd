"""secret_key signing and strict serialization."""

from __future__ import annotations

import logging
import os
import re
import sqlite3
import subprocess
from pathlib import Path

import msgspec
import pytest

from omniq import OmniQ, SerializationError, TaskFailedError, TaskStatus
from omniq.exceptions import FunctionNotAllowedError, SignatureError

from . import tasks
from .conftest import MakeOmniQ


def test_tasks_run_normally_with_a_secret_key(make_oq: MakeOmniQ) -> None:
    oq = make_oq(secret_key="k").open()
    oq.start_worker(max_workers=1)
    task_id = oq.enqueue(func=tasks.add_numbers, func_args={"x": 5, "y": 10})
    assert oq.get_result(task_id, timeout=5) == 15
    task = oq.get_task(task_id)
    assert task is not None
    assert task.args == {"x": 5, "y": 10}
    by_value = oq.enqueue(func=lambda: "signed lambda")
    assert oq.get_result(by_value, timeout=5) == "signed lambda"


def test_bytes_secret_key(make_oq: MakeOmniQ) -> None:
    oq = make_oq(secret_key=b"\x00\x01key").open()
    oq.start_worker(max_workers=1)
    task_id = oq.enqueue(func=tasks.add_numbers, func_args={"x": 1, "y": 1})
    assert oq.get_result(task_id, timeout=5) == 2


def test_another_key_cannot_read_the_task(make_oq: MakeOmniQ, same_store) -> None:
    owner = make_oq(secret_key="k").open()
    task_id = owner.enqueue(func=tasks.add_numbers, func_args={"x": 5, "y": 10})
    intruder = same_store(owner, secret_key="other")
    with pytest.raises(SignatureError):
        intruder.get_task(task_id)
    unsigned = same_store(owner)
    with pytest.raises(SerializationError):
        unsigned.get_task(task_id)
    # the owner still reads it
    task = owner.get_task(task_id)
    assert task is not None
    assert task.args == {"x": 5, "y": 10}


def test_another_key_cannot_read_the_result(make_oq: MakeOmniQ, same_store) -> None:
    owner = make_oq(secret_key="k").open()
    owner.start_worker(max_workers=1)
    task_id = owner.enqueue(func=tasks.add_numbers, func_args={"x": 5, "y": 10})
    assert owner.get_result(task_id, timeout=5) == 15
    intruder = same_store(owner, secret_key="other")
    with pytest.raises(SignatureError):
        intruder.get_result(task_id, timeout=0)


def test_unsigned_tasks_are_refused_by_a_keyed_instance(make_oq: MakeOmniQ, same_store) -> None:
    plain = make_oq().open()
    task_id = plain.enqueue(func=tasks.add_numbers, func_args={"x": 5, "y": 10})
    keyed = same_store(plain, secret_key="k")
    with pytest.raises(SignatureError):
        keyed.get_task(task_id)


def test_a_worker_with_another_key_does_not_run_the_task(make_oq: MakeOmniQ, same_store) -> None:
    owner = make_oq(secret_key="k").open()
    task_id = owner.enqueue(func=tasks.record, func_args={"label": "signed"})
    intruder = same_store(owner, secret_key="other")
    intruder.start_worker(max_workers=1)
    # the forged-looking task fails instead of running
    with pytest.raises(TaskFailedError) as info:
        owner.get_result(task_id, timeout=5)
    assert info.value.error_type == "omniq.exceptions.SignatureError"
    assert tasks.ORDER == []
    task = owner.get_task(task_id)
    assert task is not None
    assert task.status is TaskStatus.FAILED


def test_strict_serialization_refuses_a_lambda_at_enqueue(make_oq: MakeOmniQ) -> None:
    oq = make_oq(strict_serialization=True, allowed_modules=[tasks.__name__]).open()
    with pytest.raises(SerializationError) as info:
        oq.enqueue(func=lambda: "nope")
    assert "<lambda>" in str(info.value)
    oq.start_worker(max_workers=1)
    task_id = oq.enqueue(func=tasks.add_numbers, func_args={"x": 2, "y": 2})
    assert oq.get_result(task_id, timeout=5) == 4


def test_strict_serialization_refuses_pickled_arguments(make_oq: MakeOmniQ) -> None:
    oq = make_oq(strict_serialization=True, allowed_modules=[tasks.__name__]).open()
    with pytest.raises(SerializationError):
        oq.enqueue(func=tasks.echo, func_args={"value": object()})


def test_strict_worker_refuses_a_pickled_function(make_oq: MakeOmniQ, same_store) -> None:
    lax = make_oq().open()
    task_id = lax.enqueue(func=lambda: "by value")
    strict = same_store(lax, strict_serialization=True, allowed_modules=[tasks.__name__])
    strict.start_worker(max_workers=1)
    with pytest.raises(TaskFailedError, match="strict") as info:
        lax.get_result(task_id, timeout=5)
    assert info.value.error_type == "omniq.exceptions.SerializationError"


def _refused(oq: OmniQ, task_id: str) -> None:
    """The task failed at once (no retry) with FunctionNotAllowedError recorded on it."""
    with pytest.raises(TaskFailedError) as info:
        oq.get_result(task_id, timeout=10)
    assert info.value.error_type == "omniq.exceptions.FunctionNotAllowedError"
    assert "is not allowed" in info.value.error_message
    task = oq.get_task(task_id)
    assert task is not None
    assert task.status is TaskStatus.FAILED
    assert task.retry_count == 0


def test_strict_worker_runs_only_functions_the_application_allowed(
    make_oq: MakeOmniQ, same_store, tmp_path: Path
) -> None:
    # A store writer with neither pickle nor a key: plain msgpack calls of stdlib functions.
    writer = make_oq().open()
    markers = [tmp_path / f"owned-{n}" for n in range(3)]
    injected = [
        writer.enqueue(func=os.system, func_args={"command": f"touch {markers[0]}"}),
        writer.enqueue(func=subprocess.run, func_args={"args": ["touch", str(markers[1])]}),
        writer.enqueue(func=open, func_args={"file": str(markers[2]), "mode": "w"}),
    ]
    allowed = writer.enqueue(func=tasks.add_numbers, func_args={"x": 2, "y": 3})
    strict = same_store(writer, strict_serialization=True, allowed_modules=[tasks.__name__])
    strict.start_worker(max_workers=2)
    assert strict.get_result(allowed, timeout=10) == 5
    for task_id in injected:
        _refused(strict, task_id)
    assert [marker for marker in markers if marker.exists()] == []


def test_strict_enqueue_refuses_a_function_that_is_not_allowed(make_oq: MakeOmniQ) -> None:
    oq = make_oq(strict_serialization=True).open()
    with pytest.raises(FunctionNotAllowedError, match=r"'(posix|nt):system'"):
        oq.enqueue(func=os.system, func_args={"command": "true"})
    reference = re.escape(repr(f"{tasks.__name__}:add_numbers"))
    with pytest.raises(FunctionNotAllowedError, match=reference):
        oq.enqueue(func=tasks.add_numbers, func_args={"x": 1, "y": 1})
    assert oq.task(tasks.add_numbers) is tasks.add_numbers
    oq.start_worker(max_workers=1)
    task_id = oq.enqueue(func=tasks.add_numbers, func_args={"x": 1, "y": 1})
    assert oq.get_result(task_id, timeout=5) == 2


def test_allowed_modules_need_strict_mode(make_oq: MakeOmniQ) -> None:
    from omniq import ConfigurationError

    with pytest.raises(ConfigurationError, match="strict_serialization"):
        make_oq(allowed_modules=[tasks.__name__])
    with pytest.raises(ConfigurationError, match="'shop tasks'"):
        make_oq(strict_serialization=True, allowed_modules=["shop tasks"])


def test_a_row_naming_os_system_written_into_the_sqlite_file_does_not_run(
    tmp_path: Path,
) -> None:
    """The attack of issue 14: write the file directly (msgpack only, no pickle, no key)."""
    db_path = tmp_path / "shop.db"
    marker = tmp_path / "owned"
    options = {"strict_serialization": True, "allowed_modules": [tasks.__name__]}
    with OmniQ(project_name="shop", backend_type="sqlite", db_path=db_path, **options) as oq:
        task_id = oq.enqueue(func=tasks.record, func_args={"label": "legit"})
    attack = bytes([0x11]) + msgspec.msgpack.encode(
        ["os:system", {"command": f"touch {marker}"}, {}]
    )
    with sqlite3.connect(db_path) as conn:
        conn.execute(
            "UPDATE tasks SET func_name = 'os:system', payload = ? WHERE id = ?", (attack, task_id)
        )
    conn.close()
    with OmniQ(project_name="shop", backend_type="sqlite", db_path=db_path, **options) as oq:
        oq.start_worker(max_workers=1)
        _refused(oq, task_id)
        assert "'os:system'" in (oq.get_task(task_id).error.message)  # type: ignore[union-attr]
    assert not marker.exists()
    assert tasks.ORDER == []


def _unprotected_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "runs unprotected" in r.getMessage()]


@pytest.mark.parametrize(
    ("protection", "warned"),
    [
        ({}, True),
        ({"secret_key": "k"}, False),
        ({"strict_serialization": True}, False),
        ({"strict_serialization": True, "secret_key": "k"}, False),
    ],
    ids=["none", "secret_key", "strict", "both"],
)
def test_a_worker_says_once_when_it_runs_unprotected(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, protection: dict[str, object], warned: bool
) -> None:
    caplog.set_level(logging.WARNING, logger="omniq.worker")
    db_path = tmp_path / "shop.db"
    with OmniQ(project_name="shop", backend_type="sqlite", db_path=db_path, **protection) as oq:
        oq.start_worker(max_workers=1)
        worker_id = oq.worker.worker_id  # type: ignore[union-attr]
    lines = _unprotected_lines(caplog)
    if not warned:
        assert lines == []
        return
    assert len(lines) == 1
    assert worker_id in lines[0]
    assert "whoever can write to the store can run code here" in lines[0]
    assert "strict_serialization=True" in lines[0]
    assert "secret_key" in lines[0]


def test_a_worker_on_an_in_process_store_does_not_warn(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="omniq.worker")
    with OmniQ(project_name="shop", backend_type="memory") as oq:
        oq.start_worker(max_workers=1)
    assert _unprotected_lines(caplog) == []
