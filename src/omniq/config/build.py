"""From a configuration to backends, and from a running instance back to its configuration."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Mapping, Sequence
from pathlib import PurePath
from typing import Any

from omniq.backends import AVAILABLE_BACKENDS, create_backend
from omniq.backends.mixed import MixedBackend
from omniq.config.schema import ROLES
from omniq.config.validate import at
from omniq.models.config import (
    EventStoreConfig,
    LoggingConfig,
    OmniQConfig,
    ResultStoreConfig,
    TaskQueueConfig,
    WorkerConfig,
)
from omniq.storage.interfaces import Backend

__all__ = ["apply_logging", "build_backend", "describe", "queues_of", "role_specs"]


def role_specs(config: OmniQConfig) -> list[tuple[str, dict[str, Any]]]:
    """``(backend type, backend options)`` of the task queue, result and event stores.

    A missing result or event store section means the task queue's backend. ``queues`` is
    OmniQ's, not a backend option, so it is left out.
    """
    queue = config.task_queue
    default = (queue.type, {key: value for key, value in queue.config.items() if key != "queues"})
    specs = []
    for role in ROLES:
        section = getattr(config, role)
        if role == "task_queue" or section is None:
            specs.append(default)
        else:
            specs.append((section.type, dict(section.config)))
    return specs


def queues_of(config: OmniQConfig) -> list[str] | None:
    """The queue names of ``task_queue.config.queues``, if set."""
    queues = config.task_queue.config.get("queues")
    return None if queues is None else list(queues)


def build_backend(config: OmniQConfig) -> Backend:
    """Build (but do not open) the storage a configuration describes.

    Roles with the same backend type and options share one instance (one SQLite file, one
    writer thread, in-process wake-ups); if every role shares one, that backend is returned,
    else a :class:`MixedBackend` over them.

    Args:
        config: A validated configuration.

    Returns:
        The backend to give OmniQ.
    """
    made: list[tuple[str, dict[str, Any], Backend]] = []
    chosen: list[Backend] = []
    for role, (kind, options) in zip(ROLES, role_specs(config), strict=True):
        for made_kind, made_options, backend in made:
            if made_kind == kind and made_options == options:
                chosen.append(backend)
                break
        else:
            backend = at(f"{role}.config", create_backend, kind, config.project_name, **options)
            made.append((kind, options, backend))
            chosen.append(backend)
    if len(made) == 1:
        return chosen[0]
    return MixedBackend(chosen[0], chosen[1], chosen[2])


def apply_logging(config: LoggingConfig) -> None:
    """Set the ``omniq`` logger's level if the configuration gives one."""
    if config.level is not None:
        logging.getLogger("omniq").setLevel(config.level.upper())


def describe(
    *,
    project_name: str,
    backend: Backend | None,
    roles: Sequence[object | None],
    queues: Sequence[str],
    worker_type: str,
    worker_config: Mapping[str, Any],
    strict_serialization: bool,
    secret_key: str | bytes | None,
    allowed_modules: Sequence[str] = (),
    backend_options: Mapping[str, Any],
) -> OmniQConfig:
    """The effective configuration of an OmniQ instance, read back from what it holds.

    Backend options are those given plus the backend's attributes named like its
    constructor's parameters (e.g. the resolved ``db_path`` of SQLite). A ready role instance
    not from a known backend is shown as ``type='<ClassName instance>'``.
    """
    backends: Sequence[Backend | None] = (
        backend.roles if isinstance(backend, MixedBackend) else (backend, backend, backend)
    )
    sections: list[tuple[str, dict[str, Any]]] = []
    for index, role in enumerate(roles):
        given = role if role is not None else backends[index]
        sections.append(_describe_store(given, backend_options if given is backend else {}))
    (queue_type, queue_options), (result_type, result_options), (event_type, event_options) = (
        sections
    )
    if isinstance(secret_key, bytes):
        secret_key = secret_key.decode("utf-8", "surrogateescape")
    return OmniQConfig(
        project_name=project_name,
        task_queue=TaskQueueConfig(
            type=queue_type, config={"queues": list(queues), **queue_options}
        ),
        result_store=ResultStoreConfig(type=result_type, config=result_options),
        event_store=EventStoreConfig(type=event_type, config=event_options),
        worker=WorkerConfig(type=worker_type, config=dict(worker_config)),
        strict_serialization=strict_serialization,
        secret_key=secret_key,
        allowed_modules=list(allowed_modules),
    )


def _describe_store(store: object, given: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    cls = type(store)
    names = [
        name
        for name, (module, class_name, _extra) in AVAILABLE_BACKENDS.items()
        if cls.__name__ == class_name and cls.__module__.startswith(module)
    ]
    if not names:
        return f"<{cls.__name__} instance>", {}
    options = dict(given)
    for parameter in inspect.signature(cls).parameters:
        if parameter != "project_name" and hasattr(store, parameter):
            value = getattr(store, parameter)
            options[parameter] = str(value) if isinstance(value, PurePath) else value
    return names[0], options
