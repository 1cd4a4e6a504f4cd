"""Schedule verbs of the memory task queue (mixed into :class:`MemoryTaskQueue`)."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import msgspec

from omniq.backends.memory.copies import copy_task
from omniq.backends.memory.event_store import MemoryEventStorage
from omniq.exceptions import BackendError
from omniq.models.event import TaskEvent
from omniq.models.schedule import ScheduleStatus
from omniq.storage.records import ScheduleRecord, TaskRecord

__all__ = ["ScheduleVerbs"]


class ScheduleVerbs:
    """The schedule half of the task queue protocol, in process memory."""

    _lock: threading.Lock
    _tasks: dict[str, TaskRecord]
    #: The backend's event store, for events written atomically with a fired run.
    event_sink: MemoryEventStorage | None = None

    def _init_schedules(self) -> None:
        self._schedules: dict[str, ScheduleRecord] = {}
        self._runs: dict[str, list[str]] = {}  # schedule id -> ids of its runs

    def _insert_locked(self, records: list[TaskRecord]) -> None:  # pragma: no cover
        raise NotImplementedError  # provided by the task queue

    async def add_schedule(self, schedule: ScheduleRecord) -> None:
        """Store a new schedule.

        Raises:
            BackendError: A schedule with this id already exists.
        """
        with self._lock:
            if schedule.id in self._schedules:
                raise BackendError(f"a schedule with id {schedule.id!r} already exists")
            self._schedules[schedule.id] = msgspec.structs.replace(schedule)

    async def get_schedule(self, schedule_id: str) -> ScheduleRecord | None:
        """Return the schedule, or ``None`` if unknown."""
        with self._lock:
            found = self._schedules.get(schedule_id)
            return None if found is None else msgspec.structs.replace(found)

    async def list_schedules(self) -> list[ScheduleRecord]:
        """Return every schedule, oldest first."""
        with self._lock:
            found = sorted(self._schedules.values(), key=lambda s: (s.created_at, s.id))
            return [msgspec.structs.replace(s) for s in found]

    async def due_schedules(self, now: float, limit: int) -> list[ScheduleRecord]:
        """Return up to ``limit`` active schedules due by ``now``, earliest first."""
        with self._lock:
            due = [
                s
                for s in self._schedules.values()
                if s.status is ScheduleStatus.ACTIVE
                and s.next_run_at is not None
                and s.next_run_at <= now
            ]
            due.sort(key=lambda s: s.next_run_at or 0.0)
            return [msgspec.structs.replace(s) for s in due[:limit]]

    async def fire_schedule(
        self,
        schedule_id: str,
        expected_next_run_at: float,
        next_run_at: float | None,
        status: ScheduleStatus,
        task: TaskRecord,
        events: Sequence[TaskEvent] = (),
    ) -> bool:
        """Advance the schedule if still due (compare-and-set) and enqueue its run, atomically.

        ``events`` go to the sibling event store under the same lock (see
        :meth:`omniq.storage.TaskQueue.fire_schedule`).
        """
        with self._lock:
            schedule = self._schedules.get(schedule_id)
            if (
                schedule is None
                or schedule.status is not ScheduleStatus.ACTIVE
                or schedule.next_run_at != expected_next_run_at
            ):
                return False
            self._insert_locked([copy_task(task)])
            schedule.next_run_at = next_run_at
            schedule.status = status
            schedule.run_count += 1
            schedule.last_run_at = task.created_at
            self._runs.setdefault(schedule_id, []).append(task.id)
            if events:
                if self.event_sink is None:
                    raise BackendError("events were given but this task queue has no event store")
                self.event_sink.append_now(events)
        return True

    async def set_schedule_status(
        self,
        schedule_id: str,
        status: ScheduleStatus,
        from_statuses: Sequence[ScheduleStatus],
        next_run_at: float | None,
    ) -> bool:
        """Change status and next run if the current status is one of ``from_statuses``."""
        with self._lock:
            schedule = self._schedules.get(schedule_id)
            if schedule is None or schedule.status not in from_statuses:
                return False
            schedule.status = status
            schedule.next_run_at = next_run_at
            return True

    async def schedule_runs(self, schedule_id: str) -> list[TaskRecord]:
        """Return the tasks the schedule fired, oldest first."""
        with self._lock:
            ids = list(self._runs.get(schedule_id, ()))
            return [copy_task(self._tasks[i]) for i in ids if i in self._tasks]
