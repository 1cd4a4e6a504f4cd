"""The NATS backend's parts that need no server: names, options, the claim index."""

from __future__ import annotations

import sys

import pytest

from omniq.exceptions import ConfigurationError, MissingDependencyError
from omniq.models.task import TaskStatus
from omniq.storage.records import TaskRecord

pytest.importorskip("nats")

from omniq.backends.nats.index import Entry, TaskIndex
from omniq.backends.nats.names import (
    ProjectNames,
    decode_token,
    encode_token,
    escape_project,
)
from omniq.backends.nats.options import ConnectOptions, mask_url

# -- names -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "identifier", ["plain-id_1", "has.dot", "sp ace", "ünï", "a/b", "*", ">", "=x", "x" * 300]
)
def test_every_id_becomes_one_token_and_back(identifier: str) -> None:
    token = encode_token(identifier)
    assert not set(token) & set(". *>")
    assert decode_token(token) == identifier


def test_plain_ids_are_kept_as_they_are() -> None:
    assert encode_token("3f2a-uuid_like") == "3f2a-uuid_like"


def test_project_names_never_collide() -> None:
    names = ["a.b", "a_b", "a__b", "a_ob", "a.ob", "a_o.b"]
    escaped = {escape_project(name) for name in names}
    assert len(escaped) == len(names)
    for name in names:
        token = escape_project(name)
        assert "." not in token


def test_the_streams_of_a_project() -> None:
    names = ProjectNames.of("shop.eu_1")
    assert names.streams == (
        "KV_omniq_shop_oeu__1",
        "KV_omniq_shop_oeu__1_results",
        "omniq_shop_oeu__1_events",
    )
    assert names.wake_subject == "omniq.shop_oeu__1.wake"
    assert names.state_key(names.task_subject("t.1")) == ("t", "t.1")
    assert names.state_key(names.schedule_subject("s")) == ("s", "s")
    assert names.state_key(names.run_subject("s", "t")) is None
    assert names.run_task(names.run_subject("s", "t/1")) == "t/1"
    assert names.event_task(names.event_subject("e 1")) == "e 1"
    assert names.result_key(names.result_subject("r")) == "r"


def test_a_project_name_too_long_for_stream_names_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="too long"):
        ProjectNames.of("_" * 128)


# -- options -----------------------------------------------------------------------------


def test_urls_are_masked() -> None:
    assert mask_url("nats://user:secret@host:4222") == "nats://user:***@host:4222"
    assert mask_url("nats://t0k3n@host") == "nats://***@host"
    assert mask_url("nats://host:4222") == "nats://host:4222"


def test_options_describe_servers_without_secrets() -> None:
    options = ConnectOptions.check(["nats://u:pw@a:4222", "b"], token="tok")
    assert options.describe() == "a:4222,b:4222"
    assert options.mask("failed with pw and tok") == "failed with *** and ***"
    assert options.servers == ("nats://u:pw@a:4222", "nats://b")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"servers": 42}, "servers 42"),
        ({"servers": []}, "servers"),
        ({"servers": ["http://h"]}, "servers entry 'http://h'"),
        ({"servers": "nats://h:notaport"}, "bad port"),
        ({"servers": "nats://h", "connect_timeout": 0}, "connect_timeout 0"),
        ({"servers": "nats://h", "request_timeout": "5"}, "request_timeout '5'"),
        ({"servers": "nats://h", "password": "x"}, "password was given without user"),
        ({"servers": "nats://h", "creds_file": "/no/such.creds"}, "/no/such.creds"),
        ({"servers": "nats://h", "tls": "yes"}, "tls 'yes'"),
    ],
)
def test_bad_options_are_refused_naming_the_value(kwargs: dict[str, object], message: str) -> None:
    servers = kwargs.pop("servers")
    with pytest.raises(ConfigurationError, match=message.replace("(", r"\(")):
        ConnectOptions.check(servers, **kwargs)


def test_backend_options_are_checked_up_front() -> None:
    from omniq.backends.nats import NATSBackend

    with pytest.raises(ConfigurationError, match="replicas 0"):
        NATSBackend("p", replicas=0)
    with pytest.raises(ConfigurationError, match="results_max_age -1"):
        NATSBackend("p", results_max_age=-1)
    with pytest.raises(ConfigurationError, match="project_name"):
        NATSBackend("no spaces")


def test_a_missing_extra_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    from omniq.backends import create_backend

    for name in list(sys.modules):
        if name == "nats" or name.startswith(("nats.", "omniq.backends.nats")):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "nats", None)  # as if nats-py were not installed
    with pytest.raises(MissingDependencyError, match=r"pip install 'omniq\[nats\]'"):
        create_backend("nats", "p")


# -- the claim index ----------------------------------------------------------------------


def task(task_id: str, *, priority: int = 0, run_at: float = 10.0, queue: str = "default",
         status: TaskStatus = TaskStatus.ENQUEUED, **fields: object) -> TaskRecord:  # fmt: skip
    return TaskRecord(id=task_id, func_name="m:f", payload=b"", queue_name=queue,
                      priority=priority, status=status, created_at=0.0, run_at=run_at,
                      **fields)  # type: ignore[arg-type]  # fmt: skip


def test_the_index_takes_in_claim_order() -> None:
    index = TaskIndex()
    rows = [("a", 0, 5.0), ("b", 5, 9.0), ("c", 5, 1.0), ("d", 0, 5.0), ("late", 9, 99.0)]
    for seq, (task_id, priority, run_at) in enumerate(rows, start=1):
        index.apply(task_id, seq, Entry(task(task_id, priority=priority, run_at=run_at), seq, seq))
    taken = index.take(["default"], 10, now=10.0)
    assert [e.task.id for e in taken] == ["c", "b", "a", "d"]
    assert index.take(["default"], 10, now=10.0) == []
    assert [e.task.id for e in index.take(["default"], 10, now=99.0)] == ["late"]


def test_an_older_revision_never_replaces_a_newer_one() -> None:
    index = TaskIndex()
    index.apply("t", 5, Entry(task("t"), 5, 5))
    running = task("t", status=TaskStatus.EXECUTING, lease_expires_at=20.0)
    index.apply("t", 7, Entry(running, 7, 5), local=True)
    index.apply("t", 5, Entry(task("t"), 5, 5))  # the stream delivers the older one late
    assert index.take(["default"], 1, now=100.0) == []
    assert [e.task.id for e in index.expired(now=21.0)] == ["t"]
    done = task("t", status=TaskStatus.COMPLETED)
    index.apply("t", 9, Entry(done, 9, 5), local=True)  # finished here: gone from the view
    index.apply("t", 7, Entry(running, 7, 5))  # a late message cannot bring it back
    assert "t" not in index.tasks
    index.apply("t", 9, Entry(done, 9, 5))  # the stream caught up
    assert index.expired(now=21.0) == []


def test_a_task_the_stream_already_ended_is_not_remembered() -> None:
    index = TaskIndex()
    index.apply("t", 5, Entry(task("t"), 5, 5))
    done = task("t", status=TaskStatus.COMPLETED)
    index.apply("t", 6, Entry(done, 6, 5))  # the stream delivered the end first...
    index.applied = 6
    index.apply("t", 6, Entry(done, 6, 5), local=True)  # ...then the write's acknowledgement
    assert index.remembered == 0


def test_the_index_knows_dependents() -> None:
    index = TaskIndex()
    index.apply("w", 3, Entry(task("w", status=TaskStatus.WAITING, depends_on=["a", "b"]), 3, 3))
    assert [e.task.id for e in index.dependents_of("a")] == ["w"]
    assert [e.task.id for e in index.waiting()] == ["w"]
    index.apply("w", 4, None)
    assert index.dependents_of("a") == []
