"""Schedule verbs of the PostgreSQL task queue (a mixin)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg import AsyncConnection

from omniq.backends.postgres.notifications import schedules_payload, tasks_payload
from omniq.backends.postgres.rows import event_arrays, schedule_from_row, task_arrays, task_from_row
from omniq.backends.postgres.verbs import Verbs
from omniq.models.event import TaskEvent
from omniq.models.schedule import ScheduleStatus
from omniq.storage.records import ScheduleRecord, TaskRecord

__all__ = ["ScheduleVerbs"]


class ScheduleVerbs(Verbs):
    """The schedule half of the task queue protocol, on PostgreSQL."""

    async def add_schedule(self, schedule: ScheduleRecord) -> None:
        """Store a new schedule (and wake the schedule loops of other processes)."""
        s = schedule
        params = {
            "id": s.id, "func_name": s.func_name, "payload": s.payload, "spec": s.spec,
            "status": s.status.value, "next_run_at": s.next_run_at, "run_count": s.run_count,
            "max_runs": s.max_runs, "created_at": s.created_at, "last_run_at": s.last_run_at,
        }  # fmt: skip

        async def insert(conn: AsyncConnection[Any]) -> None:
            async with conn.transaction():
                await conn.execute(self._q.add_schedule, params)
                await self._notify(conn, schedules_payload(s.next_run_at))

        await self._db.run(insert)

    async def get_schedule(self, schedule_id: str) -> ScheduleRecord | None:
        """Return the schedule, or ``None`` if unknown."""
        rows = await self._rows(self._q.get_schedule, {"id": schedule_id})
        return schedule_from_row(rows[0]) if rows else None

    async def list_schedules(self) -> list[ScheduleRecord]:
        """Return every schedule, oldest first."""
        return [schedule_from_row(row) for row in await self._rows(self._q.list_schedules, {})]

    async def due_schedules(self, now: float, limit: int) -> list[ScheduleRecord]:
        """Return up to ``limit`` active schedules due by ``now``, earliest first."""
        rows = await self._rows(self._q.due_schedules, {"now": now, "limit": limit})
        return [schedule_from_row(row) for row in rows]

    async def fire_schedule(
        self,
        schedule_id: str,
        expected_next_run_at: float,
        next_run_at: float | None,
        status: ScheduleStatus,
        task: TaskRecord,
        events: Sequence[TaskEvent] = (),
    ) -> bool:
        """Advance the schedule (compare-and-set) and enqueue its run, in one transaction."""
        advance = {"id": schedule_id, "expected": expected_next_run_at,
                   "next_run_at": next_run_at, "status": status.value,
                   "fired_at": task.created_at}  # fmt: skip
        enqueue = {**task_arrays([task]), **event_arrays(events), "channel": self._channel,
                   "wakeup": tasks_payload(task.run_at)}  # fmt: skip

        async def fire(conn: AsyncConnection[Any]) -> bool:
            async with conn.transaction():
                cursor = await conn.execute(self._q.advance_schedule, advance)
                if await cursor.fetchone() is None:
                    return False  # another worker fired this run first
                await conn.execute(self._q.enqueue, enqueue)
            return True

        return await self._db.run(fire)

    async def set_schedule_status(
        self,
        schedule_id: str,
        status: ScheduleStatus,
        from_statuses: Sequence[ScheduleStatus],
        next_run_at: float | None,
    ) -> bool:
        """Change status and next run if the current status is one of ``from_statuses``."""
        params = {"id": schedule_id, "status": status.value, "next_run_at": next_run_at,
                  "from_statuses": [s.value for s in from_statuses]}  # fmt: skip

        async def change(conn: AsyncConnection[Any]) -> bool:
            async with conn.transaction():
                cursor = await conn.execute(self._q.set_schedule_status, params)
                if await cursor.fetchone() is None:
                    return False
                if status is ScheduleStatus.ACTIVE:
                    await self._notify(conn, schedules_payload(next_run_at))
            return True

        return await self._db.run(change)

    async def schedule_runs(self, schedule_id: str) -> list[TaskRecord]:
        """Return the tasks the schedule fired, oldest first."""
        rows = await self._rows(self._q.schedule_runs, {"id": schedule_id})
        return [task_from_row(row) for row in rows]
