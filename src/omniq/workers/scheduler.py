"""Firing due schedules: every worker watches them, each run fires exactly once."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from omniq.core.schedules import decode_spec, next_run_after, run_record, status_after_firing
from omniq.core.store import Store
from omniq.models.event import EventType, TaskEvent

__all__ = ["ScheduleFirer"]


_log = logging.getLogger("omniq.scheduler")


@dataclass(frozen=True, slots=True)
class ScheduleFirer:
    """Enqueues the due runs of schedules.

    Attributes:
        store: Schedules and their runs (task queue), the runs' ``enqueued`` events, and
            the wake-ups of this process's workers for the new runs and next due times.
        batch: Most schedules fired per pass.
    """

    store: Store
    batch: int = 100

    async def fire_due(self) -> int:
        """Fire every schedule due now (a missed run fires once); return how many fired."""
        store = self.store
        now = store.clock.now()
        fired = 0
        together = store.capabilities.fused_events
        for schedule in await store.task_queue.due_schedules(now, self.batch):
            spec = decode_spec(schedule.spec)
            due = schedule.next_run_at
            if due is None:  # pragma: no cover - due_schedules only returns scheduled ones
                continue
            following = next_run_after(spec, now, previous=due)
            status = status_after_firing(schedule, following)
            if status is not schedule.status:
                following = None
            task = run_record(schedule, spec, now, due)
            enqueued = TaskEvent(
                task_id=task.id,
                type=EventType.ENQUEUED,
                timestamp=now,
                detail=f"run {schedule.run_count + 1} of schedule {schedule.id}",
            )
            if not await store.task_queue.fire_schedule(
                schedule.id, due, following, status, task, [enqueued] if together else ()
            ):
                continue  # another worker fired this run first
            fired += 1
            if not together:  # a mixed setup: the event follows the run (maybe its claim)
                await store.event_store.append([enqueued])
            if following is not None:
                store.channel.notify_schedules_at(following)
            _log.info("schedule %s fired run %d (task %s)", schedule.id, schedule.run_count + 1,
                      task.id)  # fmt: skip
        if fired:
            store.channel.notify_tasks()
        return fired
