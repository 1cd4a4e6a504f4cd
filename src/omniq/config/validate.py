"""Checks of a typed configuration beyond its types: names, options and values.

Every failure is a :class:`~omniq.exceptions.ConfigurationError` whose message starts with
the key path, e.g. ``task_queue.config.synchronous: ...``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from omniq.backends import create_backend
from omniq.config.schema import (
    ROLES,
    backend_class,
    backend_option_types,
    check_choice,
    quoted,
    worker_option_types,
)
from omniq.core import validation as check
from omniq.exceptions import ConfigurationError
from omniq.models.config import OmniQConfig, TaskDefaultsConfig
from omniq.serialization.allowlist import check_module_names
from omniq.workers.config import WORKER_TYPES, WorkerOptions

__all__ = ["at", "validate_config"]

_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")


def at(path: str, call: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    """Return ``call(*args, **kwargs)``; a ConfigurationError is re-raised prefixed by ``path``."""
    try:
        return call(*args, **kwargs)
    except ConfigurationError as exc:
        raise type(exc)(f"{path}: {exc}") from exc


def validate_config(config: OmniQConfig) -> None:
    """Check everything the types alone do not.

    Backend options are checked against the backend's constructor (unknown option = error),
    and their values by building the backend (which opens nothing).

    Args:
        config: The configuration to check.

    Raises:
        ConfigurationError: The first problem found, prefixed with its key path.
    """
    if not config.project_name:
        raise ConfigurationError("project_name: must not be empty")
    for role in ROLES:
        section = getattr(config, role)
        if section is not None:
            _check_backend(config.project_name, role, section.type, section.config)
    _check_worker(config.worker.type, config.worker.config)
    _check_task_defaults(config.task_defaults)
    level = config.logging.level
    if level is not None and level.upper() not in _LEVELS:
        raise ConfigurationError(f"logging.level: {level!r} is not one of {quoted(_LEVELS)}")
    if config.secret_key is not None and not config.secret_key:
        raise ConfigurationError("secret_key: must not be empty (omit it to disable signing)")
    check_module_names(config.allowed_modules)
    if config.allowed_modules and not config.strict_serialization:
        raise ConfigurationError(
            "allowed_modules: only takes effect with strict_serialization: true; "
            "set it, or drop allowed_modules"
        )


def _check_backend(project_name: str, role: str, kind: str, options: dict[str, Any]) -> None:
    cls = backend_class(kind, f"{role}.type")
    allowed = backend_option_types(cls)
    options = dict(options)
    if role == "task_queue" and "queues" in options:
        _check_queues(options.pop("queues"))
    if allowed is not None:
        unknown = sorted(set(options) - set(allowed))
        if unknown:
            names = {*allowed, "queues"} if role == "task_queue" else set(allowed)
            raise ConfigurationError(
                f"{role}.config.{unknown[0]}: unknown option of backend {kind!r}; "
                f"allowed: {quoted(names)}"
            )
    at("project_name", create_backend, kind, project_name)
    for name, value in options.items():
        at(f"{role}.config.{name}", create_backend, kind, project_name, **{name: value})
    at(f"{role}.config", create_backend, kind, project_name, **options)


def _check_queues(queues: object) -> None:
    if isinstance(queues, str) or not isinstance(queues, list):
        raise ConfigurationError(f"task_queue.config.queues: {queues!r} is not a list of names")
    for index, name in enumerate(queues):
        at(f"task_queue.config.queues[{index}]", check.check_queue_name, name, "queue")
    duplicates = sorted({name for name in queues if queues.count(name) > 1})
    if duplicates:
        raise ConfigurationError(f"task_queue.config.queues: {duplicates[0]!r} is listed twice")


def _check_worker(kind: str, options: dict[str, Any]) -> None:
    check_choice(kind, "worker.type", WORKER_TYPES, ())
    allowed = worker_option_types()
    for name, value in options.items():
        if name not in allowed:
            raise ConfigurationError(
                f"worker.config.{name}: unknown option; allowed: {quoted(allowed)}"
            )
        at(f"worker.config.{name}", WorkerOptions.from_mapping, {name: value})


def _check_task_defaults(defaults: TaskDefaultsConfig) -> None:
    path = "task_defaults"
    for name in ("ttl", "result_ttl", "retry_delay", "retry_max_delay"):
        allow_zero = name.startswith("retry")
        value = getattr(defaults, name)
        at(f"{path}.{name}", check.check_seconds, value, name, allow_zero=allow_zero)
    at(f"{path}.max_retries", check.check_non_negative_int, defaults.max_retries, "max_retries")
    at(f"{path}.retry_backoff", check.check_backoff, defaults.retry_backoff)
