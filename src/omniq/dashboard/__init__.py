"""The web dashboard (``omniq dashboard``, the ``omniq[dashboard]`` extra).

See and steer a store from a browser: queues and workers, tasks, failures, schedules, live
charts from the event log. It reads the store through the public admin API and the storage
interfaces (every backend), never loads a pickle, and refuses actions without its token.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from omniq.dashboard.settings import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    TOKEN_ENV,
    DashboardSettings,
    UnsafeBindError,
)

if TYPE_CHECKING:  # the real signatures for type checkers; imported lazily at run time
    from omniq.dashboard.app import create_app
    from omniq.dashboard.server import serve

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "TOKEN_ENV",
    "DashboardSettings",
    "UnsafeBindError",
    "create_app",
    "serve",
]


def __getattr__(name: str) -> object:
    """``create_app`` and ``serve`` import Starlette: only when asked for."""
    if name == "create_app":
        from omniq.dashboard.app import create_app

        return create_app
    if name == "serve":
        from omniq.dashboard.server import serve

        return serve
    raise AttributeError(f"module 'omniq.dashboard' has no attribute {name!r}")
