"""Task functions the dashboard tests enqueue (importable by a worker)."""

from __future__ import annotations

import pathlib
from typing import Any


def add(a: int, b: int) -> int:
    return a + b


def broken(reason: str) -> None:
    raise ValueError(f"broken on purpose: {reason}")


def echo(value: Any) -> Any:
    return value


class Tripwire:
    """Unpickling one creates ``path``: proof that something loaded the pickle."""

    def __init__(self, path: pathlib.Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (pathlib.Path.touch, (self.path,))


def make_tripwire(path: str) -> Tripwire:
    """A result that is stored pickled (not plain data)."""
    return Tripwire(pathlib.Path(path))
