"""Headers (the trace context) stored with a call: optional, signed, read back."""

from __future__ import annotations

import pytest

from omniq import SerializationError
from omniq.exceptions import SignatureError
from omniq.serialization import Serializer
from omniq.serialization.values import encode_msgpack

from . import jobs

HEADERS = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}


@pytest.mark.parametrize(
    "serializer",
    [Serializer(), Serializer(strict=True, allowed_modules=[jobs.__name__]),
     Serializer(secret_key="k")],
    ids=["plain", "strict", "signed"],
)  # fmt: skip
def test_headers_round_trip_and_a_call_without_them_has_none(serializer: Serializer) -> None:
    _, payload = serializer.dump_call(jobs.add, {"x": 1}, {"y": 2}, HEADERS)
    func, args, kwargs, headers = serializer.load_call_with_headers(payload)
    assert (func, args, kwargs, headers) == (jobs.add, {"x": 1}, {"y": 2}, HEADERS)
    assert serializer.load_call(payload) == (jobs.add, {"x": 1}, {"y": 2})
    assert serializer.load_call_arguments(payload) == ({"x": 1}, {"y": 2})
    for empty in (None, {}):
        _, plain = serializer.dump_call(jobs.add, {"x": 1}, {"y": 2}, empty)
        assert serializer.load_call_with_headers(plain)[3] is None


def test_headers_ride_along_pickled_arguments_and_functions() -> None:
    serializer = Serializer()
    arguments = {"values": {1, 2}}  # a set is not plain: the arguments are pickled
    _, payload = serializer.dump_call(lambda values: values, arguments, {}, HEADERS)
    func, args, _, headers = serializer.load_call_with_headers(payload)
    assert (func(**args), headers) == ({1, 2}, HEADERS)


def test_the_signature_covers_the_headers() -> None:
    serializer = Serializer(secret_key="k")
    _, payload = serializer.dump_call(jobs.add, {"x": 1, "y": 2}, {}, HEADERS)
    tampered = payload.replace(b"b7ad6b7169203331", b"b7ad6b7169203332")
    assert tampered != payload
    with pytest.raises(SignatureError):
        serializer.load_call_with_headers(tampered)


def test_bad_headers_are_refused_both_ways() -> None:
    serializer = Serializer()
    with pytest.raises(SerializationError, match="'traceparent': 7 is not a pair of strings"):
        serializer.dump_call(jobs.add, {"x": 1, "y": 2}, {}, {"traceparent": 7})  # type: ignore[dict-item]
    reference = f"{jobs.__name__}:add"
    for frame in ([reference, {}, {}, {"a": 1}], [reference, {}, {}, "x"]):
        with pytest.raises(SerializationError, match="headers are not a map of strings"):
            serializer.load_call_with_headers(b"\x11" + encode_msgpack(frame))
    with pytest.raises(SerializationError, match="expected \\[func, args, kwargs\\]"):
        serializer.load_call_with_headers(b"\x11" + encode_msgpack([reference, {}, {}, {}, {}]))
