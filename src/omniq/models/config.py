"""The typed configuration of an OmniQ instance, shared by every way of configuring it.

Code, objects, dictionaries, YAML files and environment variables all end up as one
:class:`OmniQConfig` (see :mod:`omniq.config` for the loaders and the precedence rule). The
models are frozen msgspec structs: ``config -> to_dict() -> load_config_dict() -> config`` is
the identity. Secrets (``secret_key``, options named like passwords or tokens, passwords in
URLs) are masked when a model is printed or repr'd; ``to_dict()`` keeps them.

Example:
    >>> from omniq.models.config import OmniQConfig, TaskQueueConfig
    >>> config = OmniQConfig(
    ...     project_name="my_project",
    ...     task_queue=TaskQueueConfig(type="sqlite", config={"queues": ["high", "low"]}),
    ... )
"""

from __future__ import annotations

import re
from pathlib import PurePath
from typing import Any

import msgspec
import yaml

__all__ = [
    "EventStoreConfig",
    "LoggingConfig",
    "OmniQConfig",
    "ResultStoreConfig",
    "TaskDefaultsConfig",
    "TaskQueueConfig",
    "WorkerConfig",
    "mask_secrets",
]

#: What a masked secret is shown as.
MASK = "***"
_SECRET_KEY = re.compile(r"password|passwd|secret|token|api_?key|credential", re.IGNORECASE)
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*):[^@/\s]*@")
#: ``password=...`` inside a libpq-style ``key=value`` connection string.
_KV_PASSWORD = re.compile(r"(?P<head>\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)


def mask_secrets(value: Any, key: str = "") -> Any:
    """Return ``value`` with secrets replaced by ``***`` (for printing and logging).

    Args:
        value: A string, mapping, list or other plain value.
        key: The key ``value`` is stored under; a secret-like key (``password``, ``token``,
            ``secret_key``...) masks the whole value.

    Returns:
        A copy with secret-like keys masked and passwords removed from URLs and from
        ``key=value`` connection strings.
    """
    if _SECRET_KEY.search(key) and value is not None:
        return MASK
    if isinstance(value, str):
        masked = _URL_PASSWORD.sub(rf"\g<head>:{MASK}@", value)
        return _KV_PASSWORD.sub(rf"\g<head>{MASK}", masked)
    if isinstance(value, dict):
        return {name: mask_secrets(item, str(name)) for name, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(mask_secrets(item) for item in value)
    return value


class _Model(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Base of the config models: frozen, keyword-only, secrets masked in ``repr``."""

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{name}={mask_secrets(getattr(self, name), name)!r}" for name in self.__struct_fields__
        )
        return f"{type(self).__name__}({fields})"

    def to_dict(self, *, mask: bool = False) -> dict[str, Any]:
        """Return the model as plain data (paths become strings).

        Args:
            mask: Replace secrets by ``***`` (for display; such a dict does not load back to
                the same config).

        Returns:
            Nested dicts, lists and scalars, as in a YAML file.
        """
        data: dict[str, Any] = msgspec.to_builtins(self, enc_hook=_encode)
        return mask_secrets(data) if mask else data


def _encode(value: Any) -> Any:
    if isinstance(value, PurePath):
        return str(value)
    raise NotImplementedError(f"{type(value).__name__} cannot be stored in a configuration")


class TaskQueueConfig(_Model, frozen=True, kw_only=True):
    """Where tasks are stored.

    Attributes:
        type: Backend name: ``"sqlite"`` (default), ``"memory"``, ``"postgres"``,
            ``"redis"``, ``"nats"`` or ``"file"``.
        config: ``queues`` (queue names in service order) and the backend's constructor
            options, e.g. ``db_path``, ``synchronous``, ``busy_timeout`` for SQLite.
    """

    type: str = "sqlite"
    config: dict[str, Any] = {}


class ResultStoreConfig(_Model, frozen=True, kw_only=True):
    """Where results are stored.

    Attributes:
        type: Backend name, as for :class:`TaskQueueConfig`.
        config: The backend's constructor options.
    """

    type: str = "sqlite"
    config: dict[str, Any] = {}


class EventStoreConfig(_Model, frozen=True, kw_only=True):
    """Where lifecycle events are stored.

    Attributes:
        type: Backend name, as for :class:`TaskQueueConfig`.
        config: The backend's constructor options.
    """

    type: str = "sqlite"
    config: dict[str, Any] = {}


class WorkerConfig(_Model, frozen=True, kw_only=True):
    """The worker :meth:`OmniQ.start_worker` starts by default.

    Attributes:
        type: ``"thread_pool"`` (default), ``"async"``, ``"process_pool"`` or ``"gevent"``.
        config: Worker options: ``max_workers``, ``lease_duration``, ``poll_interval``,
            ``grace_period``, ``prefetch_multiplier``, ``all_queues`` (see
            :class:`omniq.workers.WorkerOptions`).
    """

    type: str = "thread_pool"
    config: dict[str, Any] = {}


class TaskDefaultsConfig(_Model, frozen=True, kw_only=True):
    """Defaults for ``enqueue`` options the caller does not pass (durations in seconds).

    Attributes:
        ttl: Expire a task not started this long after it is due (``None``: never).
        result_ttl: Delete results this long after they are stored (``None``: keep).
        max_retries: Retries after a failed attempt.
        retry_delay: Delay before a retry (``None``: retry at once).
        retry_backoff: Multiplier of the delay per retry (from 1 to 100).
        retry_max_delay: Cap of the computed retry delay (``None``: no cap).
    """

    ttl: float | None = None
    result_ttl: float | None = None
    max_retries: int = 3
    retry_delay: float | None = None
    retry_backoff: float = 1.0
    retry_max_delay: float | None = None


class LoggingConfig(_Model, frozen=True, kw_only=True):
    """Logging of the ``omniq`` logger.

    Attributes:
        level: Level set on the ``omniq`` logger (``"DEBUG"``, ``"INFO"``, ``"WARNING"``,
            ``"ERROR"``, ``"CRITICAL"``); ``None`` leaves it alone. No handler is added.
    """

    level: str | None = None


class OmniQConfig(_Model, frozen=True, kw_only=True):
    """The whole configuration of an OmniQ instance.

    Attributes:
        project_name: Namespaces the storage (e.g. names the SQLite file).
        task_queue: The task queue's backend, its options and the queues.
        result_store: The result storage; ``None`` uses the task queue's backend.
        event_store: The event storage; ``None`` uses the task queue's backend.
        worker: The default worker.
        task_defaults: Defaults for ``enqueue`` options.
        logging: Logging settings.
        strict_serialization: Refuse pickle in both directions, and run only allowed
            functions (registered tasks and those of ``allowed_modules``).
        secret_key: Sign every stored payload with HMAC (masked when printed).
        allowed_modules: With ``strict_serialization``, the modules (and their
            submodules) whose functions may be enqueued and run.
    """

    project_name: str
    task_queue: TaskQueueConfig = TaskQueueConfig()
    result_store: ResultStoreConfig | None = None
    event_store: EventStoreConfig | None = None
    worker: WorkerConfig = WorkerConfig()
    task_defaults: TaskDefaultsConfig = TaskDefaultsConfig()
    logging: LoggingConfig = LoggingConfig()
    strict_serialization: bool = False
    secret_key: str | None = None
    allowed_modules: list[str] = []

    def to_yaml(self, *, mask: bool = False) -> str:
        """Return the configuration as a YAML document that loads back to it.

        Args:
            mask: Replace secrets by ``***`` (for display).

        Returns:
            The YAML text.
        """
        return yaml.safe_dump(self.to_dict(mask=mask), sort_keys=False)
