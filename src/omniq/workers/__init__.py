"""Workers: one claim/lease/retry loop, and executors that differ only in how a body runs."""

from omniq.workers.config import WORKER_TYPES, WorkerOptions, create_executor
from omniq.workers.executors import AsyncExecutor, TaskExecutor, ThreadPoolTaskExecutor
from omniq.workers.lifecycle import TaskRunner
from omniq.workers.worker import Worker, new_worker_id

__all__ = [
    "WORKER_TYPES",
    "AsyncExecutor",
    "TaskExecutor",
    "TaskRunner",
    "ThreadPoolTaskExecutor",
    "Worker",
    "WorkerOptions",
    "create_executor",
    "new_worker_id",
]
