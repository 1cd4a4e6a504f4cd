"""Schedule verbs of the file task queue (a mixin).

A schedule is ``schedules/<id>.json``, changed by compare-and-swap. Firing a run has no
multi-file transaction: it *creates the run's task only if absent* (its id is derived from
the schedule and the due time, :func:`omniq.core.schedules.run_id`, so every worker
firing that run builds the same one), then compare-and-swaps the schedule forward. The
caller whose create succeeded fired the run; a crash between the two leaves the task
there and the next firer advances the schedule without creating it again: exactly once.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from omniq.backends.file.documents import PendingRun, ScheduleDoc, decode, encode
from omniq.backends.file.layout import id_of, name_of, new_stamp, schedule_key
from omniq.backends.file.state import GRACE_SECONDS
from omniq.backends.file.store import ObjectStore, Writes
from omniq.backends.file.task_files import TaskFiles
from omniq.exceptions import BackendError
from omniq.models.event import TaskEvent
from omniq.models.schedule import ScheduleStatus
from omniq.storage.records import ScheduleRecord, TaskRecord

__all__ = ["ScheduleVerbs"]


def _runs_dir(schedule_id: str) -> str:
    """Where the entries of a schedule's runs are (sorted names: firing order)."""
    return f"runs/{name_of(schedule_id)}"


class ScheduleVerbs(TaskFiles):
    """The schedule half of the task queue protocol, on files."""

    def _insert(
        self, writes: Writes, tasks: list[TaskRecord], events: list[TaskEvent]
    ) -> list[str]:  # pragma: no cover - provided by the task queue
        raise NotImplementedError

    def _schedule(self, store: ObjectStore, schedule_id: str) -> tuple[ScheduleDoc, object] | None:
        key = schedule_key(schedule_id)
        found = store.read(key)
        if found is None:
            return None
        doc = decode(ScheduleDoc, found.data, f"{store.location}/{key}")
        return None if doc is None else (doc, found.token)

    def _all_schedules(self, store: ObjectStore) -> list[ScheduleRecord]:
        found = []
        for name in store.list("schedules"):
            if name.endswith(".json"):
                schedule = self._schedule(store, id_of(name[: -len(".json")]))
                if schedule is not None:
                    found.append(schedule[0].schedule)
        return found

    def _settle_pending(self, store: ObjectStore) -> None:
        """Finish the runs whose firer stopped between the schedule and the task write."""
        writes = Writes(store)
        for name in store.list("schedules"):
            if not name.endswith(".json"):
                continue
            schedule_id = id_of(name[: -len(".json")])
            found = self._schedule(store, schedule_id)
            if found is not None and found[0].pending is not None:
                age = store.age(schedule_key(schedule_id))
                if age is not None and age > GRACE_SECONDS:
                    self._complete_pending(writes, schedule_id, found[0])
        writes.commit()

    async def add_schedule(self, schedule: ScheduleRecord) -> None:
        """Store a new schedule.

        Raises:
            BackendError: A schedule with this id already exists.
        """
        await self._state.run(self._add_schedule, msgspec.structs.replace(schedule))

    def _add_schedule(self, schedule: ScheduleRecord) -> None:
        store, _ = self._open()
        writes = Writes(store)
        if not writes.create(schedule_key(schedule.id), encode(ScheduleDoc(schedule=schedule))):
            raise BackendError(f"a schedule with id {schedule.id!r} already exists")
        writes.commit()

    async def get_schedule(self, schedule_id: str) -> ScheduleRecord | None:
        """Return the schedule, or ``None`` if unknown."""
        return await self._state.read(self._get_schedule, schedule_id)

    def _get_schedule(self, schedule_id: str) -> ScheduleRecord | None:
        store, _ = self._open()
        found = self._schedule(store, schedule_id)
        return None if found is None else found[0].schedule

    async def list_schedules(self) -> list[ScheduleRecord]:
        """Return every schedule, oldest first."""
        return await self._state.read(self._list_schedules)

    def _list_schedules(self) -> list[ScheduleRecord]:
        store, _ = self._open()
        return sorted(self._all_schedules(store), key=lambda s: (s.created_at, s.id))

    async def due_schedules(self, now: float, limit: int) -> list[ScheduleRecord]:
        """Return up to ``limit`` active schedules due by ``now``, earliest first."""
        return await self._state.run(self._due_schedules, now, limit)

    def _due_schedules(self, now: float, limit: int) -> list[ScheduleRecord]:
        store, _ = self._open()
        self._settle_pending(store)
        due = [
            s
            for s in self._all_schedules(store)
            if s.status is ScheduleStatus.ACTIVE and s.next_run_at is not None
            and s.next_run_at <= now
        ]  # fmt: skip
        due.sort(key=lambda s: (s.next_run_at or 0.0, s.id))
        return due[:limit]

    async def fire_schedule(
        self,
        schedule_id: str,
        expected_next_run_at: float,
        next_run_at: float | None,
        status: ScheduleStatus,
        task: TaskRecord,
        events: Sequence[TaskEvent] = (),
    ) -> bool:
        """Create the run's task if absent, then advance the schedule (see the module)."""
        return await self._state.run(self._fire, schedule_id, expected_next_run_at,
                                     next_run_at, status, task, list(events))  # fmt: skip

    def _fire(
        self,
        schedule_id: str,
        expected: float,
        next_run_at: float | None,
        status: ScheduleStatus,
        task: TaskRecord,
        events: list[TaskEvent],
    ) -> bool:
        store, _ = self._open()
        writes = Writes(store)
        found = self._schedule(store, schedule_id)
        if found is not None and found[0].pending is not None:
            self._complete_pending(writes, schedule_id, found[0])
            found = self._schedule(store, schedule_id)
        if found is None:
            return False
        doc, token = found
        current = doc.schedule
        if current.status is not ScheduleStatus.ACTIVE or current.next_run_at != expected:
            return False
        existing = self._record(store, task.id)
        if existing is not None and existing.schedule_id != schedule_id:
            raise BackendError(
                f"the run of schedule {schedule_id!r} cannot be stored: a task with id "
                f"{task.id!r} already exists"
            )
        advanced = msgspec.structs.replace(
            current, next_run_at=next_run_at, status=status,
            run_count=current.run_count + 1, last_run_at=task.created_at,
        )  # fmt: skip
        new = ScheduleDoc(rev=doc.rev + 1, schedule=advanced,
                          pending=PendingRun(task=task, events=events))  # fmt: skip
        if not writes.swap(schedule_key(schedule_id), encode(new), token):
            return False  # another worker fired this run (or the schedule changed)
        self._complete_pending(writes, schedule_id, new)
        writes.commit()
        return True

    def _complete_pending(self, writes: Writes, schedule_id: str, doc: ScheduleDoc) -> None:
        """Create the pending run's task if absent, then clear it from the schedule file."""
        store = writes.store
        pending = doc.pending
        if pending is None:
            return
        run = pending.task
        if self._record(store, run.id) is None:
            writes.touch(f"{_runs_dir(schedule_id)}/{new_stamp()}-{name_of(run.id)}")
            try:
                self._insert(writes, [run], list(pending.events))
            except BackendError:
                if self._record(store, run.id) is None:
                    raise
        while True:
            found = self._schedule(store, schedule_id)
            if found is None or found[0].pending is None or found[0].pending.task.id != run.id:
                return
            current, token = found
            cleared = ScheduleDoc(rev=current.rev + 1, schedule=current.schedule)
            if writes.swap(schedule_key(schedule_id), encode(cleared), token):
                return

    async def set_schedule_status(
        self,
        schedule_id: str,
        status: ScheduleStatus,
        from_statuses: Sequence[ScheduleStatus],
        next_run_at: float | None,
    ) -> bool:
        """Change status and next run if the current status is one of ``from_statuses``."""
        return await self._state.run(self._set_status, schedule_id, status,
                                     list(from_statuses), next_run_at)  # fmt: skip

    def _set_status(
        self,
        schedule_id: str,
        status: ScheduleStatus,
        from_statuses: list[ScheduleStatus],
        next_run_at: float | None,
    ) -> bool:
        store, _ = self._open()
        writes = Writes(store)
        while True:
            found = self._schedule(store, schedule_id)
            if found is None or found[0].schedule.status not in from_statuses:
                return False
            doc, token = found
            schedule = msgspec.structs.replace(doc.schedule, status=status,
                                               next_run_at=next_run_at)  # fmt: skip
            if writes.swap(schedule_key(schedule_id), encode(ScheduleDoc(rev=doc.rev + 1,
                                                                         schedule=schedule)),
                           token):  # fmt: skip
                writes.commit()
                return True

    async def schedule_runs(self, schedule_id: str) -> list[TaskRecord]:
        """Return the tasks the schedule fired, in the order they were enqueued."""
        return await self._state.read(self._runs, schedule_id)

    def _runs(self, schedule_id: str) -> list[TaskRecord]:
        store, _ = self._open()
        prefix = _runs_dir(schedule_id)
        runs: list[TaskRecord] = []
        seen: set[str] = set()
        for name in store.list(prefix):
            task_id = id_of(name[17:])
            if task_id in seen:
                continue
            record = self._record(store, task_id)
            if record is not None:
                seen.add(task_id)
                runs.append(record)
        found = self._schedule(store, schedule_id)
        if found is not None and found[0].pending is not None:
            pending = found[0].pending.task  # fired; its task file is being written
            if pending.id not in seen:
                writes = Writes(store)
                self._complete_pending(writes, schedule_id, found[0])  # idempotent
                writes.commit()
                record = self._record(store, pending.id)
                if record is not None:
                    runs.append(record)
        return runs
