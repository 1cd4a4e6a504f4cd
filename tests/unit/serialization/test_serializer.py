from __future__ import annotations

import functools
import pickle
import threading
import timeit
import types
from collections.abc import Iterator
from typing import Any

import _serialization_helpers as helpers
import msgspec
import pytest

from omniq.exceptions import ConfigurationError, SerializationError, SignatureError
from omniq.serialization import Serializer, function_name

HELPERS = helpers.__name__
KEY = "correct horse battery staple"
TAG_VALUE_MSGPACK = 0x01
TAG_VALUE_PICKLE = 0x02
TAG_CALL_MSGPACK = 0x11
TAG_CALL_PICKLE = 0x12
TAG_SIGNED = 0x53
PICKLE_PROTO_PREFIX = bytes([0x80, pickle.HIGHEST_PROTOCOL])  # PROTO opcode of our pickles


@pytest.fixture(autouse=True)
def _reset_unpickled() -> Iterator[None]:
    helpers.UNPICKLED["count"] = 0
    yield
    helpers.UNPICKLED["count"] = 0


def _unpickled() -> int:
    return helpers.UNPICKLED["count"]


# -- calls -------------------------------------------------------------------------------------


def test_module_function_is_stored_by_reference_without_pickle() -> None:
    serializer = Serializer()
    name, payload = serializer.dump_call(helpers.add, {"a": 1, "b": 2}, {})
    assert name == f"{HELPERS}:add"
    assert payload[0] == TAG_CALL_MSGPACK
    # The whole payload is one msgpack frame of plain data: no pickle anywhere.
    assert msgspec.msgpack.decode(payload[1:]) == [f"{HELPERS}:add", {"a": 1, "b": 2}, {}]
    assert PICKLE_PROTO_PREFIX not in payload
    assert b"cloudpickle" not in payload
    func, args, kwargs = serializer.load_call(payload)
    assert func is helpers.add
    assert (args, kwargs) == ({"a": 1, "b": 2}, {})
    assert func(**args, **kwargs) == 3


def test_lambda_round_trips_and_still_works() -> None:
    serializer = Serializer()
    name, payload = serializer.dump_call(lambda a, b: a * b, {"a": 6}, {"b": 7})
    assert name == f"{__name__}:test_lambda_round_trips_and_still_works.<locals>.<lambda>"
    assert payload[0] == TAG_CALL_PICKLE
    assert PICKLE_PROTO_PREFIX in payload  # control for the by-reference test above
    func, args, kwargs = serializer.load_call(payload)
    assert func(**args, **kwargs) == 42


def test_closure_round_trips_with_its_captured_value() -> None:
    serializer = Serializer()
    name, payload = serializer.dump_call(helpers.make_closure(1000), {"x": 1}, {})
    assert name == f"{HELPERS}:make_closure.<locals>.shifted"
    func, args, _ = serializer.load_call(payload)
    assert func(**args) == 1001


def test_partial_is_named_after_the_wrapped_function() -> None:
    serializer = Serializer()
    name, payload = serializer.dump_call(functools.partial(helpers.greet, "ann"), {}, {})
    assert name == f"{HELPERS}:greet"
    func, args, kwargs = serializer.load_call(payload)
    assert func(**args, **kwargs) == "hello ann!"


def test_non_plain_arguments_are_pickled_exactly_per_part() -> None:
    serializer = Serializer()
    _, payload = serializer.dump_call(helpers.greet, {"name": "x"}, {"punctuation": ("!", "?")})
    assert payload[0] == TAG_CALL_PICKLE
    func_part, args_part, kwargs_part = msgspec.msgpack.decode(payload[1:])
    assert func_part == f"{HELPERS}:greet"  # still a reference
    assert args_part == {"name": "x"}  # plain part stays msgpack
    assert isinstance(kwargs_part, bytes)  # only the non-plain part is pickled
    func, _, kwargs = serializer.load_call(payload)
    assert func is helpers.greet
    assert kwargs == {"punctuation": ("!", "?")}
    assert type(kwargs["punctuation"]) is tuple


def test_out_of_range_int_argument_falls_back_to_pickle() -> None:
    serializer = Serializer()
    _, payload = serializer.dump_call(helpers.add, {"a": 2**70, "b": 1}, {})
    assert payload[0] == TAG_CALL_PICKLE
    func, args, _ = serializer.load_call(payload)
    assert func(**args) == 2**70 + 1


def test_any_mapping_is_accepted_for_arguments() -> None:
    serializer = Serializer()
    _, payload = serializer.dump_call(helpers.add, types.MappingProxyType({"a": 1, "b": 2}), {})
    _, args, _ = serializer.load_call(payload)
    assert type(args) is dict
    assert args == {"a": 1, "b": 2}


@pytest.mark.parametrize("strict", [False, True])
def test_non_string_argument_name_is_refused(strict: bool) -> None:
    with pytest.raises(SerializationError, match="func_kwargs: keys must be argument names"):
        Serializer(strict=strict, allowed_modules=[HELPERS]).dump_call(helpers.add, {}, {1: "x"})  # type: ignore[dict-item]


@pytest.mark.parametrize("strict", [False, True])
@pytest.mark.parametrize("where", ["func_args", "func_kwargs"])
def test_unserializable_argument_names_its_key_and_type(strict: bool, where: str) -> None:
    bad = {"ok": 1, "lock": threading.Lock()}
    args, kwargs = (bad, {}) if where == "func_args" else ({}, bad)
    with pytest.raises(SerializationError) as info:
        Serializer(strict=strict, allowed_modules=[HELPERS]).dump_call(helpers.add, args, kwargs)
    assert f"cannot serialize {where}['lock']:" in str(info.value)
    assert "_thread.lock" in str(info.value)


def test_unserializable_nested_argument_is_located() -> None:
    with pytest.raises(SerializationError, match=r"func_args\['x'\]\['inner'\]\[0\]"):
        Serializer().dump_call(helpers.add, {"x": {"inner": [threading.Lock()]}}, {})


def test_unpicklable_function_is_refused_at_dump_time() -> None:
    lock = threading.Lock()

    def uses_lock() -> None:
        with lock:
            pass

    with pytest.raises(SerializationError) as info:
        Serializer().dump_call(uses_lock, {}, {})
    assert repr(function_name(uses_lock)) in str(info.value)


def test_load_call_arguments_does_not_resolve_or_unpickle_the_function() -> None:
    serializer = Serializer()
    _, payload = serializer.dump_call(helpers.ExplosiveCallable(), {"a": 1}, {"b": (2,)})
    assert payload[0] == TAG_CALL_PICKLE
    assert serializer.load_call_arguments(payload) == ({"a": 1}, {"b": (2,)})
    assert _unpickled() == 0
    # Control: load_call does unpickle the function.
    func, args, kwargs = serializer.load_call(payload)
    assert _unpickled() == 1
    assert func(a=1, b=2) == 3
    assert (args, kwargs) == ({"a": 1}, {"b": (2,)})


def test_unknown_reference_names_it_but_arguments_still_load() -> None:
    payload = b"\x11" + msgspec.msgpack.encode(["omniq_missing_mod_xyz:task", {"a": 1}, {}])
    serializer = Serializer()
    assert serializer.load_call_arguments(payload) == ({"a": 1}, {})
    with pytest.raises(SerializationError, match="'omniq_missing_mod_xyz:task'"):
        serializer.load_call(payload)


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        (b"", "empty"),
        (b"\x11" + msgspec.msgpack.encode([1, 2]), "malformed call payload"),
        (b"\x11" + msgspec.msgpack.encode("m:f"), "malformed call payload"),
        (b"\x12" + msgspec.msgpack.encode(["m:f", 3, {}]), "malformed call payload"),
        (b"\x01" + msgspec.msgpack.encode(1), "expected a call payload, got a value payload"),
        (b"\xfe", "unknown payload format tag 0xfe"),
    ],
)
def test_malformed_call_payloads_are_refused(payload: bytes, match: str) -> None:
    with pytest.raises(SerializationError, match=match):
        Serializer().load_call(payload)


def test_pickled_arguments_must_be_a_dict() -> None:
    payload = b"\x12" + msgspec.msgpack.encode(["m:f", pickle.dumps([1]), {}])
    with pytest.raises(SerializationError, match="func_args loaded as list"):
        Serializer().load_call_arguments(payload)


def test_msgpack_tag_with_pickled_parts_is_refused_without_unpickling() -> None:
    # A forged "msgpack only" call carrying pickle bytes must not be unpickled.
    explosive = pickle.dumps(helpers.ExplosiveCallable())
    for frame in ([explosive, {}, {}], ["m:f", pickle.dumps({"x": helpers.Explosive()}), {}]):
        payload = b"\x11" + msgspec.msgpack.encode(frame)
        with pytest.raises(SerializationError, match="malformed call payload"):
            Serializer().load_call(payload)
    assert _unpickled() == 0


def test_round_trip_is_fast() -> None:
    serializer = Serializer()

    def round_trip() -> None:
        serializer.load_call(serializer.dump_call(helpers.add, {"a": 1, "b": 2}, {})[1])

    seconds = min(timeit.repeat(round_trip, number=2_000, repeat=3)) / 2_000
    # Measured around 3-4 us; the bound only catches an accidental slow path.
    assert seconds < 100e-6


# -- strict mode -------------------------------------------------------------------------------


def test_strict_by_reference_payload_is_interchangeable() -> None:
    strict, lax = Serializer(strict=True, allowed_modules=[HELPERS]), Serializer()
    _, strict_payload = strict.dump_call(helpers.add, {"a": 1, "b": 2}, {})
    _, lax_payload = lax.dump_call(helpers.add, {"a": 1, "b": 2}, {})
    assert strict_payload == lax_payload
    assert strict.load_call(lax_payload)[0] is helpers.add


def test_strict_converts_arguments_the_msgspec_way() -> None:
    serializer = Serializer(strict=True, allowed_modules=[HELPERS])
    _, payload = serializer.dump_call(helpers.add, {"a": (1, 2)}, {})
    assert payload[0] == TAG_CALL_MSGPACK
    assert serializer.load_call_arguments(payload) == ({"a": [1, 2]}, {})


def test_strict_refuses_a_lambda_at_dump_time() -> None:
    func = eval("lambda: 1", {"__name__": "__main__"})
    with pytest.raises(SerializationError) as info:
        Serializer(strict=True).dump_call(func, {}, {})
    assert "'__main__:<lambda>'" in str(info.value)
    assert "define it at module level of an importable module" in str(info.value)


@pytest.mark.parametrize(
    "dump",
    [
        lambda s: s.dump_call(helpers.ExplosiveCallable(), {}, {})[1],
        lambda s: s.dump_call(helpers.add, {"a": helpers.Explosive()}, {})[1],
    ],
    ids=["pickled-function", "pickled-argument"],
)
@pytest.mark.parametrize("load", ["load_call", "load_call_arguments"])
def test_strict_refuses_a_pickle_call_payload_from_its_tag(dump: Any, load: str) -> None:
    payload = dump(Serializer())
    assert payload[0] == TAG_CALL_PICKLE
    with pytest.raises(SerializationError, match="strict mode only reads msgpack"):
        getattr(Serializer(strict=True), load)(payload)
    assert _unpickled() == 0


def test_strict_refuses_a_pickle_value_payload() -> None:
    payload = Serializer().dump_value(helpers.Explosive(), "value")
    with pytest.raises(SerializationError, match="strict mode only reads msgpack"):
        Serializer(strict=True).load_value(payload)
    assert _unpickled() == 0


# -- signing -----------------------------------------------------------------------------------


def _signed_payloads(serializer: Serializer) -> dict[str, bytes]:
    return {
        "call-reference": serializer.dump_call(helpers.add, {"a": 1, "b": 2}, {})[1],
        "call-pickled-func": serializer.dump_call(helpers.ExplosiveCallable(), {}, {})[1],
        "call-pickled-args": serializer.dump_call(helpers.add, {"a": helpers.Explosive()}, {})[1],
        "value-msgpack": serializer.dump_value({"a": [1, 2]}, "value"),
        "value-pickle": serializer.dump_value(helpers.Explosive(), "value"),
    }


def _load(serializer: Serializer, kind: str, payload: bytes) -> Any:
    if kind.startswith("call"):
        return serializer.load_call(payload)
    return serializer.load_value(payload)


def test_every_payload_is_signed_and_loads_with_the_key() -> None:
    serializer = Serializer(secret_key=KEY)
    payloads = _signed_payloads(serializer)
    for kind, payload in payloads.items():
        assert payload[0] == TAG_SIGNED, kind
        _load(serializer, kind, payload)
    # Control: the pickled payloads ran their hook (proves the counter works).
    assert _unpickled() == 3
    assert serializer.load_call(payloads["call-reference"])[0] is helpers.add


def test_bytes_and_str_keys_are_the_same_key() -> None:
    payload = Serializer(secret_key=KEY).dump_value(1, "value")
    assert Serializer(secret_key=KEY.encode()).load_value(payload) == 1


@pytest.mark.parametrize(
    "kind",
    ["call-reference", "call-pickled-func", "call-pickled-args", "value-msgpack", "value-pickle"],
)
def test_tampering_any_byte_is_refused_before_unpickling(kind: str) -> None:
    serializer = Serializer(secret_key=KEY)
    payload = _signed_payloads(serializer)[kind]
    for position in range(len(payload)):
        tampered = bytearray(payload)
        tampered[position] ^= 0x01
        with pytest.raises(SignatureError):
            _load(serializer, kind, bytes(tampered))
        if kind.startswith("call"):
            with pytest.raises(SignatureError):
                serializer.load_call_arguments(bytes(tampered))
    assert _unpickled() == 0


def test_truncated_or_extended_payload_is_refused() -> None:
    serializer = Serializer(secret_key=KEY)
    payload = serializer.dump_value(helpers.Explosive(), "value")
    for bad in (payload[:-1], payload + b"\x00", payload[:20], payload[:1]):
        with pytest.raises(SignatureError):
            serializer.load_value(bad)
    assert _unpickled() == 0


def test_wrong_key_is_refused_and_never_shown() -> None:
    payloads = _signed_payloads(Serializer(secret_key=KEY))
    other = Serializer(secret_key="not the same key")
    for kind, payload in payloads.items():
        with pytest.raises(SignatureError) as info:
            _load(other, kind, payload)
        assert "refused" in str(info.value)
        assert KEY not in str(info.value)
        assert "not the same key" not in str(info.value)
    assert _unpickled() == 0


def test_unsigned_payload_is_refused_when_a_key_is_set() -> None:
    payloads = _signed_payloads(Serializer())
    signed = Serializer(secret_key=KEY)
    for kind, payload in payloads.items():
        with pytest.raises(SignatureError, match="not signed"):
            _load(signed, kind, payload)
    assert _unpickled() == 0


def test_signed_payload_without_a_key_is_refused() -> None:
    payloads = _signed_payloads(Serializer(secret_key=KEY))
    unsigned = Serializer()
    for kind, payload in payloads.items():
        with pytest.raises(SerializationError, match="secret_key") as info:
            _load(unsigned, kind, payload)
        assert not isinstance(info.value, SignatureError)
    assert _unpickled() == 0


def test_strict_with_key_refuses_a_validly_signed_pickle_payload() -> None:
    payload = Serializer(secret_key=KEY).dump_value(helpers.Explosive(), "value")
    with pytest.raises(SerializationError, match="strict mode only reads msgpack"):
        Serializer(strict=True, secret_key=KEY).load_value(payload)
    assert _unpickled() == 0


def test_signature_covers_the_kind_of_payload() -> None:
    serializer = Serializer(secret_key=KEY)
    value_payload = serializer.dump_value({"a": 1}, "value")
    with pytest.raises(SerializationError, match="expected a call payload"):
        serializer.load_call(value_payload)


@pytest.mark.parametrize("key", ["", b""])
def test_empty_secret_key_is_a_configuration_error(key: str | bytes) -> None:
    with pytest.raises(ConfigurationError):
        Serializer(secret_key=key)


def test_repr_and_properties_do_not_leak_the_key() -> None:
    serializer = Serializer(strict=True, secret_key=KEY)
    assert serializer.strict
    assert serializer.signed
    assert KEY not in repr(serializer)
    assert repr(serializer) == "Serializer(strict=True, signed=True)"
    assert not Serializer().signed
