"""OmniQ: an async-first task queue with a sync API, embedded SQLite by default.

Example:
    >>> from omniq import OmniQ
    >>> with OmniQ(project_name="demo", backend_type="memory") as oq:
    ...     oq.start_worker(worker_type="thread_pool", max_workers=2)
    ...     oq.get_result(oq.enqueue(func=pow, func_args={"base": 2, "exp": 10}))
    1024
"""

from omniq._version import __version__
from omniq.api import OmniQ
from omniq.exceptions import (
    BackendError,
    ConfigurationError,
    OmniQError,
    ResultExpiredError,
    SerializationError,
    StoreCorruptedError,
    TaskCancelledError,
    TaskExpiredError,
    TaskFailedError,
    TaskNotFoundError,
    TaskTimeoutError,
    TimeoutError,
)
from omniq.models import EventType, Task, TaskEvent, TaskStatus

__all__ = [
    "BackendError",
    "ConfigurationError",
    "EventType",
    "OmniQ",
    "OmniQError",
    "ResultExpiredError",
    "SerializationError",
    "StoreCorruptedError",
    "Task",
    "TaskCancelledError",
    "TaskEvent",
    "TaskExpiredError",
    "TaskFailedError",
    "TaskNotFoundError",
    "TaskStatus",
    "TaskTimeoutError",
    "TimeoutError",
    "__version__",
]
