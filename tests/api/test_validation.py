"""Bad input fails at once with an OmniQError subclass whose message names the bad value."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest

from omniq import ConfigurationError, OmniQ, OmniQError, SerializationError
from omniq.core.portal import portal

from . import tasks
from .conftest import MakeOmniQ

NOW = dt.datetime.now(dt.UTC)


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"backend_type": "sqlit"}, "'sqlit'"),
        ({"backend_type": "postgres"}, "planned"),
        ({"backend_type": "redis"}, "planned"),
        ({"backend_type": "memory", "worker_type": "celery"}, "'celery'"),
        ({"backend_type": "memory", "worker_config": {"threads": 4}}, "'threads'"),
        ({"backend_type": "memory", "worker_config": {"max_workers": 0}}, "max_workers 0"),
        ({"backend_type": "memory", "queues": ["ok", "not ok"]}, "'not ok'"),
        ({"backend_type": "memory", "queues": "high"}, "'high'"),
        ({"backend_type": "memory", "queues": ["a", "a"]}, "'a'"),
        ({"backend_type": "memory", "strict_serialization": "yes"}, "'yes'"),
        ({"backend_type": "sqlite", "synchronous": "SOMETIMES"}, "'SOMETIMES'"),
    ],
)
def test_bad_constructor_arguments(options: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        OmniQ(project_name="bad", **options)
    assert expected in str(info.value)
    assert isinstance(info.value, OmniQError)
    assert isinstance(info.value, ValueError)


def test_planned_backend_message() -> None:
    with pytest.raises(ConfigurationError, match=r"'postgres' is planned"):
        OmniQ(project_name="bad", backend_type="postgres")


def test_bad_project_name() -> None:
    with pytest.raises(ConfigurationError, match="''"):
        OmniQ(project_name="")
    with pytest.raises(ConfigurationError, match=r"'\.\./escape'"):
        OmniQ(project_name="../escape", backend_type="sqlite")


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"func": 42}, "42"),
        ({"func_args": [1, 2]}, "[1, 2]"),
        ({"func_args": {1: "x"}}, "1"),
        ({"func_kwargs": "x=1"}, "'x=1'"),
        ({"ttl": -1}, "ttl -1"),
        ({"ttl": 0}, "ttl 0"),
        ({"ttl": dt.timedelta(seconds=-5)}, "ttl datetime.timedelta"),
        ({"ttl": "1h"}, "'1h'"),
        ({"result_ttl": -2}, "result_ttl -2"),
        ({"retry_delay": -3}, "retry_delay -3"),
        ({"run_in": -4}, "run_in -4"),
        ({"run_at": "tomorrow"}, "'tomorrow'"),
        ({"run_at": NOW, "run_in": 5}, "run_in 5"),
        ({"priority": "high"}, "'high'"),
        ({"priority": 1.5}, "1.5"),
        ({"priority": True}, "True"),
        ({"max_retries": -1}, "max_retries -1"),
        ({"max_retries": "3"}, "'3'"),
        ({"queue_name": "my queue"}, "'my queue'"),
        ({"queue_name": ""}, "''"),
        ({"tags": "math"}, "'math'"),
        ({"tags": ["ok", 3]}, "3"),
        ({"name": 5}, "5"),
        ({"store_result": "no"}, "'no'"),
        ({"retry_backoff": 0.5}, "0.5"),
        ({"colour": "blue"}, "'colour'"),
        ({"func_args": {"x": 1}, "func_kwargs": {"x": 2}}, "'x'"),
        ({"depends_on": ["some-task"]}, "'some-task', but no task has this id"),
        ({"depends_on": "some-task"}, "expected a list of task ids"),
        ({"depends_on": [3]}, "depends_on item 3"),
        ({"callback": 42}, "callback 42 is not callable"),
        ({"callback_args": {"a": 1}}, "without a callback"),
        ({"callback": print, "callback_args": [1]}, "callback_args [1]"),
        ({"timeout": 0}, "timeout 0"),
        ({"timeout": -1.5}, "timeout -1.5"),
        ({"timeout": "10s"}, "timeout '10s'"),
    ],
)
def test_bad_enqueue_arguments(oq: OmniQ, options: dict[str, Any], expected: str) -> None:
    call: dict[str, Any] = {"func": tasks.add_numbers, **options}
    with pytest.raises(ConfigurationError) as info:
        oq.enqueue(**call)
    assert expected in str(info.value)
    _assert_nothing_enqueued(oq)


def test_run_at_and_run_in_message(oq: OmniQ) -> None:
    with pytest.raises(ConfigurationError, match="both given"):
        oq.enqueue(func=tasks.add_numbers, run_at=NOW, run_in=dt.timedelta(seconds=5))


def test_an_unknown_dependency_is_a_clear_error(oq: OmniQ) -> None:
    known = oq.enqueue(func=tasks.add_numbers, func_args={"x": 1, "y": 2})
    with pytest.raises(ConfigurationError, match="depends_on names 'abc', but no task has"):
        oq.enqueue(func=tasks.add_numbers, depends_on=[known, "abc"])
    with pytest.raises(ConfigurationError, match="no task has this id"):
        oq.enqueue_many(tasks.add_numbers, [{"x": 1, "y": 2}], depends_on=["abc"])


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"worker_type": "celery"}, "'celery'"),
        ({"worker_type": "gevent"}, "gevent_main"),
        ({"worker_config": {"threads": 4}}, "'threads'"),
        ({"worker_config": ["max_workers", 4]}, "['max_workers', 4]"),
        ({"max_workers": 0}, "max_workers 0"),
        ({"max_workers": "4"}, "'4'"),
        ({"worker_config": {"max_workers": 0}}, "max_workers 0"),
        ({"lease_duration": 0}, "lease_duration 0"),
        ({"poll_interval": -1}, "poll_interval -1"),
        ({"grace_period": "long"}, "'long'"),
        ({"colour": "blue"}, "'colour'"),
    ],
)
def test_bad_worker_arguments(oq: OmniQ, options: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        oq.start_worker(**options)
    assert expected in str(info.value)
    assert oq.worker is None


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"task_id": ""}, "''"),
        ({"task_id": 42}, "42"),
        ({"task_id": "x", "timeout": -1}, "timeout -1"),
        ({"task_id": "x", "poll_interval": 0}, "poll_interval 0"),
    ],
)
def test_bad_get_result_arguments(oq: OmniQ, options: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        oq.get_result(**options)
    assert expected in str(info.value)


def test_unserializable_argument_is_refused_at_enqueue(oq: OmniQ) -> None:
    with pytest.raises(SerializationError) as info:
        oq.enqueue(func=tasks.echo, func_args={"lock": threading.Lock()})
    assert "func_args['lock']" in str(info.value)
    assert isinstance(info.value, OmniQError)
    with pytest.raises(SerializationError, match=r"func_kwargs\['deep'\]"):
        oq.enqueue(func=tasks.echo, func_kwargs={"deep": {"inner": [threading.Lock()]}})
    _assert_nothing_enqueued(oq)


def test_bad_enqueue_many_leaves_nothing(make_oq: MakeOmniQ) -> None:
    oq = make_oq().open()
    with pytest.raises(SerializationError, match="lock"):
        oq.enqueue_many(tasks.echo, [{"x": 1}, {"lock": threading.Lock()}])
    with pytest.raises(ConfigurationError, match="'colour'"):
        oq.enqueue_many(tasks.echo, [{"x": 1}], colour="blue")
    _assert_nothing_enqueued(oq)
    ids = oq.enqueue_many(tasks.add_numbers, [{"x": 1, "y": 2}, {"x": 3, "y": 4}], priority=2)
    oq.start_worker(max_workers=2)
    assert [oq.get_result(i, timeout=5) for i in ids] == [3, 7]


def _assert_nothing_enqueued(oq: OmniQ) -> None:
    oq.open()
    assert portal().call(oq.task_queue.next_run_at(oq.queues)) is None
