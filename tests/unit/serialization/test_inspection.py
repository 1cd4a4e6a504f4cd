"""Reading payloads for display: pickles are described, never loaded; bad ones are marked."""

from __future__ import annotations

import os
import pickle

import _serialization_helpers as helpers
import pytest

from omniq.exceptions import SerializationError
from omniq.serialization import Serializer
from omniq.serialization.inspection import PICKLED, UNREADABLE, Pickled, describe_pickle


class _Trap:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("true",))


@pytest.fixture(autouse=True)
def _reset_unpickled() -> None:
    helpers.UNPICKLED["count"] = 0


def test_describe_names_the_globals_without_loading() -> None:
    for protocol in (0, 2, pickle.HIGHEST_PROTOCOL):
        described = describe_pickle(pickle.dumps(_Trap(), protocol=protocol))
        assert described.refers_to is not None
        assert any(name.endswith(".system") for name in described.refers_to), described
    assert describe_pickle(b"\x80\x05garbage").refers_to is None
    assert repr(Pickled(12, ())) == "<pickled, not loaded: 12 bytes>"


def test_a_display_serializer_never_unpickles() -> None:
    lax = Serializer()
    _, call = lax.dump_call(helpers.add, {"a": helpers.Explosive()}, {})
    value = lax.dump_value(helpers.Explosive(), "value")
    display = lax.for_display()
    args, kwargs = display.load_call_arguments(call)
    assert list(args) == [PICKLED]
    assert isinstance(args[PICKLED], Pickled)
    assert kwargs == {}
    assert isinstance(display.load_value(value), Pickled)
    assert helpers.UNPICKLED["count"] == 0
    with pytest.raises(SerializationError, match="display"):
        display.load_call(call)
    display.for_display(unpickle=True).load_value(value)
    assert helpers.UNPICKLED["count"] == 1


def test_unreadable_arguments_are_marked_not_raised() -> None:
    _, call = Serializer(secret_key="k").dump_call(helpers.add, {"a": 1}, {})
    args, _ = Serializer(secret_key="other").for_display().load_call_arguments(call)
    assert "SignatureError" in repr(args[UNREADABLE])
    args, _ = Serializer().for_display().load_call_arguments(b"\x99junk")
    assert "unknown payload format tag 0x99" in repr(args[UNREADABLE])
