"""The ``OmniQ`` facade: enqueue, run, and fetch back, with sync and async twins."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from omniq.api.admin import AdminMethods
from omniq.api.enqueue import EnqueueMethods
from omniq.api.results import ResultMethods
from omniq.api.schedules import ScheduleMethods
from omniq.backends import create_backend
from omniq.backends.mixed import MixedBackend
from omniq.config import check_config, load_config_dict, load_config_env, load_config_file
from omniq.config.build import apply_logging, build_backend, describe, queues_of
from omniq.core import validation as check
from omniq.core.notify import channel
from omniq.core.task_builder import DEFAULT_QUEUE
from omniq.exceptions import ConfigurationError
from omniq.models.config import OmniQConfig
from omniq.serialization import Serializer
from omniq.serialization.allowlist import check_module_names
from omniq.storage.interfaces import Backend, EventStorage, ResultStorage, TaskQueue
from omniq.workers.config import WorkerOptions, check_worker_type

__all__ = ["DEFAULT_QUEUE", "OmniQ"]

F = TypeVar("F", bound=Callable[..., Any])


class OmniQ(EnqueueMethods, ResultMethods, ScheduleMethods, AdminMethods):
    """A task queue: enqueue callables, run them with a worker, fetch results and events.

    Every method has an async twin (``enqueue`` / ``enqueue_async``...). The async ones hold
    the logic; the sync ones run them on one long-lived event-loop thread, so they work from
    scripts, threads and code that already runs an event loop. The instance opens its storage
    on first use; use it as a (sync or async) context manager to also close it.

    Args:
        project_name: Namespaces the storage (e.g. names the SQLite file).
        backend_type: ``"sqlite"`` (default), ``"memory"``, ``"postgres"``, ``"redis"``,
            ``"nats"`` or ``"file"``.
        backend: A ready backend instance instead of ``backend_type`` (not closed by OmniQ).
        task_queue: Use this task queue instead of the backend's.
        result_store: Use this result storage instead of the backend's.
        event_store: Use this event storage instead of the backend's.
        queues: Queue names in service order (first served first). ``"default"`` is always
            served, last unless listed. Enqueueing to an unlisted queue declares it (served
            after the listed ones, in order of first use) in this instance.
        worker_type: Default worker type for :meth:`start_worker`: ``"thread_pool"``
            (default), ``"async"``, ``"process_pool"`` or ``"gevent"`` (the last one only in
            a process started by ``python -m omniq.workers.gevent_main``).
        worker_config: Default worker options (see :class:`omniq.workers.WorkerOptions`).
        strict_serialization: Refuse pickle in both directions, and store and run only
            allowed functions: those registered with :meth:`task` and those defined in
            ``allowed_modules`` (see :mod:`omniq.serialization`).
        secret_key: Sign every stored payload with HMAC and refuse any that fails
            verification.
        allowed_modules: With ``strict_serialization``, the modules (and their
            submodules) whose functions may be enqueued and run, e.g. ``["shop.tasks"]``.
        **kwargs: Passed to the backend constructor, e.g. ``db_path=`` or ``synchronous=``
            for SQLite.

    Raises:
        ConfigurationError: A bad argument; the message names it and what was expected.

    Example:
        >>> with OmniQ(project_name="demo", backend_type="memory") as oq:
        ...     oq.start_worker(worker_type="thread_pool", max_workers=2)
        ...     task_id = oq.enqueue(func=pow, func_args={"base": 2, "exp": 10})
        ...     oq.get_result(task_id)
        1024
    """

    def __init__(
        self,
        project_name: str,
        backend_type: str | None = None,
        backend: Backend | None = None,
        task_queue: TaskQueue | None = None,
        result_store: ResultStorage | None = None,
        event_store: EventStorage | None = None,
        queues: Sequence[str] | None = None,
        worker_type: str | None = None,
        worker_config: Mapping[str, Any] | None = None,
        *,
        strict_serialization: bool = False,
        secret_key: str | bytes | None = None,
        allowed_modules: Iterable[str] | None = None,
        **kwargs: Any,
    ) -> None:
        if not isinstance(project_name, str) or not project_name:
            raise ConfigurationError(f"project_name {project_name!r} is not a non-empty string")
        self.project_name = project_name
        if backend is not None and backend_type is not None:
            raise ConfigurationError(
                f"backend {backend!r} and backend_type {backend_type!r} were both given: "
                "expected one"
            )
        if backend is None and None in (task_queue, result_store, event_store):
            backend = create_backend(backend_type or "sqlite", project_name, **kwargs)
            self._owns_backend = True
        else:
            if kwargs:
                raise ConfigurationError(
                    f"backend option {sorted(kwargs)[0]!r} was given with a ready backend: "
                    "pass options to the backend's constructor instead"
                )
            self._owns_backend = False
        self.backend = backend
        self._roles = (task_queue, result_store, event_store)
        self._channel = channel(backend.channel if backend else f"omniq:{id(self)}")
        declared = _queue_list(queues)
        self._queues = declared if DEFAULT_QUEUE in declared else [*declared, DEFAULT_QUEUE]
        if worker_type is not None:
            check_worker_type(worker_type)
        self.worker_type = worker_type or "thread_pool"
        self.worker_config = dict(worker_config or {})
        WorkerOptions.from_mapping(self.worker_config)
        if not isinstance(strict_serialization, bool):
            raise ConfigurationError(
                f"strict_serialization {strict_serialization!r} is not True or False"
            )
        if secret_key is not None and (not isinstance(secret_key, str | bytes) or not secret_key):
            raise ConfigurationError("secret_key is not a non-empty str or bytes")
        modules = check_module_names(() if allowed_modules is None else allowed_modules)
        if modules and not strict_serialization:
            raise ConfigurationError(
                f"allowed_modules {list(modules)!r} only takes effect with "
                "strict_serialization=True: set it, or drop allowed_modules"
            )
        self.serializer = Serializer(
            strict=strict_serialization, secret_key=secret_key, allowed_modules=modules
        )
        self._config = describe(
            project_name=project_name, backend=backend, roles=self._roles,
            queues=declared, worker_type=self.worker_type,
            worker_config=self.worker_config, strict_serialization=strict_serialization,
            secret_key=secret_key, allowed_modules=modules, backend_options=kwargs,
        )  # fmt: skip
        self._init_lifecycle()

    # -- configuration --------------------------------------------------------------------

    @property
    def config(self) -> OmniQConfig:
        """The effective configuration; secrets are masked when it is printed.

        Backend options are read back from the backends (e.g. SQLite's resolved
        ``db_path``), so ``OmniQ.from_config(oq.config)`` builds the same setup.
        """
        return self._config

    @classmethod
    def from_config(cls, config: OmniQConfig) -> OmniQ:
        """Create an instance from a configuration object.

        Storage roles with the same backend type and options share one backend instance;
        different ones get their own (e.g. the queue in SQLite, the results in memory). The
        instance closes the backends it builds. See :mod:`omniq.config` for precedence.

        Args:
            config: The configuration (validated here).

        Returns:
            A new OmniQ instance.

        Raises:
            ConfigurationError: A bad setting; the message starts with its key path.
        """
        config = check_config(config)
        instance = cls(
            config.project_name, backend=build_backend(config), queues=queues_of(config),
            worker_type=config.worker.type, worker_config=config.worker.config,
            strict_serialization=config.strict_serialization, secret_key=config.secret_key,
            allowed_modules=config.allowed_modules,
        )  # fmt: skip
        instance._owns_backend = True
        instance._config = msgspec.structs.replace(
            instance._config, task_defaults=config.task_defaults, logging=config.logging
        )
        apply_logging(config.logging)
        return instance

    @classmethod
    def from_config_dict(cls, config: Mapping[str, Any]) -> OmniQ:
        """Create an instance from a configuration dictionary (shaped like the YAML file).

        Args:
            config: The settings, e.g. ``{"project_name": "p", "task_queue": {"type":
                "sqlite", "config": {"queues": ["high", "low"]}}}``.

        Returns:
            A new OmniQ instance.

        Raises:
            ConfigurationError: Unknown key, bad type or value, named by its key path.
        """
        return cls.from_config(load_config_dict(config))

    @classmethod
    def from_config_file(
        cls, config_path: str | Path, env_vars: bool = False, **kwargs: Any
    ) -> OmniQ:
        """Create an instance from a YAML file, the environment and overrides.

        Precedence: defaults < file < ``OMNIQ_*`` environment variables < ``kwargs``.

        Args:
            config_path: The YAML file.
            env_vars: Replace ``${VAR}`` and ``${VAR:-default}`` in the file's values.
            **kwargs: Overrides: top-level keys (``project_name``, ``worker={...}``...) or
                constructor names (``backend_type``, ``queues``, ``worker_type``,
                ``worker_config``).

        Returns:
            A new OmniQ instance.

        Raises:
            ConfigurationError: Missing file, malformed YAML (with its line), unset
                variable, or a bad setting; the message names the file and the key path.
        """
        return cls.from_config(load_config_file(config_path, env_vars, **kwargs))

    @classmethod
    def from_env(cls, prefix: str = "OMNIQ_") -> OmniQ:
        """Create an instance from environment variables.

        ``OMNIQ_PROJECT_NAME``, ``OMNIQ_TASK_QUEUE_TYPE``,
        ``OMNIQ_TASK_QUEUE_CONFIG_QUEUES=high,medium,low``, ``OMNIQ_WORKER_CONFIG_MAX_WORKERS``
        ... (see :mod:`omniq.config.env`); values get the configuration's types.

        Args:
            prefix: The prefix of the variable names.

        Returns:
            A new OmniQ instance.

        Raises:
            ConfigurationError: A bad or missing variable, named in the message.
        """
        return cls.from_config(load_config_env(prefix))

    @classmethod
    def from_backend(
        cls,
        backend: Backend,
        result_store_backend: Backend | None = None,
        event_store_backend: Backend | None = None,
        worker_type: str | None = None,
        worker_config: Mapping[str, Any] | None = None,
        queues: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> OmniQ:
        """Create an instance on ready backends (which it does not close).

        Args:
            backend: The backend of the task queue (and of the other roles by default).
            result_store_backend: The backend whose result storage to use.
            event_store_backend: The backend whose event storage to use.
            worker_type: Default worker type.
            worker_config: Default worker options.
            queues: Queue names in service order.
            **kwargs: ``project_name`` (default: the backend's), ``strict_serialization``,
                ``secret_key``, ``allowed_modules``.

        Returns:
            A new OmniQ instance.
        """
        project_name = kwargs.pop("project_name", None) or getattr(backend, "project_name", None)
        if not isinstance(project_name, str) or not project_name:
            raise ConfigurationError(f"backend {backend!r} has no project_name: pass one")
        results = backend if result_store_backend is None else result_store_backend
        events = backend if event_store_backend is None else event_store_backend
        store = backend
        if results is not backend or events is not backend:
            store = MixedBackend(backend, results, events)
        return cls(
            project_name, backend=store, queues=queues, worker_type=worker_type,
            worker_config=worker_config, **kwargs,
        )  # fmt: skip

    # -- allowed tasks ----------------------------------------------------------------------

    def task(self, func: F) -> F:
        """Register ``func`` as a task this instance may enqueue and run in strict mode.

        Usable as a decorator (``@oq.task``); returns ``func`` unchanged. In strict mode a
        worker runs only registered tasks and functions of ``allowed_modules``; a stored
        call naming anything else fails with
        :class:`~omniq.exceptions.FunctionNotAllowedError`. A worker in another process
        must register the same functions (import the module that registers them), or list
        their module in ``allowed_modules``. Outside strict mode registering changes
        nothing.

        Args:
            func: A module-level function (or class, static or class method) of an
                importable module.

        Returns:
            ``func`` itself.

        Raises:
            SerializationError: ``func`` cannot be stored by reference (a lambda, closure,
                nested or ``__main__`` function...); the message names it.

        Example:
            >>> import textwrap
            >>> oq = OmniQ(project_name="shop", backend_type="memory",
            ...            strict_serialization=True)
            >>> oq.task(textwrap.shorten) is textwrap.shorten
            True
        """
        self.serializer.register(func)
        return func

    # -- lifecycle ------------------------------------------------------------------------
    @property
    def queues(self) -> list[str]:
        """Queue names in service order.

        The listed ones, then ``"default"`` (unless listed), then undeclared queues in order
        of first use by ``enqueue``.
        """
        return list(self._queues)

    def __repr__(self) -> str:
        store = self.backend if self.backend is not None else self.task_queue
        return f"OmniQ(project_name={self.project_name!r}, backend={store!r})"


def _queue_list(queues: Sequence[str] | None) -> list[str]:
    if queues is None:
        return [DEFAULT_QUEUE]
    if isinstance(queues, str) or not isinstance(queues, Sequence):
        raise ConfigurationError(f"queues {queues!r} is not a list of queue names")
    names = [check.check_queue_name(name, "queue name") for name in queues]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ConfigurationError(f"queue {duplicates[0]!r} is listed more than once in queues")
    return names
