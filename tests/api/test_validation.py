"""Bad input fails at once with an OmniQError subclass whose message names the bad value."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path
from typing import Any

import pytest

from omniq import ConfigurationError, OmniQ, OmniQError, SerializationError

from . import tasks
from .conftest import MakeOmniQ

NOW = dt.datetime.now(dt.UTC)


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"backend_type": "sqlit"}, "'sqlit'"),
        ({"backend_type": "redis", "url": 6379}, "url 6379"),
        ({"backend_type": "redis", "url": "http://host:6379"}, "'http://host:6379'"),
        ({"backend_type": "redis", "connect_timeout": -1}, "connect_timeout -1"),
        ({"backend_type": "postgres", "pool_size": 0}, "pool_size 0"),
        ({"backend_type": "postgres", "dsn": 5432}, "dsn 5432"),
        ({"backend_type": "postgres", "connect_timeout": -1}, "connect_timeout -1"),
        ({"backend_type": "file", "path": 42}, "path 42"),
        ({"backend_type": "file", "storage_options": "key=x"}, "storage_options str"),
        ({"backend_type": "file", "threads": 0}, "threads 0"),
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


def test_planned_backend_message(monkeypatch: pytest.MonkeyPatch) -> None:
    import omniq.backends
    import omniq.config.schema

    for module in (omniq.backends, omniq.config.schema):
        monkeypatch.setattr(module, "PLANNED_BACKENDS", ("kafka",))
    with pytest.raises(ConfigurationError, match=r"'kafka' is planned"):
        OmniQ(project_name="bad", backend_type="kafka")


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
        # Names match as a whole: a trailing newline is not a different valid name.
        ({"queue_name": "high\n"}, "queue_name 'high\\n'"),
        # Values a store cannot hold: refused here, not by the driver.
        ({"priority": 2**63}, f"priority {2**63} is out of range"),
        ({"priority": -(2**31) - 1}, f"priority {-(2**31) - 1} is out of range"),
        ({"max_retries": 10**30}, f"max_retries {10**30} is out of range"),
        ({"name": "a\ud800b"}, "name 'a\\ud800b'"),
        ({"description": "\udfff"}, "description '\\udfff'"),
        ({"tags": ["ok", "\ud800"]}, "tags item '\\ud800'"),
        # Times and durations outside the documented range.
        ({"run_in": 1e20}, "run_in 1e+20 is too long"),
        ({"run_at": dt.datetime(9999, 12, 31, tzinfo=dt.UTC)}, "run_at datetime.datetime(9999"),
        ({"run_at": dt.datetime(1, 1, 1, tzinfo=dt.UTC)}, "run_at datetime.datetime(1, 1, 1"),
        ({"ttl": 1e20}, "ttl 1e+20 is too long"),
        ({"result_ttl": 1e20}, "result_ttl 1e+20 is too long"),
        ({"timeout": 1e20}, "timeout 1e+20 is too long"),
        ({"retry_delay": 1e20}, "retry_delay 1e+20 is too long"),
        ({"retry_max_delay": 1e20}, "retry_max_delay 1e+20 is too long"),
        ({"retry_backoff": 1e200}, "retry_backoff 1e+200 is not valid"),
        ({"retry_backoff": float("inf")}, "retry_backoff inf is not valid"),
        ({"retry_backoff": float("nan")}, "retry_backoff nan is not valid"),
    ],
)
def test_bad_enqueue_arguments(oq: OmniQ, options: dict[str, Any], expected: str) -> None:
    call: dict[str, Any] = {"func": tasks.echo, **options}
    with pytest.raises(ConfigurationError) as info:
        oq.enqueue(**call)
    assert expected in str(info.value)
    _assert_nothing_enqueued(oq)


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"x": 1}, "missing a required argument: 'y'"),
        ({"x": 1, "y": 2, "z": 3}, "got an unexpected keyword argument 'z'"),
        ({}, "missing a required argument: 'x'"),
    ],
)
def test_arguments_are_bound_to_the_signature_at_enqueue(
    oq: OmniQ, arguments: dict[str, Any], expected: str
) -> None:
    calls = {
        "enqueue": lambda: oq.enqueue(func=tasks.add_numbers, func_args=arguments),
        "enqueue_many": lambda: oq.enqueue_many(tasks.add_numbers, [{"x": 1, "y": 2}, arguments]),
        "schedule": lambda: oq.schedule(tasks.add_numbers, func_args=arguments, interval=3600),
    }
    for method, call in calls.items():
        with pytest.raises(ConfigurationError) as info:
            call()
        assert "add_numbers(x: 'int', y: 'int')" in str(info.value), method
        assert expected in str(info.value), method
    _assert_nothing_enqueued(oq)
    assert oq.list_schedules() == []


def test_callback_arguments_are_bound_at_enqueue(oq: OmniQ) -> None:
    with pytest.raises(ConfigurationError, match=r"callback .*'extra'"):
        oq.enqueue(tasks.echo, callback=tasks.record, callback_args={"extra": 1})
    _assert_nothing_enqueued(oq)


@pytest.mark.parametrize("args_list", [None, 3, "x=1", {"x": 1}])
def test_enqueue_many_needs_a_list_of_mappings(oq: OmniQ, args_list: Any) -> None:
    with pytest.raises(ConfigurationError, match=f"args_list {args_list!r} is not valid"):
        oq.enqueue_many(tasks.echo, args_list)
    _assert_nothing_enqueued(oq)


def test_an_open_file_argument_is_refused(oq: OmniQ, tmp_path: Path) -> None:
    path = tmp_path / "data.txt"
    path.write_text("the file's contents")
    with path.open() as text, path.open("rb") as binary:
        for name, handle in (("text", text), ("binary", binary)):
            with pytest.raises(SerializationError, match=rf"func_args\['{name}'\].*open file"):
                oq.enqueue(func=tasks.echo, func_args={name: handle})
        with pytest.raises(SerializationError, match="open file"):  # a closure's, by value
            oq.enqueue(func=lambda: text.read())
    _assert_nothing_enqueued(oq)


def test_run_at_and_run_in_message(oq: OmniQ) -> None:
    with pytest.raises(ConfigurationError, match="both given"):
        oq.enqueue(func=tasks.add_numbers, run_at=NOW, run_in=dt.timedelta(seconds=5))


def test_an_unknown_dependency_is_a_clear_error(oq: OmniQ) -> None:
    known = oq.enqueue(func=tasks.add_numbers, func_args={"x": 1, "y": 2})
    with pytest.raises(ConfigurationError, match="depends_on names 'abc', but no task has"):
        oq.enqueue(func=tasks.echo, depends_on=[known, "abc"])
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
        ({"lease_duration": float("nan")}, "lease_duration nan"),
        ({"lease_duration": 1e20}, "lease_duration 1e+20 is too long"),
        ({"poll_interval": float("inf")}, "poll_interval inf"),
        ({"max_workers": 10**30}, f"max_workers {10**30} is out of range"),
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
    assert oq.list_tasks(status=["enqueued", "retrying"]) == []
