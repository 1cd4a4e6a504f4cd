"""secret_key signing and strict serialization."""

from __future__ import annotations

import pytest

from omniq import SerializationError, TaskFailedError, TaskStatus
from omniq.exceptions import SignatureError

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
    oq = make_oq(strict_serialization=True).open()
    with pytest.raises(SerializationError) as info:
        oq.enqueue(func=lambda: "nope")
    assert "<lambda>" in str(info.value)
    oq.start_worker(max_workers=1)
    task_id = oq.enqueue(func=tasks.add_numbers, func_args={"x": 2, "y": 2})
    assert oq.get_result(task_id, timeout=5) == 4


def test_strict_serialization_refuses_pickled_arguments(make_oq: MakeOmniQ) -> None:
    oq = make_oq(strict_serialization=True).open()
    with pytest.raises(SerializationError):
        oq.enqueue(func=tasks.echo, func_args={"value": object()})


def test_strict_worker_refuses_a_pickled_function(make_oq: MakeOmniQ, same_store) -> None:
    lax = make_oq().open()
    task_id = lax.enqueue(func=lambda: "by value")
    strict = same_store(lax, strict_serialization=True)
    strict.start_worker(max_workers=1)
    with pytest.raises(TaskFailedError, match="strict") as info:
        lax.get_result(task_id, timeout=5)
    assert info.value.error_type == "omniq.exceptions.SerializationError"
