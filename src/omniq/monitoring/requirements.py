"""Importing prometheus-client when metrics are asked for, with an error naming the extra."""

from __future__ import annotations

from typing import Any

from omniq.exceptions import MissingDependencyError

__all__ = ["prometheus_client"]


def prometheus_client() -> Any:
    """The ``prometheus_client`` module.

    Raises:
        MissingDependencyError: It is not installed (``pip install 'omniq[metrics]'``).
    """
    try:
        import prometheus_client as module
    except ImportError as exc:
        raise MissingDependencyError(
            "Prometheus metrics need prometheus-client, which is not installed: "
            "pip install 'omniq[metrics]'"
        ) from exc
    return module
