"""Functions of ``__main__``: the function itself in the interpreter that stored it, a copy
stored by value elsewhere."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from omniq.serialization import functions
from omniq.serialization.functions import dump_function, load_function

SEEN: list[int] = []


def _main_function(monkeypatch: pytest.MonkeyPatch) -> Any:
    def probe(x: int) -> int:
        SEEN.append(x)
        return x

    probe.__module__ = "__main__"
    probe.__qualname__ = "omniq_probe"
    monkeypatch.setattr(sys.modules["__main__"], "omniq_probe", probe, raising=False)
    return probe


def test_the_interpreter_that_stored_it_gets_the_function_itself(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    probe = _main_function(monkeypatch)
    data = dump_function(probe)
    assert isinstance(data, bytes)
    assert load_function(data) is probe


def test_another_interpreter_gets_the_copy_stored_by_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    probe = _main_function(monkeypatch)
    data = dump_function(probe)
    assert isinstance(data, bytes)
    elsewhere = data.replace(functions._INTERPRETER, b"0" * len(functions._INTERPRETER), 1)
    copy = load_function(elsewhere)
    assert copy is not probe
    assert copy(7) == 7


def test_a_name_rebound_since_is_not_taken_for_the_function(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    probe = _main_function(monkeypatch)
    data = dump_function(probe)
    monkeypatch.setattr(sys.modules["__main__"], "omniq_probe", "not a function")
    assert isinstance(data, bytes)
    copy = load_function(data)
    assert copy is not probe
    assert copy(3) == 3


def test_strict_mode_still_refuses_them(monkeypatch: pytest.MonkeyPatch) -> None:
    probe = _main_function(monkeypatch)
    with pytest.raises(functions.SerializationError, match="strict mode"):
        dump_function(probe, strict=True)
