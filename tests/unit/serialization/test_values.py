from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import decimal
import enum
import socket
import threading
from collections.abc import Iterator
from typing import Any

import _serialization_helpers as helpers
import msgspec
import pytest

from omniq.exceptions import SerializationError
from omniq.serialization import Serializer
from omniq.serialization.values import is_plain

TAG_MSGPACK = 0x01
TAG_PICKLE = 0x02
UTC_NOW = dt.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _reset_unpickled() -> Iterator[None]:
    helpers.UNPICKLED["count"] = 0
    yield
    helpers.UNPICKLED["count"] = 0


@dataclasses.dataclass
class Point:
    x: int
    y: int


@dataclasses.dataclass
class Holder:
    name: str
    payload: Any


class Color(enum.IntEnum):
    RED = 1


class Text(str):
    pass


PLAIN_VALUES = [
    None,
    True,
    False,
    0,
    -(2**63),
    2**64 - 1,
    1.5,
    float("inf"),
    "",
    "héllo ☃",
    b"",
    b"\x00\xffbytes",
    [],
    [1, "a", None, [2.5, [b"x"]]],
    {},
    {"a": 1, "nested": {"list": [1, {"deep": True}], "when": UTC_NOW}},
    UTC_NOW,
]

FALLBACK_VALUES = [
    (1, 2),
    (),
    {1, 2, 3},
    frozenset({"a"}),
    Point(1, 2),
    decimal.Decimal("1.10"),
    {"a": (1, [2, (3,)])},
    [Point(0, 0), {"s": {1}}],
    {1: "int key"},
    {("tuple", "key"): 1},
    collections.OrderedDict(a=1),
    collections.Counter("aab"),
    Color.RED,
    Text("subclass"),
    2**64,
    -(2**63) - 1,
    "lone surrogate \ud800",
    dt.datetime(2024, 1, 2, 3, 4, 5),  # naive: msgpack would turn it into a str
    dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=2))),
    dt.date(2024, 1, 2),
    complex(1, 2),
]


# -- is_plain ----------------------------------------------------------------------------------


@pytest.mark.parametrize("value", PLAIN_VALUES, ids=repr)
def test_plain_values_are_plain(value: Any) -> None:
    assert is_plain(value)


@pytest.mark.parametrize(
    "value",
    [v for v in FALLBACK_VALUES if type(v) is not int and type(v) is not str],
    ids=repr,
)
def test_other_values_are_not_plain(value: Any) -> None:
    assert not is_plain(value)


def test_deeply_nested_and_cyclic_lists_are_not_plain() -> None:
    cyclic: list[Any] = [1]
    cyclic.append(cyclic)
    assert not is_plain(cyclic)
    deep: list[Any] = []
    for _ in range(1000):
        deep = [deep]
    assert not is_plain(deep)


# -- round trips -------------------------------------------------------------------------------


@pytest.mark.parametrize("value", PLAIN_VALUES, ids=repr)
@pytest.mark.parametrize("strict", [False, True])
def test_plain_values_round_trip_as_msgpack(value: Any, strict: bool) -> None:
    serializer = Serializer(strict=strict)
    payload = serializer.dump_value(value, "value")
    assert payload[0] == TAG_MSGPACK
    assert msgspec.msgpack.decode(payload[1:]) == value
    loaded = serializer.load_value(payload)
    assert loaded == value
    assert type(loaded) is type(value)


def test_utc_datetime_keeps_its_timezone() -> None:
    serializer = Serializer()
    loaded = serializer.load_value(serializer.dump_value(UTC_NOW, "value"))
    assert loaded.tzinfo is dt.UTC
    assert loaded == UTC_NOW


@pytest.mark.parametrize("value", FALLBACK_VALUES, ids=repr)
def test_other_values_fall_back_to_pickle_exactly(value: Any) -> None:
    serializer = Serializer()
    payload = serializer.dump_value(value, "value")
    assert payload[0] == TAG_PICKLE
    loaded = serializer.load_value(payload)
    assert loaded == value
    assert type(loaded) is type(value)
    if isinstance(value, dt.datetime):
        assert loaded.tzinfo == value.tzinfo


def test_nested_fallback_keeps_inner_types() -> None:
    serializer = Serializer()
    value = {"points": [Point(1, 2)], "pair": (1, (2, 3)), "tags": {"x"}}
    loaded = serializer.load_value(serializer.dump_value(value, "value"))
    assert loaded == value
    assert type(loaded["pair"]) is tuple
    assert type(loaded["pair"][1]) is tuple
    assert type(loaded["points"][0]) is Point


def test_cyclic_value_round_trips() -> None:
    serializer = Serializer()
    cyclic: list[Any] = [1]
    cyclic.append(cyclic)
    loaded = serializer.load_value(serializer.dump_value(cyclic, "value"))
    assert loaded[0] == 1
    assert loaded[1] is loaded


def test_lambda_inside_a_value_falls_back_to_cloudpickle() -> None:
    serializer = Serializer()
    payload = serializer.dump_value({"key": lambda x: x * 2}, "value")
    assert payload[0] == TAG_PICKLE
    assert serializer.load_value(payload)["key"](21) == 42


# -- strict mode -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ((1, 2), [1, 2]),
        ({"a": (1, {"b": (2,)})}, {"a": [1, {"b": [2]}]}),
        (frozenset({3}), [3]),
        (Point(1, 2), {"x": 1, "y": 2}),
        (Color.RED, 1),
        (decimal.Decimal("1.10"), "1.10"),
        (dt.datetime(2024, 1, 2, 3, 4, 5), "2024-01-02T03:04:05"),
        ({1: "int key"}, {1: "int key"}),
    ],
    ids=repr,
)
def test_strict_uses_msgspec_conversions(value: Any, expected: Any) -> None:
    serializer = Serializer(strict=True)
    payload = serializer.dump_value(value, "value")
    assert payload[0] == TAG_MSGPACK
    loaded = serializer.load_value(payload)
    assert loaded == expected
    assert type(loaded) is type(expected)


@pytest.mark.parametrize(
    "value",
    [2**64, "lone surrogate \ud800", complex(1, 2), helpers.Adder()],
    ids=["big-int", "surrogate", "complex", "object"],
)
def test_strict_refuses_what_msgspec_cannot_encode(value: Any) -> None:
    with pytest.raises(SerializationError, match=r"cannot serialize result of task 'abc'"):
        Serializer(strict=True).dump_value(value, "result of task 'abc'")


def test_strict_refuses_to_load_a_pickled_value() -> None:
    payload = Serializer().dump_value(helpers.Explosive(), "value")
    assert payload[0] == TAG_PICKLE
    with pytest.raises(SerializationError, match="strict mode only reads msgpack"):
        Serializer(strict=True).load_value(payload)
    assert helpers.UNPICKLED["count"] == 0
    # Control: the same payload does run the unpickling hook outside strict mode.
    Serializer().load_value(payload)
    assert helpers.UNPICKLED["count"] == 1


# -- unserializable values ---------------------------------------------------------------------


def _generator() -> Iterator[int]:
    yield 1


@pytest.mark.parametrize("strict", [False, True])
@pytest.mark.parametrize(
    ("make", "type_name"),
    [
        (threading.Lock, "_thread.lock"),
        (_generator, "generator"),
        (socket.socket, "socket.socket"),
    ],
    ids=["lock", "generator", "socket"],
)
def test_unserializable_value_names_label_and_type(make: Any, type_name: str, strict: bool) -> None:
    value = make()
    try:
        with pytest.raises(SerializationError) as info:
            Serializer(strict=strict).dump_value(value, "result of task 'abc'")
    finally:
        if isinstance(value, socket.socket):
            value.close()
    message = str(info.value)
    assert message.startswith("cannot serialize result of task 'abc':")
    assert f"objects of type {type_name} " in message


@pytest.mark.parametrize("strict", [False, True])
def test_unserializable_item_is_located_inside_containers(strict: bool) -> None:
    value = {"ok": 1, "x": [1, (2, threading.Lock())]}
    with pytest.raises(SerializationError) as info:
        Serializer(strict=strict).dump_value(value, "result of task 'abc'")
    assert "cannot serialize result of task 'abc'['x'][1][1]:" in str(info.value)
    assert "_thread.lock" in str(info.value)


def test_unserializable_attribute_is_located_inside_objects() -> None:
    with pytest.raises(SerializationError) as info:
        Serializer().dump_value(Holder("h", {"lock": threading.RLock()}), "result")
    assert "cannot serialize result.payload['lock']:" in str(info.value)
    assert "_thread.RLock" in str(info.value)


def test_error_is_chained_to_the_original_exception() -> None:
    with pytest.raises(SerializationError) as info:
        Serializer().dump_value(threading.Lock(), "value")
    assert isinstance(info.value.__cause__, TypeError)


# -- malformed payloads ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        (b"", "empty"),
        (b"\x7f" + msgspec.msgpack.encode(1), "unknown payload format tag 0x7f"),
        (b"\x11" + msgspec.msgpack.encode(["m:f", {}, {}]), "expected a value payload"),
        (b"\x01\xc1", "cannot decode"),
        (b"\x02not a pickle", "cannot load"),
    ],
)
def test_malformed_value_payloads_are_refused(payload: bytes, match: str) -> None:
    with pytest.raises(SerializationError, match=match):
        Serializer().load_value(payload)
