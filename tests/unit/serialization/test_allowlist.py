"""Strict mode's allow-list: registered tasks and allowed modules, nothing else."""

from __future__ import annotations

import json
import sys
import textwrap

import _serialization_helpers as helpers
import msgspec
import pytest

from omniq.exceptions import ConfigurationError, FunctionNotAllowedError, SerializationError
from omniq.serialization import Serializer
from omniq.serialization.allowlist import AllowList

HELPERS = helpers.__name__


def _call(reference: str, **kwargs: object) -> bytes:
    """A call payload naming ``reference``, as any store writer can write it (no pickle)."""
    return bytes([0x11]) + msgspec.msgpack.encode([reference, kwargs, {}])


@pytest.mark.parametrize(
    "reference",
    ["os:system", "subprocess:run", "builtins:exec", "builtins:eval", "posix:system"],
)
def test_strict_load_refuses_functions_nobody_allowed(reference: str) -> None:
    strict = Serializer(strict=True, allowed_modules=[HELPERS])
    with pytest.raises(FunctionNotAllowedError) as info:
        strict.load_call(_call(reference, command="touch /tmp/omniq-owned"))
    assert repr(reference) in str(info.value)
    assert "allowed_modules" in str(info.value)


def test_a_refused_module_is_never_imported() -> None:
    name = "omniq_test_module_that_does_not_exist"
    with pytest.raises(FunctionNotAllowedError):
        Serializer(strict=True).load_call(_call(f"{name}:run"))
    assert name not in sys.modules


def test_allowed_module_and_its_submodules_but_not_lookalikes() -> None:
    allowed = AllowList(["json"])
    assert allowed.load("json:dumps") is json.dumps
    assert allowed.load("json.decoder:JSONDecoder") is json.decoder.JSONDecoder
    for reference in ("jsonschema:validate", "textwrap:shorten"):
        with pytest.raises(FunctionNotAllowedError):
            allowed.load(reference)


def test_a_name_reexported_by_an_allowed_module_is_refused() -> None:
    # textwrap does `import re`: "textwrap:re.compile" resolves to re.compile.
    allowed = AllowList(["textwrap"])
    with pytest.raises(FunctionNotAllowedError, match="of module 're'"):
        allowed.load("textwrap:re.compile")


def test_dunder_attributes_are_refused() -> None:
    allowed = AllowList([HELPERS])
    with pytest.raises(FunctionNotAllowedError, match="dunder"):
        allowed.load(f"{HELPERS}:add.__call__")


def test_registered_functions_are_allowed_without_their_module() -> None:
    strict = Serializer(strict=True)
    with pytest.raises(FunctionNotAllowedError):
        strict.dump_call(textwrap.shorten, {"text": "a b", "width": 10}, {})
    assert strict.register(textwrap.shorten) == "textwrap:shorten"
    _, payload = strict.dump_call(textwrap.shorten, {"text": "a b", "width": 10}, {})
    assert strict.load_call(payload)[0] is textwrap.shorten
    with pytest.raises(FunctionNotAllowedError):
        strict.load_call(_call("textwrap:dedent", text="x"))


def test_strict_dump_refuses_what_a_worker_would_refuse() -> None:
    with pytest.raises(FunctionNotAllowedError, match="'_serialization_helpers:add'"):
        Serializer(strict=True).dump_call(helpers.add, {"a": 1, "b": 2}, {})
    _, payload = Serializer(strict=True, allowed_modules=[HELPERS]).dump_call(
        helpers.add, {"a": 1, "b": 2}, {}
    )
    assert Serializer(strict=True, allowed_modules=[HELPERS]).load_call(payload)[0] is helpers.add


def test_lax_mode_is_unchanged() -> None:
    assert Serializer().load_call(_call("textwrap:shorten", text="a", width=9))[0] is (
        textwrap.shorten
    )


def test_registering_a_lambda_is_refused() -> None:
    with pytest.raises(SerializationError, match="<lambda>"):
        AllowList().register(lambda: 1)


@pytest.mark.parametrize("modules", ["shop.tasks", ["shop tasks"], ["shop.tasks\n"], [1], None])
def test_bad_module_lists_are_refused(modules: object) -> None:
    with pytest.raises(ConfigurationError, match="allowed_modules"):
        AllowList(modules)  # type: ignore[arg-type]
