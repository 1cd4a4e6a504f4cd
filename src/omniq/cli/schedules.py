"""``omniq schedules list|pause|resume|cancel``."""

from __future__ import annotations

from collections.abc import Callable

import click
from rich.table import Table

from omniq.api import OmniQ
from omniq.cli.connect import StoreOptions, open_omniq, store_options, unpickle_option
from omniq.cli.output import console, duration, json_option, print_json, when
from omniq.exceptions import ScheduleNotFoundError

__all__ = ["schedules"]


@click.group()
def schedules() -> None:
    """List, pause, resume and cancel schedules."""


@schedules.command("list")
@store_options
@json_option
@unpickle_option
def list_schedules(store: StoreOptions, as_json: bool, unpickle: bool) -> None:
    """List every schedule, oldest first (pickled arguments are not loaded)."""
    with open_omniq(store, unpickle=unpickle) as oq:
        found = oq.list_schedules()
    if as_json:
        print_json(found)
        return
    table = Table()
    for column in ("id", "status", "func", "every", "next run", "last run", "runs", "queue"):
        table.add_column(column)
    for s in found:
        every = s.cron_expression or (duration(s.interval) if s.interval else when(s.run_at))
        runs = f"{s.run_count}" + (f"/{s.max_runs}" if s.max_runs else "")
        table.add_row(
            s.id,
            s.status.value,
            s.func,
            every,
            when(s.next_run_at),
            when(s.last_run_at),
            runs,
            s.queue_name,
        )
    console.print(table if found else "No schedules.")


def _steer(verb: str, method: Callable[[OmniQ, str], bool]) -> click.Command:
    @click.command(verb, help=f"{verb.capitalize()} a schedule.")
    @store_options
    @json_option
    @click.argument("schedule_id")
    def command(store: StoreOptions, as_json: bool, schedule_id: str) -> None:
        with open_omniq(store) as oq:
            changed = method(oq, schedule_id)
            schedule = oq.get_schedule(schedule_id)
        if schedule is None:  # pragma: no cover - the method raised already
            raise ScheduleNotFoundError(schedule_id)
        if as_json:
            print_json({"schedule_id": schedule_id, "changed": changed, "status": schedule.status})
            return
        if changed:
            console.print(f"schedule {schedule_id} is now {schedule.status.value}")
        else:
            console.print(f"schedule {schedule_id} is {schedule.status.value}: unchanged")

    return command


schedules.add_command(_steer("pause", OmniQ.pause_schedule))
schedules.add_command(_steer("resume", OmniQ.resume_schedule))
schedules.add_command(_steer("cancel", OmniQ.cancel_schedule))
