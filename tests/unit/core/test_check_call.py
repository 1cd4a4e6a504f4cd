"""check_call accepts exactly the keyword calls that binding the signature accepts."""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Callable
from typing import Any

import pytest

from omniq.core.validation import check_call
from omniq.exceptions import ConfigurationError


def plain(a: int, b: int = 1) -> None: ...
def keyword_only(a: int, *, c: int, d: int = 0) -> None: ...
def catch_all(a: int, **rest: Any) -> None: ...
def starred(*args: Any, a: int) -> None: ...
def positional_only(a: int, /, b: int = 0) -> None: ...
def nothing() -> None: ...


@pytest.mark.parametrize(
    "func", [plain, keyword_only, catch_all, starred, positional_only, nothing, dict.fromkeys]
)
def test_the_verdict_is_that_of_signature_bind(func: Callable[..., Any]) -> None:
    names = ["a", "b", "c", "d", "z"]
    for size in range(len(names) + 1):
        for chosen in itertools.combinations(names, size):
            arguments = dict.fromkeys(chosen, 1)
            try:
                inspect.signature(func).bind(**arguments)
                expected = True
            except TypeError:
                expected = False
            except ValueError:  # no signature: anything is accepted
                expected = True
            for _ in range(2):  # the second call uses what the first remembered
                try:
                    check_call(func, arguments)
                    accepted = True
                except ConfigurationError:
                    accepted = False
                assert accepted == expected, (func, arguments)
