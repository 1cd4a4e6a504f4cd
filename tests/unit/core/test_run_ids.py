"""Schedule runs get deterministic ids: every process firing a run builds the same task."""

from __future__ import annotations

import uuid

from omniq.core.schedules import ScheduleSpec, run_id, run_record
from omniq.models.schedule import ScheduleType
from omniq.storage.records import ScheduleRecord

SCHEDULE = ScheduleRecord(
    id="sched-1", func_name="m:f", payload=b"p", spec=b"s", next_run_at=100.0, created_at=1.0
)
SPEC = ScheduleSpec(schedule_type=ScheduleType.INTERVAL, interval=10.0)


def test_the_same_run_gets_the_same_id_whoever_fires_it_and_when() -> None:
    due = 1_700_000_000.0 + 0.1 + 0.2
    first = run_record(SCHEDULE, SPEC, now=due + 0.001, due=due)
    second = run_record(SCHEDULE, SPEC, now=due + 5.0, due=due)  # another worker, later
    assert first.id == second.id == run_id("sched-1", due)
    assert uuid.UUID(first.id).version == 5


def test_runs_of_other_due_times_or_schedules_get_other_ids() -> None:
    due = 1_700_000_000.0
    ids = {
        run_id("sched-1", due),
        run_id("sched-1", due + 10.0),
        run_id("sched-1", float.fromhex((due).hex()[:-1] + "1")),  # one ulp away
        run_id("sched-2", due),
    }
    assert len(ids) == 4
