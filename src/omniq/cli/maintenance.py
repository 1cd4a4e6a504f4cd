"""``omniq events tail`` and ``omniq purge``."""

from __future__ import annotations

import contextlib
import re
import signal
import threading
from collections.abc import Iterator
from types import FrameType

import click
import msgspec

from omniq.cli.connect import StoreOptions, open_omniq, store_options
from omniq.cli.output import console, json_option, json_ready, print_json, when
from omniq.models.event import TaskEvent

__all__ = ["events", "purge"]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_age(text: str) -> float:
    """Seconds from ``90``, ``90s``, ``15m``, ``12h``, ``7d`` or ``2w``."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", text)
    if match is None:
        raise click.BadParameter(f"{text!r} is not an age like 90s, 15m, 12h, 7d or 2w")
    return float(match[1]) * _UNITS[match[2] or "s"]


@click.group()
def events() -> None:
    """Read the event log."""


def _line(event: TaskEvent) -> str:
    extra = " ".join(filter(None, [event.detail, event.error]))
    return f"{when(event.timestamp)}  {event.task_id}  {event.type.value:<10} {extra}"


@events.command("tail")
@store_options
@json_option
@click.option("--limit", "-n", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--follow", "-f", is_flag=True, help="Keep printing new events (Ctrl+C stops).")
@click.option(
    "--interval",
    type=float,
    default=0.5,
    show_default=True,
    help="Seconds between looks for new events with --follow.",
)
def tail(store: StoreOptions, as_json: bool, limit: int, follow: bool, interval: float) -> None:
    """Print the latest events across tasks (JSON: one object per line)."""
    with open_omniq(store) as oq, _interrupt_flag(follow) as interrupted:
        entries = oq.list_events(None, limit)
        while True:
            for cursor, event in entries:
                if as_json:
                    print_json_line(cursor, event)
                else:
                    console.print(_line(event), markup=False)
            if not follow:
                return
            after = entries[-1][0] if entries else None  # an empty log: from its start
            entries = []
            while not entries:
                if interrupted.wait(interval):
                    return
                entries = oq.list_events(after, 1000)


@contextlib.contextmanager
def _interrupt_flag(enabled: bool) -> Iterator[threading.Event]:
    """An event set by the first Ctrl+C (SIGINT) while the block runs; a second one raises.

    A ``KeyboardInterrupt`` raised wherever the main thread happens to be (inside a store
    call, or while the store closes) could leave the store's threads mid-operation; the
    flag is instead checked between two looks at the store. Not ``enabled``, or outside the
    main thread (no signal handler can be set there), Ctrl+C keeps its usual effect and the
    event is never set.
    """
    interrupted = threading.Event()
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield interrupted
        return

    def on_interrupt(signum: int, frame: FrameType | None) -> None:
        interrupted.set()
        signal.signal(signal.SIGINT, previous)  # a second Ctrl+C interrupts at once

    previous = signal.signal(signal.SIGINT, on_interrupt) or signal.SIG_DFL
    try:
        yield interrupted
    finally:
        signal.signal(signal.SIGINT, previous)


def print_json_line(cursor: str, event: TaskEvent) -> None:
    """One event as one compact JSON line, with its cursor in the log."""
    data = json_ready(event)
    data["cursor"] = cursor
    click.echo(msgspec.json.encode(data).decode(), nl=True)


@click.command()
@store_options
@json_option
@click.option(
    "--older-than",
    default="7d",
    show_default=True,
    help="Only tasks finished at least this long ago (90s, 15m, 12h, 7d, 2w; 0 = all).",
)
@click.option(
    "--status",
    "-s",
    "statuses",
    multiple=True,
    type=click.Choice(["completed", "failed", "expired", "cancelled"]),
    help="Statuses to purge (repeatable; default completed, expired, cancelled).",
)
@click.option("--dry-run", is_flag=True, help="Show what would be deleted; delete nothing.")
@click.option(
    "--vacuum",
    is_flag=True,
    help="Then give the freed space back (SQLite: VACUUM; workers' writes wait meanwhile).",
)
@click.option("--verbose", "-v", is_flag=True, help="Also list the ids of the tasks.")
def purge(
    store: StoreOptions,
    as_json: bool,
    older_than: str,
    statuses: tuple[str, ...],
    dry_run: bool,
    vacuum: bool,
    verbose: bool,
) -> None:
    """Delete old finished tasks (with results and events), expired results, dead workers."""
    seconds = parse_age(older_than)
    with open_omniq(store) as oq:
        report = oq.purge(seconds, list(statuses) or None, dry_run, vacuum)
    if as_json:
        summary: dict[str, object] = {
            "dry_run": report.dry_run,
            "tasks": len(report.task_ids),
            "expired_results": report.expired_results,
            "dead_workers": report.dead_workers,
            "orphans": report.orphans,
            "reclaimed_bytes": report.reclaimed_bytes,
        }
        if verbose:
            summary["task_ids"] = list(report.task_ids)
        print_json(summary)
        return
    verb = "would delete" if dry_run else "deleted"
    console.print(
        f"{verb}: {len(report.task_ids)} tasks (with their results and events), "
        f"{report.expired_results} expired results, {report.dead_workers} dead "
        "workers' rows"
    )
    if report.orphans:
        console.print(f"also deleted {report.orphans} results and events whose task was gone")
    if report.reclaimed_bytes is not None and not dry_run:
        console.print(f"vacuum: the store shrank by {report.reclaimed_bytes:,} bytes")
