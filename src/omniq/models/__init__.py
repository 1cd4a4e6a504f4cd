"""Data models of the public API: tasks, events, schedules and queue statistics."""

from omniq.models.event import EventType, TaskEvent
from omniq.models.schedule import Schedule, ScheduleStatus, ScheduleType
from omniq.models.stats import PurgeReport, QueueStats, Stats, WorkerInfo
from omniq.models.task import Task, TaskError, TaskStatus

__all__ = [
    "EventType",
    "PurgeReport",
    "QueueStats",
    "Schedule",
    "ScheduleStatus",
    "ScheduleType",
    "Stats",
    "Task",
    "TaskError",
    "TaskEvent",
    "TaskStatus",
    "WorkerInfo",
]
