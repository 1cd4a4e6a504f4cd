"""What each configuration section accepts: sections, backend types, backend and worker options.

Backend options are read from the backend class's constructor, so a new option is accepted
(and typed) as soon as the backend has it.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import typing
from typing import Any

import msgspec

from omniq.backends import AVAILABLE_BACKENDS, PLANNED_BACKENDS
from omniq.exceptions import ConfigurationError, MissingDependencyError
from omniq.models.config import (
    EventStoreConfig,
    ResultStoreConfig,
    TaskQueueConfig,
    WorkerConfig,
)
from omniq.workers.config import WORKER_TYPES, WorkerOptions

__all__ = [
    "ROLES",
    "SECTIONS",
    "backend_class",
    "backend_option_types",
    "check_choice",
    "field_types",
    "option_types",
    "quoted",
    "worker_option_types",
]

#: The storage roles, in the order OmniQ takes them.
ROLES = ("task_queue", "result_store", "event_store")
#: Sections with a ``type`` and a ``config`` mapping.
SECTIONS: dict[str, type[msgspec.Struct]] = {
    "task_queue": TaskQueueConfig,
    "result_store": ResultStoreConfig,
    "event_store": EventStoreConfig,
    "worker": WorkerConfig,
}


def quoted(names: typing.Iterable[str]) -> str:
    """``'a', 'b', 'c'`` (sorted)."""
    return ", ".join(repr(name) for name in sorted(names))


def field_types(model: type[msgspec.Struct]) -> dict[str, Any]:
    """Field name -> type of a config model."""
    return {field.name: field.type for field in msgspec.structs.fields(model)}


def check_choice(value: str, path: str, available: typing.Iterable[str], planned: Any) -> None:
    """Raise unless ``value`` is available; planned values get their own message.

    Args:
        value: The configured name.
        path: Its key path, e.g. ``task_queue.type``.
        available: Names that work today.
        planned: Names documented but not built yet.

    Raises:
        ConfigurationError: ``value`` is not available.
    """
    if value in available:
        return
    if value in planned:
        raise ConfigurationError(
            f"{path}: {value!r} is planned, not available yet; available: {quoted(available)}"
        )
    later = f" (planned, not available yet: {quoted(planned)})" if planned else ""
    raise ConfigurationError(f"{path}: {value!r} is not one of {quoted(available)}{later}")


def backend_class(backend_type: str, path: str) -> type:
    """Import and return the class of an available backend.

    Raises:
        ConfigurationError: Unknown or planned type.
        MissingDependencyError: The backend's optional dependency is not installed.
    """
    check_choice(backend_type, path, AVAILABLE_BACKENDS, PLANNED_BACKENDS)
    module_name, class_name, extra = AVAILABLE_BACKENDS[backend_type]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:  # pragma: no cover - only with a broken install
        raise MissingDependencyError(
            f"{path}: {backend_type!r} needs an optional dependency ({exc.name}): "
            f"pip install 'omniq[{extra}]'"
        ) from exc
    found: type = getattr(module, class_name)
    return found


def backend_option_types(cls: type) -> dict[str, Any] | None:
    """Constructor option -> type of a backend class (``None``: it takes any ``**kwargs``)."""
    signature = inspect.signature(cls)
    try:
        hints = typing.get_type_hints(cls.__init__)  # type: ignore[misc]
    except Exception:  # unresolvable annotations: accept any value type
        hints = {}
    options: dict[str, Any] = {}
    for name, parameter in signature.parameters.items():
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            return None
        if name == "project_name" or parameter.kind is inspect.Parameter.VAR_POSITIONAL:
            continue
        options[name] = hints.get(name, Any)
    return options


def worker_option_types() -> dict[str, Any]:
    """Worker option -> type (from :class:`~omniq.workers.WorkerOptions`)."""
    hints = typing.get_type_hints(WorkerOptions)
    return {field.name: hints[field.name] for field in dataclasses.fields(WorkerOptions)}


def option_types(section: str, section_type: object) -> dict[str, Any]:
    """Option -> type of a section's ``config`` mapping, as far as it is known.

    Args:
        section: ``task_queue``, ``result_store``, ``event_store`` or ``worker``.
        section_type: The section's ``type``.

    Returns:
        The known options (empty for an unknown type; options of a backend taking any
        ``**kwargs`` are missing).
    """
    if section == "worker":
        return worker_option_types() if section_type in WORKER_TYPES else {}
    options: dict[str, Any] = {"queues": list[str]} if section == "task_queue" else {}
    if isinstance(section_type, str) and section_type in AVAILABLE_BACKENDS:
        try:
            cls = backend_class(section_type, f"{section}.type")
        except ConfigurationError:  # pragma: no cover - missing dependency
            return options
        options.update(backend_option_types(cls) or {})
    return options
