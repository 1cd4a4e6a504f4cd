from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def omniq_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Keep every default database path inside the test's tmp dir."""
    home = tmp_path / "omniq_home"
    monkeypatch.setenv("OMNIQ_HOME", str(home))
    return home
