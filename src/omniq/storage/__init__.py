"""Storage interfaces (task queue, result storage, event storage) and the records they hold.

Also what a backend implementor needs: the :class:`Capabilities` a backend declares, the
optional :class:`Notifier`, :class:`ServerClock` and :class:`StoreProbe`, and
:class:`LoopBridge` for clients bound to one event loop (see the "Writing a backend" page of
the documentation).
"""

from omniq.storage.bridge import BridgedBackend, LoopBridge
from omniq.storage.capabilities import Capabilities
from omniq.storage.interfaces import (
    Backend,
    BlockingEnqueue,
    EventStorage,
    NotificationSink,
    Notifier,
    ResultStorage,
    ServerClock,
    StoreProbe,
    TaskQueue,
)
from omniq.storage.records import CLAIMABLE_STATUSES, ResultRecord, ScheduleRecord, TaskRecord

__all__ = [
    "CLAIMABLE_STATUSES",
    "Backend",
    "BlockingEnqueue",
    "BridgedBackend",
    "Capabilities",
    "EventStorage",
    "LoopBridge",
    "NotificationSink",
    "Notifier",
    "ResultRecord",
    "ResultStorage",
    "ScheduleRecord",
    "ServerClock",
    "StoreProbe",
    "TaskQueue",
    "TaskRecord",
]
