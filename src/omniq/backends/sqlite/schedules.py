"""Schedule verbs of the SQLite task queue (mixed into :class:`SQLiteTaskQueue`)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from omniq.backends.sqlite.event_store import INSERT_EVENT, event_row
from omniq.backends.sqlite.rows import TASK_COLUMNS, record_from_row, row_from_record
from omniq.backends.sqlite.threads import ReaderThread, WriterThread
from omniq.models.event import TaskEvent
from omniq.models.schedule import ScheduleStatus
from omniq.storage.records import ScheduleRecord, TaskRecord

__all__ = ["ScheduleVerbs"]

_COLUMNS = (
    "id, func_name, payload, spec, status, next_run_at, run_count, max_runs, created_at, "
    "last_run_at"
)
_INSERT_TASK = (
    f"INSERT INTO tasks ({', '.join(TASK_COLUMNS)}) VALUES ({', '.join('?' * len(TASK_COLUMNS))})"
)


def _schedule(row: Sequence[Any]) -> ScheduleRecord:
    return ScheduleRecord(
        id=row[0], func_name=row[1], payload=row[2], spec=row[3],
        status=ScheduleStatus(row[4]), next_run_at=row[5], run_count=row[6], max_runs=row[7],
        created_at=row[8], last_run_at=row[9],
    )  # fmt: skip


class ScheduleVerbs:
    """The schedule half of the task queue protocol, on the backend's two threads."""

    _writer: WriterThread
    _reader: ReaderThread

    async def add_schedule(self, schedule: ScheduleRecord) -> None:
        """Store a new schedule."""
        s = schedule
        params = (
            s.id, s.func_name, s.payload, s.spec, s.status.value, s.next_run_at, s.run_count,
            s.max_runs, s.created_at, s.last_run_at,
        )  # fmt: skip

        def insert(conn: sqlite3.Connection) -> None:
            conn.execute(f"INSERT INTO schedules ({_COLUMNS}) VALUES ({'?, ' * 9}?)", params)

        await self._writer.run(insert, single_statement=True)

    async def get_schedule(self, schedule_id: str) -> ScheduleRecord | None:
        """Return the schedule, or ``None`` if unknown."""

        def select(conn: sqlite3.Connection) -> ScheduleRecord | None:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM schedules WHERE id = ?", (schedule_id,)
            ).fetchone()
            return None if row is None else _schedule(row)

        return await self._reader.run(select)

    async def list_schedules(self) -> list[ScheduleRecord]:
        """Return every schedule, oldest first."""

        def select(conn: sqlite3.Connection) -> list[ScheduleRecord]:
            rows = conn.execute(f"SELECT {_COLUMNS} FROM schedules ORDER BY created_at, id")
            return [_schedule(row) for row in rows]

        return await self._reader.run(select)

    async def due_schedules(self, now: float, limit: int) -> list[ScheduleRecord]:
        """Return up to ``limit`` active schedules due by ``now``, earliest first."""

        def select(conn: sqlite3.Connection) -> list[ScheduleRecord]:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM schedules WHERE status = 'active' "
                "AND next_run_at <= ? ORDER BY next_run_at LIMIT ?",
                (now, limit),
            )
            return [_schedule(row) for row in rows]

        return await self._reader.run(select)

    async def fire_schedule(
        self,
        schedule_id: str,
        expected_next_run_at: float,
        next_run_at: float | None,
        status: ScheduleStatus,
        task: TaskRecord,
        events: Sequence[TaskEvent] = (),
    ) -> bool:
        """Advance the schedule and enqueue its run (and its events) in one transaction."""
        task_row = row_from_record(task)
        event_rows = [event_row(event) for event in events]
        params = (next_run_at, status.value, task.created_at, schedule_id, expected_next_run_at)

        def fire(conn: sqlite3.Connection) -> bool:
            advanced = conn.execute(
                "UPDATE schedules SET next_run_at = ?, status = ?, run_count = run_count + 1, "
                "last_run_at = ? WHERE id = ? AND status = 'active' AND next_run_at = ?",
                params,
            ).rowcount
            if advanced != 1:
                return False
            conn.execute(_INSERT_TASK, task_row)
            conn.executemany(INSERT_EVENT, event_rows)
            return True

        return await self._writer.run(fire)

    async def set_schedule_status(
        self,
        schedule_id: str,
        status: ScheduleStatus,
        from_statuses: Sequence[ScheduleStatus],
        next_run_at: float | None,
    ) -> bool:
        """Change status and next run if the current status is one of ``from_statuses``."""
        allowed = [s.value for s in from_statuses]
        sql = (
            "UPDATE schedules SET status = ?, next_run_at = ? WHERE id = ? "
            f"AND status IN ({', '.join('?' * len(allowed))})"
        )
        params = (status.value, next_run_at, schedule_id, *allowed)
        return await self._writer.run(
            lambda conn: conn.execute(sql, params).rowcount == 1, single_statement=True
        )

    async def schedule_runs(self, schedule_id: str) -> list[TaskRecord]:
        """Return the tasks the schedule fired, oldest first."""

        def select(conn: sqlite3.Connection) -> list[TaskRecord]:
            rows = conn.execute(
                f"SELECT {', '.join(TASK_COLUMNS)} FROM tasks WHERE schedule_id = ? ORDER BY seq",
                (schedule_id,),
            )
            return [record_from_row(row) for row in rows]

        return await self._reader.run(select)
