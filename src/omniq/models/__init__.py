"""Data models of the public API: tasks, events and results."""

from omniq.models.event import EventType, TaskEvent
from omniq.models.schedule import Schedule, ScheduleStatus, ScheduleType
from omniq.models.task import Task, TaskError, TaskStatus

__all__ = [
    "EventType",
    "Schedule",
    "ScheduleStatus",
    "ScheduleType",
    "Task",
    "TaskError",
    "TaskEvent",
    "TaskStatus",
]
