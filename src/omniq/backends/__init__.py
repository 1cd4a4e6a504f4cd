"""Backends by name, imported lazily so the core installs light.

``create_backend("sqlite", project_name="x")`` imports ``omniq.backends.sqlite`` only then; a
backend whose optional dependency is missing raises
:class:`~omniq.exceptions.MissingDependencyError` naming the extra to install.
"""

from __future__ import annotations

import importlib
from typing import Any

from omniq.backends.mixed import MixedBackend
from omniq.exceptions import ConfigurationError, MissingDependencyError
from omniq.storage.interfaces import Backend

__all__ = ["AVAILABLE_BACKENDS", "PLANNED_BACKENDS", "MixedBackend", "create_backend"]

#: Backend name -> (module, class, pip extra).
AVAILABLE_BACKENDS: dict[str, tuple[str, str, str]] = {
    "memory": ("omniq.backends.memory", "MemoryBackend", ""),
    "sqlite": ("omniq.backends.sqlite", "SQLiteBackend", "sqlite"),
    "postgres": ("omniq.backends.postgres", "PostgresBackend", "postgres"),
    "redis": ("omniq.backends.redis", "RedisBackend", "redis"),
    "nats": ("omniq.backends.nats", "NATSBackend", "nats"),
    "file": ("omniq.backends.file", "FileBackend", "file"),
}

#: Backends named by the documentation that are not built yet (none today; the message
#: for one stays, for the next backend announced before it is built).
PLANNED_BACKENDS: tuple[str, ...] = ()


def create_backend(backend_type: str, project_name: str, **options: Any) -> Backend:
    """Build (but do not initialize) a backend by name.

    Args:
        backend_type: One of :data:`AVAILABLE_BACKENDS`.
        project_name: Namespaces the backend's storage.
        **options: Passed to the backend's constructor.

    Returns:
        The backend instance.

    Raises:
        ConfigurationError: ``backend_type`` is unknown or not built yet.
        MissingDependencyError: The backend's optional dependency is not installed.
    """
    if not isinstance(backend_type, str) or backend_type not in AVAILABLE_BACKENDS:
        allowed = ", ".join(repr(name) for name in sorted(AVAILABLE_BACKENDS))
        if backend_type in PLANNED_BACKENDS:
            raise ConfigurationError(
                f"backend_type {backend_type!r} is planned but not available yet; "
                f"use one of {allowed}"
            )
        raise ConfigurationError(f"backend_type {backend_type!r} is not one of {allowed}")
    module_name, class_name, extra = AVAILABLE_BACKENDS[backend_type]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:  # its extra is not installed
        raise MissingDependencyError(
            f"backend_type {backend_type!r} needs an optional dependency ({exc.name}): "
            f"pip install 'omniq[{extra}]'"
        ) from exc
    backend_class = getattr(module, class_name)
    backend: Backend = backend_class(project_name=project_name, **options)
    return backend
