"""Every error OmniQ raises.

All of them derive from :class:`OmniQError`, so ``except OmniQError`` catches anything the
library raises on purpose. The tree, by layer::

    OmniQError
    ├── ConfigurationError          bad argument or setting (also a ValueError)
    │   └── MissingDependencyError  an optional extra is not installed
    ├── SerializationError          a value cannot be stored or loaded
    │   ├── SignatureError          a stored payload failed HMAC verification
    │   └── FunctionNotAllowedError strict mode: the function is not an allowed task
    ├── BackendError                the storage failed (driver errors are wrapped in it)
    │   ├── StoreUnavailableError   the server cannot be reached now (worth trying again)
    │   └── StoreCorruptedError     the store exists but cannot be read as an OmniQ store
    ├── TaskNotFoundError           no task with that id (also a KeyError)
    ├── ScheduleNotFoundError       no schedule with that id (also a KeyError)
    ├── TaskFailedError             the task failed for good; carries the remote error
    ├── TaskExpiredError            the task's ttl passed before it started
    ├── TaskCancelledError          the task was cancelled before it produced a result
    ├── TaskTimeoutError            an attempt ran longer than the task's timeout (retried)
    ├── ResultExpiredError          the task completed but its result_ttl passed (also KeyError)
    ├── TimeoutError                waiting for a result took too long (also the builtin)
    └── WorkerError                 a worker could not be started or stopped
"""

from __future__ import annotations

import builtins

__all__ = [
    "BackendError",
    "ConfigurationError",
    "FunctionNotAllowedError",
    "MissingDependencyError",
    "OmniQError",
    "ResultExpiredError",
    "ScheduleNotFoundError",
    "SerializationError",
    "SignatureError",
    "StoreCorruptedError",
    "StoreUnavailableError",
    "TaskCancelledError",
    "TaskExpiredError",
    "TaskFailedError",
    "TaskNotFoundError",
    "TaskTimeoutError",
    "TimeoutError",
    "WorkerError",
]


class OmniQError(Exception):
    """Root of every error raised by OmniQ."""


class ConfigurationError(OmniQError, ValueError):
    """An argument or setting has a bad value; the message names it and what was expected."""


class MissingDependencyError(ConfigurationError, ImportError):
    """An optional dependency is missing; the message names the extra to install."""


class SerializationError(OmniQError):
    """A function, argument or result cannot be serialized or deserialized."""


class SignatureError(SerializationError):
    """A stored payload failed HMAC verification and was refused (never unpickled)."""


class FunctionNotAllowedError(SerializationError):
    """Strict mode: the function is neither a registered task nor in an allowed module.

    Raised at enqueue (nothing is stored) and recorded on a stored task that names such a
    function (the task fails without retries, its function is never imported).
    """


class BackendError(OmniQError):
    """The storage backend failed; the driver's own exception is chained as ``__cause__``."""


class StoreUnavailableError(BackendError):
    """The store's server cannot be reached now (refused, dropped, restarting): transient.

    Workers keep trying to record an outcome while its lease lives when they get this
    error, so a short outage does not make a task run twice.
    """


class StoreCorruptedError(BackendError):
    """The store exists but is not a readable OmniQ store (corrupt file, foreign schema...)."""


class TaskNotFoundError(OmniQError, KeyError):
    """No task with the given id exists."""

    def __init__(self, task_id: str) -> None:
        super().__init__(f"no task with id {task_id!r}")
        self.task_id = task_id

    def __str__(self) -> str:
        return str(self.args[0])


class ScheduleNotFoundError(OmniQError, KeyError):
    """No schedule with the given id exists."""

    def __init__(self, schedule_id: str) -> None:
        super().__init__(f"no schedule with id {schedule_id!r}")
        self.schedule_id = schedule_id

    def __str__(self) -> str:
        return str(self.args[0])


class TaskFailedError(OmniQError):
    """The task failed for good (all retries used).

    Attributes:
        task_id: Id of the failed task.
        error_type: Qualified name of the exception raised in the worker.
        error_message: ``str()`` of that exception.
        traceback: The formatted remote traceback, as text.
    """

    def __init__(
        self, task_id: str, error_type: str, error_message: str, traceback: str | None = None
    ) -> None:
        super().__init__(f"task {task_id!r} failed: {error_type}: {error_message}")
        self.task_id = task_id
        self.error_type = error_type
        self.error_message = error_message
        self.traceback = traceback


class TaskExpiredError(OmniQError):
    """The task was not started before its ttl passed, so it never ran."""

    def __init__(self, task_id: str) -> None:
        super().__init__(f"task {task_id!r} expired before it was started")
        self.task_id = task_id


class TaskCancelledError(OmniQError):
    """The task was cancelled, so it has no result."""

    def __init__(self, task_id: str) -> None:
        super().__init__(f"task {task_id!r} was cancelled")
        self.task_id = task_id


class TaskTimeoutError(OmniQError):
    """An attempt ran longer than the task's ``timeout``.

    Raised in the worker, never by ``get_result`` directly: the attempt fails with this error
    and is retried per the task's retry policy; once no retries are left, ``get_result``
    raises :class:`TaskFailedError` with ``error_type`` ``"omniq.exceptions.TaskTimeoutError"``.
    """


class ResultExpiredError(OmniQError, KeyError):
    """The task completed, but its result is no longer stored (its ``result_ttl`` passed)."""

    def __init__(self, task_id: str) -> None:
        super().__init__(f"task {task_id!r} completed but its result expired (result_ttl)")
        self.task_id = task_id

    def __str__(self) -> str:
        return str(self.args[0])


class TimeoutError(OmniQError, builtins.TimeoutError):
    """Waiting took longer than the given timeout. Also a builtin :class:`TimeoutError`."""


class WorkerError(OmniQError):
    """A worker could not be started, or was used in a wrong state."""
