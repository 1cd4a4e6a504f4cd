"""Module-level objects for the serialization tests (importable, so stored by reference)."""

from __future__ import annotations

import types
from typing import Any

CONSTANT = 42

#: How many times an :class:`Explosive` payload was unpickled.
UNPICKLED = {"count": 0}


def add(a: int, b: int) -> int:
    return a + b


def greet(name: str, punctuation: str = "!") -> str:
    return f"hello {name}{punctuation}"


class Adder:
    def __init__(self, base: int = 0) -> None:
        self.base = base

    def __call__(self, a: int) -> int:
        return self.base + a

    @staticmethod
    def static_double(x: int) -> int:
        return 2 * x

    @classmethod
    def class_name(cls) -> str:
        return cls.__name__

    def method(self, a: int) -> int:
        return self.base + a


def make_closure(offset: int) -> Any:
    def shifted(x: int) -> int:
        return x + offset

    return shifted


# Same code, module and name as ``add``, but a different object: ``module:qualname`` resolves
# to ``add``, not to it, so it must be stored by value.
add_lookalike = types.FunctionType(add.__code__, add.__globals__, "add")


def _make_unresolvable() -> Any:
    def unresolvable() -> str:
        return "unresolvable"

    unresolvable.__qualname__ = "does_not_exist"
    return unresolvable


# Its qualname names no attribute of this module.
unresolvable = _make_unresolvable()


def mark_unpickled() -> Explosive:
    UNPICKLED["count"] += 1
    return Explosive()


def mark_unpickled_callable() -> Any:
    UNPICKLED["count"] += 1
    return add


class Explosive:
    """Unpickling one increments ``UNPICKLED['count']``: proves whether pickle.loads ran."""

    def __reduce__(self) -> tuple[Any, tuple[()]]:
        return mark_unpickled, ()


class ExplosiveCallable:
    """A callable object (stored by value) whose unpickling increments the counter."""

    def __call__(self, a: int, b: int) -> int:
        return a + b

    def __reduce__(self) -> tuple[Any, tuple[()]]:
        return mark_unpickled_callable, ()
