"""The README's Python examples run and print what their comments say."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)
# A line ``print(...)  # Result: 15`` claims that the program prints ``Result: 15``.
_CLAIM = re.compile(r"^\s*print\(.*\)\s*#\s*(.+)$", re.MULTILINE)


def python_blocks() -> list[str]:
    return _BLOCK.findall(README.read_text(encoding="utf-8"))


def test_the_readme_has_examples() -> None:
    assert python_blocks()


@pytest.mark.parametrize("code", python_blocks())
def test_readme_example_runs_and_prints_its_claims(code: str, tmp_path: Path) -> None:
    script = tmp_path / "example.py"
    script.write_text(code, encoding="utf-8")
    env = {**os.environ, "OMNIQ_HOME": str(tmp_path / "home")}  # default databases go here
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, env=env
    )
    assert done.returncode == 0, done.stderr
    printed = done.stdout.splitlines()
    for claim in _CLAIM.findall(code):
        assert claim.strip() in printed, f"the README claims {claim!r}; it printed {printed}"
