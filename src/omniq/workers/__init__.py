"""Workers: one claim/lease/retry loop, and executors that differ only in how a body runs.

``GeventTaskExecutor`` lives in :mod:`omniq.workers.gevent_pool`, which imports gevent: it is
not imported here so that the core installs without the ``gevent`` extra.
"""

from omniq.workers.config import WORKER_TYPES, WorkerOptions, check_worker_type, create_executor
from omniq.workers.executors import AsyncExecutor, TaskExecutor, ThreadPoolTaskExecutor
from omniq.workers.lifecycle import TaskRunner
from omniq.workers.process_pool import ProcessPoolTaskExecutor
from omniq.workers.worker import Worker, claim_window, new_worker_id

__all__ = [
    "WORKER_TYPES",
    "AsyncExecutor",
    "ProcessPoolTaskExecutor",
    "TaskExecutor",
    "TaskRunner",
    "ThreadPoolTaskExecutor",
    "Worker",
    "WorkerOptions",
    "check_worker_type",
    "claim_window",
    "create_executor",
    "new_worker_id",
]
