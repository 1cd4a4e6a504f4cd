from __future__ import annotations

import functools
import pickle
import sys
import time
import types
from collections.abc import Iterator
from typing import Any

import _serialization_helpers as helpers
import pytest

from omniq.exceptions import SerializationError
from omniq.serialization import function_name
from omniq.serialization.functions import dump_function, load_function, resolve_reference

HELPERS = helpers.__name__


@pytest.fixture(autouse=True)
def _reset_unpickled() -> Iterator[None]:
    helpers.UNPICKLED["count"] = 0
    yield
    helpers.UNPICKLED["count"] = 0


def _main_namespace_function(source: str, name: str) -> Any:
    """Define a function as if in a script run as ``__main__``."""
    namespace: dict[str, Any] = {"__name__": "__main__"}
    exec(source, namespace)
    return namespace[name]


# -- function_name -----------------------------------------------------------------------------


def test_name_of_module_function() -> None:
    assert function_name(helpers.add) == f"{HELPERS}:add"


def test_name_of_lambda_in_main() -> None:
    func = _main_namespace_function("f = lambda x: x + 1", "f")
    assert function_name(func) == "__main__:<lambda>"


def test_name_of_lambda_and_closure_here() -> None:
    assert (
        function_name(lambda: None)
        == f"{__name__}:test_name_of_lambda_and_closure_here.<locals>.<lambda>"
    )
    assert function_name(helpers.make_closure(1)) == f"{HELPERS}:make_closure.<locals>.shifted"


def test_name_of_callable_object_is_its_type() -> None:
    assert function_name(helpers.Adder(3)) == f"{HELPERS}:Adder"


def test_name_of_partial_is_the_wrapped_function() -> None:
    partial = functools.partial(helpers.add, 1)
    assert function_name(partial) == f"{HELPERS}:add"
    assert function_name(functools.partial(partial, b=2)) == f"{HELPERS}:add"


def test_name_of_builtins_classes_and_methods() -> None:
    assert function_name(len) == "builtins:len"
    assert function_name([].append) == "builtins:list.append"
    assert function_name(helpers.Adder) == f"{HELPERS}:Adder"
    assert function_name(helpers.Adder.static_double) == f"{HELPERS}:Adder.static_double"
    assert function_name(helpers.Adder(1).method) == f"{HELPERS}:Adder.method"


# -- by reference ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("func", "reference"),
    [
        (helpers.add, f"{HELPERS}:add"),
        (helpers.Adder, f"{HELPERS}:Adder"),
        (helpers.Adder.static_double, f"{HELPERS}:Adder.static_double"),
        (helpers.Adder.class_name, f"{HELPERS}:Adder.class_name"),
        (len, "builtins:len"),
        (functools.reduce, "_functools:reduce"),
    ],
)
def test_importable_callables_are_stored_by_reference(func: Any, reference: str) -> None:
    encoded = dump_function(func)
    assert encoded == reference
    assert dump_function(func, strict=True) == reference
    loaded = load_function(encoded, strict=True)
    assert loaded == func  # class methods are new (equal) bound methods on each access
    if not isinstance(func, types.MethodType):
        assert loaded is func


def test_reference_resolution_is_cached() -> None:
    resolve_reference(f"{HELPERS}:greet")
    before = resolve_reference.cache_info().hits
    assert resolve_reference(f"{HELPERS}:greet") is helpers.greet
    assert resolve_reference.cache_info().hits == before + 1


def test_repeated_dumps_are_cheap() -> None:
    dump_function(helpers.add)
    start = time.perf_counter()
    for _ in range(10_000):
        dump_function(helpers.add)
    # Measured around 2 ms; the bound only catches an accidental import/lookup per call.
    assert time.perf_counter() - start < 0.5


# -- by value ----------------------------------------------------------------------------------


def _round_trip(func: Any) -> Any:
    encoded = dump_function(func)
    assert isinstance(encoded, bytes), f"{function_name(func)} should be stored by value"
    return load_function(encoded)


def test_lambda_is_stored_by_value_and_still_works() -> None:
    assert _round_trip(lambda x, y=10: x * y)(4) == 40


def test_closure_keeps_its_captured_values() -> None:
    loaded = _round_trip(helpers.make_closure(100))
    assert loaded(5) == 105


def test_nested_function_is_stored_by_value() -> None:
    def nested(word: str) -> str:
        return word.upper()

    assert _round_trip(nested)("abc") == "ABC"


def test_partial_is_stored_by_value() -> None:
    loaded = _round_trip(functools.partial(helpers.greet, punctuation="?"))
    assert loaded("bob") == "hello bob?"


def test_callable_object_and_bound_method_are_stored_by_value() -> None:
    assert _round_trip(helpers.Adder(7))(1) == 8
    assert _round_trip(helpers.Adder(7).method)(2) == 9


def test_main_function_is_stored_by_value_even_if_it_resolves(
    monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    func = _main_namespace_function("def triple(x):\n    return 3 * x\n", "triple")
    # Make "__main__:triple" resolvable in this process: it must still not be a reference,
    # since a worker's __main__ is another module.
    monkeypatch.setattr(sys.modules["__main__"], "triple", func, raising=False)
    request.addfinalizer(resolve_reference.cache_clear)
    assert resolve_reference("__main__:triple") is func
    assert _round_trip(func)(5) == 15


def test_function_resolving_to_another_object_is_stored_by_value() -> None:
    assert function_name(helpers.add_lookalike) == f"{HELPERS}:add"
    loaded = _round_trip(helpers.add_lookalike)
    assert loaded is not helpers.add
    assert loaded(2, 3) == 5


def test_function_whose_reference_does_not_resolve_is_stored_by_value() -> None:
    assert _round_trip(helpers.unresolvable)() == "unresolvable"


def test_non_callable_is_refused() -> None:
    with pytest.raises(SerializationError, match="not callable"):
        dump_function(42)  # type: ignore[arg-type]


# -- strict mode -------------------------------------------------------------------------------


def test_strict_refuses_to_dump_a_main_lambda() -> None:
    func = _main_namespace_function("f = lambda: 1", "f")
    with pytest.raises(SerializationError) as info:
        dump_function(func, strict=True)
    message = str(info.value)
    assert "'__main__:<lambda>'" in message
    assert "module level of an importable module" in message


@pytest.mark.parametrize(
    "func",
    [
        lambda: 1,
        helpers.make_closure(1),
        functools.partial(helpers.add, 1),
        helpers.add_lookalike,
        helpers.Adder(1),
    ],
    ids=["lambda", "closure", "partial", "lookalike", "callable-object"],
)
def test_strict_refuses_every_by_value_function(func: Any) -> None:
    with pytest.raises(SerializationError, match="strict mode refuses to pickle") as info:
        dump_function(func, strict=True)
    assert repr(function_name(func)) in str(info.value)


def test_strict_refuses_to_load_a_pickled_function() -> None:
    encoded = dump_function(helpers.ExplosiveCallable())
    assert isinstance(encoded, bytes)
    with pytest.raises(SerializationError, match="refusing to unpickle"):
        load_function(encoded, strict=True)
    assert helpers.UNPICKLED["count"] == 0
    # Control: outside strict mode the very same bytes are unpickled.
    assert load_function(encoded)(1, 2) == 3
    assert helpers.UNPICKLED["count"] == 1


# -- resolution errors -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reference", "detail"),
    [
        ("omniq_no_such_module_xyz:func", "cannot be imported"),
        (f"{HELPERS}:no_such_function", "'no_such_function' not found"),
        (f"{HELPERS}:Adder.no_such_method", "'no_such_method' not found"),
        ("no_colon_here", "expected 'module:qualname'"),
        (f"{HELPERS}:make_closure.<locals>.shifted", "expected 'module:qualname'"),
    ],
)
def test_unknown_reference_names_the_reference(reference: str, detail: str) -> None:
    with pytest.raises(SerializationError) as info:
        load_function(reference)
    assert repr(reference) in str(info.value)
    assert detail in str(info.value)


def test_reference_to_a_non_callable_is_refused() -> None:
    with pytest.raises(SerializationError, match="non-callable"):
        load_function(f"{HELPERS}:CONSTANT")


def test_corrupt_pickled_function_is_a_serialization_error() -> None:
    with pytest.raises(SerializationError, match="stored by value"):
        load_function(b"not a pickle")


def test_pickled_non_callable_is_refused() -> None:
    with pytest.raises(SerializationError, match="non-callable"):
        load_function(pickle.dumps(123))
