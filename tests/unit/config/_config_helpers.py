"""Shared helpers of the configuration unit tests."""

from __future__ import annotations

import os

import pytest


def clear_omniq_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Remove every OMNIQ_* variable except OMNIQ_HOME (so loaders see only the test's)."""
    for name in list(os.environ):
        if name.startswith("OMNIQ_") and name != "OMNIQ_HOME":
            monkeypatch.delenv(name)
