"""Storage interfaces (task queue, result storage, event storage) and the records they hold."""

from omniq.storage.interfaces import (
    Backend,
    BlockingEnqueue,
    EventStorage,
    ResultStorage,
    TaskQueue,
)
from omniq.storage.records import CLAIMABLE_STATUSES, ResultRecord, ScheduleRecord, TaskRecord

__all__ = [
    "CLAIMABLE_STATUSES",
    "Backend",
    "BlockingEnqueue",
    "EventStorage",
    "ResultRecord",
    "ResultStorage",
    "ScheduleRecord",
    "TaskQueue",
    "TaskRecord",
]
