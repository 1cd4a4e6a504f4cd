"""Schedule verbs of the Redis task queue (a mixin).

``fire_schedule`` compares the stored ``next_run_at`` with the expected one as the doubles
they are (both parsed exactly from their shortest repr), then enqueues the run and
advances the schedule, in one script.
"""

from __future__ import annotations

from collections.abc import Sequence

from omniq.backends.redis.codec import (
    Arg,
    decode_schedule,
    event_args,
    schedule_args,
    task_args,
    time_arg,
)
from omniq.backends.redis.verbs import Verbs
from omniq.models.event import TaskEvent
from omniq.models.schedule import ScheduleStatus
from omniq.storage.records import ScheduleRecord, TaskRecord

__all__ = ["ScheduleVerbs"]


class ScheduleVerbs(Verbs):
    """The schedule half of the task queue protocol, on Redis."""

    async def add_schedule(self, schedule: ScheduleRecord) -> None:
        """Store a new schedule (and wake the schedule loops of other processes)."""
        await self._script("add_schedule", schedule_args(schedule))

    async def get_schedule(self, schedule_id: str) -> ScheduleRecord | None:
        """Return the schedule, or ``None`` if unknown."""
        key = self._keys.schedule(schedule_id)
        found = await self._conn.command("HGETALL", key)
        return decode_schedule(found) if found else None

    async def list_schedules(self) -> list[ScheduleRecord]:
        """Return every schedule, oldest first."""
        return [decode_schedule(flat) for flat in await self._script("read_schedules", ["all"])]

    async def due_schedules(self, now: float, limit: int) -> list[ScheduleRecord]:
        """Return up to ``limit`` active schedules due by ``now``, earliest first."""
        rows = await self._script("read_schedules", ["due", time_arg(now), limit])
        return [decode_schedule(flat) for flat in rows]

    async def fire_schedule(
        self,
        schedule_id: str,
        expected_next_run_at: float,
        next_run_at: float | None,
        status: ScheduleStatus,
        task: TaskRecord,
        events: Sequence[TaskEvent] = (),
    ) -> bool:
        """Advance the schedule (exact compare-and-set) and enqueue its run, in one script."""
        args: list[Arg] = [
            schedule_id, time_arg(expected_next_run_at),
            "" if next_run_at is None else time_arg(next_run_at), status.value,
            time_arg(task.created_at), *task_args(task), *event_args(events),
        ]  # fmt: skip
        return bool(await self._script("fire_schedule", args))

    async def set_schedule_status(
        self,
        schedule_id: str,
        status: ScheduleStatus,
        from_statuses: Sequence[ScheduleStatus],
        next_run_at: float | None,
    ) -> bool:
        """Change status and next run if the current status is one of ``from_statuses``."""
        froms = [s.value for s in from_statuses]
        args: list[Arg] = [schedule_id, status.value,
                           "" if next_run_at is None else time_arg(next_run_at),
                           len(froms), *froms]  # fmt: skip
        return bool(await self._script("set_schedule_status", args))

    async def schedule_runs(self, schedule_id: str) -> list[TaskRecord]:
        """Return the tasks the schedule fired, oldest first."""
        return await self._tasks("read_schedules", ["runs", schedule_id])
