"""``omniq status``: tasks per queue, live workers, schedules."""

from __future__ import annotations

import click
from rich.table import Table

from omniq.cli.connect import StoreOptions, open_omniq, store_options
from omniq.cli.output import age, console, json_option, print_json, since

__all__ = ["status"]

#: Status columns shown even when every queue has 0 of them.
_ALWAYS = ("enqueued", "executing", "completed", "failed")

_SHOWN = (
    "waiting",
    "enqueued",
    "executing",
    "retrying",
    "completed",
    "failed",
    "expired",
    "cancelled",
)


@click.command()
@store_options
@json_option
def status(store: StoreOptions, as_json: bool) -> None:
    """Show counts by status per queue, due vs delayed, live workers and schedules."""
    with open_omniq(store) as oq:
        stats = oq.stats()
    if as_json:
        print_json(stats)
        return
    table = Table(title="Queues", title_justify="left")
    table.add_column("queue")
    shown = [n for n in _SHOWN if n in _ALWAYS or any(q.counts.get(n) for q in stats.queues)]
    for name in shown:
        table.add_column(name, justify="right")
    table.add_column("due", justify="right")
    table.add_column("delayed", justify="right")
    table.add_column("oldest due", justify="right")
    for queue in stats.queues:
        table.add_row(
            queue.queue_name,
            *(str(queue.counts.get(name, 0)) for name in shown),
            str(queue.due),
            str(queue.delayed),
            age(queue.oldest_due_age),
        )
    if not stats.queues:
        console.print("No tasks.")
    else:
        console.print(table)
    for queue in stats.queues:
        if queue.due and not queue.served:
            console.print(
                f"Warning: queue {queue.queue_name!r} has {queue.due} due task(s) and no live "
                f"worker serves it: start one with --queues {queue.queue_name}, or one without "
                "--queues to serve every queue"
            )
    if not stats.workers:
        console.print("Live workers: none")
    workers = Table(title=f"Live workers: {len(stats.workers)}", title_justify="left")
    for column in ("id", "queues", "concurrency", "up", "last heartbeat"):
        workers.add_column(column)
    for info in stats.workers:
        workers.add_row(
            info.id,
            ",".join(info.queues),
            str(info.concurrency),
            age(since(info.started_at)),
            f"{age(since(info.heartbeat_at))} ago",
        )
    if stats.workers:
        console.print(workers)
    counts = ", ".join(f"{n} {s}" for s, n in sorted(stats.schedules.items())) or "none"
    console.print(f"Schedules: {counts}")
