"""Task helpers that report a pid through a file create it whole, never write it in place.

A test polls for such a file and reads it as soon as it exists; a file created first and
written after can be read empty (``invalid literal for int() with base 10: ''``). So each
helper must write a temporary file and rename it into place. An audit hook sees every
``open`` and rename of the call: the file read by the test is never opened for writing.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _executor_tasks
import pytest

from api import worker_type_tasks

#: (event, path, detail) of the opens and renames while a check listens; None: not listening.
_seen: list[tuple[str, str, Any]] | None = None


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _seen is None:
        return
    if event == "open" and isinstance(args[0], str | os.PathLike):
        _seen.append(("open", os.fspath(args[0]), args[1]))
    elif event == "os.rename":
        _seen.append(("rename", os.fspath(args[1]), os.fspath(args[0])))


sys.addaudithook(_audit)  # hooks cannot be removed: it does nothing unless _seen is a list


class Exited(Exception):
    """Raised instead of ending the process, by the patched ``os._exit``."""


@pytest.fixture(autouse=True)
def _no_exit(monkeypatch: pytest.MonkeyPatch) -> None:
    def fake_exit(code: int) -> None:
        raise Exited(code)

    monkeypatch.setattr(worker_type_tasks.os, "_exit", fake_exit)


def _writes_of(path: Path, call: Callable[[], object]) -> list[tuple[str, str, Any]]:
    global _seen
    _seen = []
    try:
        call()
    except Exited:
        pass
    finally:
        seen, _seen = _seen, None
    assert path.read_text() == str(os.getpid())
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]  # none left
    return [entry for entry in seen if entry[1] == str(path)]


@pytest.mark.parametrize(
    ("name", "call"),
    [
        ("mark.pid", lambda d: _executor_tasks.sleep_then_mark(0, str(d / "mark"))),
        ("crashed.pid", lambda d: worker_type_tasks.crash(1, str(d / "crashed.pid"))),
        ("marker", lambda d: worker_type_tasks.crash_once(str(d / "marker"))),
    ],
    ids=["sleep_then_mark", "crash", "crash_once"],
)
def test_pid_file_is_renamed_into_place(
    tmp_path: Path, name: str, call: Callable[[Path], object]
) -> None:
    path = tmp_path / name
    writes = _writes_of(path, lambda: call(tmp_path))
    assert [event for event, _, _ in writes] == ["rename"], writes
