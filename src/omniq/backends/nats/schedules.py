"""Schedule verbs of the NATS task queue (a mixin): each run fires exactly once.

A schedule is the value of ``s.<id>``. There is no transaction spanning the schedule and
the run's task, so firing is three writes made safe by the first one:

1. a compare-and-set on the schedule that advances it (``next_run_at``, ``run_count``...)
   and records the run's task as *pending* in the schedule's own value. Of every process
   firing the same run, exactly one wins this write; the others return ``False``;
2. the run's task, created only if absent, then its marker ``r.<schedule>.<task>`` (what
   :meth:`ScheduleVerbs.schedule_runs` lists, in the order the markers were written);
3. a compare-and-set that clears *pending*.

A process killed between 1 and 3 leaves a pending run in the schedule: the next reader that
fires or lists due schedules stores it (creating the task only if absent), so the run is
neither lost nor doubled. The task id of a run is deterministic
(:func:`omniq.core.schedules.run_id`), so even two finishers create it once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import msgspec

from omniq.backends.nats.codec import (
    StoredSchedule,
    decode_schedule,
    encode_schedule,
    encode_task,
)
from omniq.backends.nats.connection import Conflict
from omniq.backends.nats.notifications import schedules_payload, tasks_payload
from omniq.backends.nats.verbs import Verbs, gather_map
from omniq.exceptions import BackendError
from omniq.models.event import TaskEvent
from omniq.models.schedule import ScheduleStatus
from omniq.storage.records import ScheduleRecord, TaskRecord

__all__ = ["ScheduleVerbs"]

_replace = msgspec.structs.replace
_ATTEMPTS = 50


class ScheduleVerbs(Verbs):
    """The schedule half of the task queue protocol, on NATS."""

    async def _read_schedule(self, schedule_id: str) -> tuple[int, StoredSchedule] | None:
        subject = self._names.schedule_subject(schedule_id)
        found = await self._conn.last(self._names.state_stream, subject)
        if found is None or found.deleted or not found.data:
            return None
        return found.seq, decode_schedule(found.data, found.seq)

    async def _write_schedule(self, schedule_id: str, rev: int, stored: StoredSchedule) -> int:
        """Compare-and-set a schedule (raises :class:`Conflict`); its new revision."""
        subject = self._names.schedule_subject(schedule_id)
        new_rev = await self._conn.publish(subject, encode_schedule(stored), last=rev)
        self._mirror.note_schedule(schedule_id, new_rev, stored)
        return new_rev

    async def add_schedule(self, schedule: ScheduleRecord) -> None:
        """Store a new schedule (and wake the schedule loops of other processes).

        Raises:
            BackendError: A schedule with this id already exists.
        """

        async def add() -> None:
            subject = self._names.schedule_subject(schedule.id)
            try:
                await self._conn.create(subject, encode_schedule(StoredSchedule(0, schedule)))
            except Conflict:
                raise BackendError(f"a schedule with id {schedule.id!r} already exists") from None
            await self._wake(schedules_payload(schedule.next_run_at))

        await self._conn.run(add)

    async def get_schedule(self, schedule_id: str) -> ScheduleRecord | None:
        """Return the schedule, or ``None`` if unknown."""

        async def get() -> ScheduleRecord | None:
            found = await self._read_schedule(schedule_id)
            return None if found is None else found[1].schedule

        return await self._conn.run(get)

    async def list_schedules(self) -> list[ScheduleRecord]:
        """Return every schedule, oldest first."""

        async def scan() -> list[ScheduleRecord]:
            messages = await self._conn.scan(
                self._names.state_stream, self._names.state_filter("s"), last_per_subject=True
            )
            found = [decode_schedule(m.data, m.seq).schedule for m in messages
                     if not m.deleted and m.data]  # fmt: skip
            return sorted(found, key=lambda s: (s.created_at, s.id))

        return await self._conn.run(scan)

    async def due_schedules(self, now: float, limit: int) -> list[ScheduleRecord]:
        """Return up to ``limit`` active schedules due by ``now``, earliest first.

        Runs left pending by a process that died while firing are stored first.
        """

        async def due() -> list[ScheduleRecord]:
            await self._mirror.sync()
            known = list(self._mirror.schedules.items())
            for schedule_id, (rev, stored) in known:
                if stored.pending is not None:
                    await self._finish_pending(schedule_id, rev, stored)
            found = [
                stored.schedule
                for _, stored in (value for _, value in known)
                if stored.schedule.status is ScheduleStatus.ACTIVE
                and stored.schedule.next_run_at is not None
                and stored.schedule.next_run_at <= now
            ]
            found.sort(key=lambda s: s.next_run_at or 0.0)
            return [_replace(s) for s in found[:limit]]

        return await self._conn.run(due)

    async def fire_schedule(
        self,
        schedule_id: str,
        expected_next_run_at: float,
        next_run_at: float | None,
        status: ScheduleStatus,
        task: TaskRecord,
        events: Sequence[TaskEvent] = (),
    ) -> bool:
        """Fire one due run, exactly once among all workers (see the module docstring)."""
        if events:
            raise BackendError("the NATS backend does not write events with a schedule's run")

        async def fire() -> bool:
            for _ in range(_ATTEMPTS):
                found = await self._read_schedule(schedule_id)
                if found is None:
                    return False
                rev, stored = found
                if stored.pending is not None:
                    await self._finish_pending(schedule_id, rev, stored)
                    continue
                current = stored.schedule
                if (
                    current.status is not ScheduleStatus.ACTIVE
                    or current.next_run_at != expected_next_run_at
                ):
                    return False
                if await self._read(task.id) is not None:
                    return False  # this run's task exists (fired), or the id clashes
                advanced = StoredSchedule(
                    stored.seq,
                    _replace(current, next_run_at=next_run_at, status=status,
                             run_count=current.run_count + 1, last_run_at=task.created_at),
                    last_run_id=task.id,
                    pending=task,
                )  # fmt: skip
                try:
                    new_rev = await self._write_schedule(schedule_id, rev, advanced)
                except Conflict:
                    return False  # another worker fired it, or its status changed
                if not await self._store_run(schedule_id, task):
                    # The id clashed with a task stored meanwhile: undo the advance.
                    with contextlib.suppress(Conflict):
                        await self._write_schedule(schedule_id, new_rev, stored)
                    return False
                await self._clear_pending(schedule_id, new_rev, advanced)
                await self._wake(tasks_payload(task.run_at))
                return True
            raise BackendError(f"schedule {schedule_id!r} kept changing while it was fired")

        return await self._conn.run(fire)

    async def _store_run(self, schedule_id: str, task: TaskRecord) -> bool:
        """Store a fired run's marker and task; ``False`` if another task has its id."""
        run_subject = self._names.run_subject(schedule_id, task.id)
        try:
            await self._conn.create(self._names.task_subject(task.id), encode_task(task, 0))
        except Conflict:
            existing = await self._read(task.id)
            if existing is None or existing.task.schedule_id != schedule_id:
                return False
        with contextlib.suppress(Conflict):
            await self._conn.create(run_subject, b"")
        return True

    async def _finish_pending(self, schedule_id: str, rev: int, stored: StoredSchedule) -> None:
        """Store a run a dying process counted but maybe did not store, then clear it."""
        if stored.pending is not None:
            await self._store_run(schedule_id, stored.pending)
        await self._clear_pending(schedule_id, rev, stored)

    async def _clear_pending(self, schedule_id: str, rev: int, stored: StoredSchedule) -> None:
        with contextlib.suppress(Conflict):
            await self._write_schedule(schedule_id, rev, _replace(stored, pending=None))

    async def set_schedule_status(
        self,
        schedule_id: str,
        status: ScheduleStatus,
        from_statuses: Sequence[ScheduleStatus],
        next_run_at: float | None,
    ) -> bool:
        """Change status and next run if the current status is one of ``from_statuses``."""

        async def change() -> bool:
            for _ in range(_ATTEMPTS):
                found = await self._read_schedule(schedule_id)
                if found is None:
                    return False
                rev, stored = found
                if stored.schedule.status not in from_statuses:
                    return False
                schedule = _replace(stored.schedule, status=status, next_run_at=next_run_at)
                try:
                    await self._write_schedule(
                        schedule_id, rev, _replace(stored, schedule=schedule)
                    )
                except Conflict:
                    continue
                if status is ScheduleStatus.ACTIVE:
                    await self._wake(schedules_payload(next_run_at))
                return True
            raise BackendError(f"schedule {schedule_id!r} kept changing while it was updated")

        return await self._conn.run(change)

    async def schedule_runs(self, schedule_id: str) -> list[TaskRecord]:
        """Return the tasks the schedule fired, in the order they were fired."""

        async def runs() -> list[TaskRecord]:
            markers = await self._conn.scan(
                self._names.state_stream, self._names.runs_filter(schedule_id),
                last_per_subject=True, headers_only=True,
            )  # fmt: skip
            ids = [self._names.run_task(m.subject) for m in markers if not m.deleted]
            read = await gather_map(self._read, ids)
            return [entry.task for entry in read if entry is not None]

        return await self._conn.run(runs)
