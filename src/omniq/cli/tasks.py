"""``omniq tasks list|show|cancel|retry`` and ``omniq results get``."""

from __future__ import annotations

import click
from rich.table import Table

from omniq.cli.connect import StoreOptions, open_omniq, store_options
from omniq.cli.output import console, json_option, print_json, when
from omniq.core.omniq import OmniQ
from omniq.exceptions import OmniQError, TaskNotFoundError, TimeoutError
from omniq.models.task import Task, TaskStatus

__all__ = ["results", "tasks"]

_STATUSES = click.Choice([status.value for status in TaskStatus])


@click.group()
def tasks() -> None:
    """List, inspect, cancel and retry tasks."""


@tasks.command("list")
@store_options
@json_option
@click.option(
    "--status",
    "-s",
    "statuses",
    multiple=True,
    type=_STATUSES,
    help="Only this status (repeatable).",
)
@click.option("--queue", "-q", help="Only this queue.")
@click.option("--limit", "-l", type=click.IntRange(min=1), default=50, show_default=True)
def list_tasks(
    store: StoreOptions, as_json: bool, statuses: tuple[str, ...], queue: str | None, limit: int
) -> None:
    """List tasks, most recently enqueued first."""
    with open_omniq(store) as oq:
        found = oq.list_tasks(list(statuses) or None, queue, limit)
    if as_json:
        print_json(found)
        return
    table = Table()
    for column in ("id", "status", "queue", "func", "name", "created", "retries", "error"):
        table.add_column(column)
    for task in found:
        error = "" if task.error is None else f"{task.error.type}: {task.error.message}"
        table.add_row(
            task.id,
            task.status.value,
            task.queue_name,
            task.func,
            task.name or "",
            when(task.created_at),
            f"{task.retry_count}/{task.max_retries}",
            error[:60],
        )
    console.print(table if found else "No tasks.")


def _get(oq: OmniQ, task_id: str) -> Task:
    task = oq.get_task(task_id)
    if task is None:
        raise TaskNotFoundError(task_id)
    return task


@tasks.command("show")
@store_options
@json_option
@click.argument("task_id")
def show_task(store: StoreOptions, as_json: bool, task_id: str) -> None:
    """Show a task: its fields, result or error (with traceback), and its events."""
    with open_omniq(store) as oq:
        task = _get(oq, task_id)
        events = oq.get_events(task_id)
        result: object = None
        result_error: str | None = None
        if task.status is TaskStatus.COMPLETED:
            try:
                result = oq.get_result(task_id, timeout=0)
            except OmniQError as exc:
                result_error = f"{type(exc).__name__}: {exc}"
    if as_json:
        print_json({"task": task, "result": result, "result_error": result_error, "events": events})
        return
    fields = Table(show_header=False, box=None)
    for name in (
        "id",
        "status",
        "func",
        "queue_name",
        "priority",
        "name",
        "description",
        "tags",
        "args",
        "kwargs",
        "depends_on",
        "worker_id",
    ):
        fields.add_row(
            name,
            repr(getattr(task, name)) if name in ("args", "kwargs") else str(getattr(task, name)),
        )
    fields.add_row("retries", f"{task.retry_count} of {task.max_retries}")
    for name in ("created_at", "run_at", "started_at", "finished_at", "expires_at"):
        fields.add_row(name, when(getattr(task, name)))
    console.print(fields)
    if task.status is TaskStatus.COMPLETED:
        console.print(f"\nresult: {result_error or repr(result)}")
    if task.error is not None:
        console.print(f"\nerror: {task.error.type}: {task.error.message}")
        if task.error.traceback:
            console.print(task.error.traceback.rstrip(), markup=False)
    console.print("\nevents:")
    for event in events:
        extra = " ".join(filter(None, [event.detail, event.error]))
        console.print(f"  {when(event.timestamp)}  {event.type.value:<10} {extra}", markup=False)


@tasks.command("cancel")
@store_options
@json_option
@click.argument("task_id")
def cancel_task(store: StoreOptions, as_json: bool, task_id: str) -> None:
    """Cancel a task (a running one is cancelled once its worker notices)."""
    with open_omniq(store) as oq:
        cancelled = oq.cancel(task_id)
        task = _get(oq, task_id)
    if as_json:
        print_json({"task_id": task_id, "cancelled": cancelled, "status": task.status})
        return
    if cancelled:
        console.print(f"task {task_id}: cancel requested (status now {task.status.value})")
    else:
        console.print(f"task {task_id} had already finished ({task.status.value}): unchanged")


@tasks.command("retry")
@store_options
@json_option
@click.argument("task_id")
def retry_task(store: StoreOptions, as_json: bool, task_id: str) -> None:
    """Enqueue a failed or expired task again."""
    with open_omniq(store) as oq:
        retried = oq.retry(task_id)
        task = _get(oq, task_id)
    if as_json:
        print_json({"task_id": task_id, "retried": retried, "status": task.status})
        return
    if not retried:
        raise click.ClickException(
            f"task {task_id} is {task.status.value}, not failed or expired: not retried"
        )
    console.print(f"task {task_id} enqueued again")


@click.group()
def results() -> None:
    """Fetch task results."""


@results.command("get")
@store_options
@json_option
@click.argument("task_id")
@click.option(
    "--wait", type=float, default=0.0, show_default=True, help="Seconds to wait for a result."
)
def get_result(store: StoreOptions, as_json: bool, task_id: str, wait: float) -> None:
    """Print a task's result (exit 1 with the error if it failed, expired or was cancelled)."""
    with open_omniq(store) as oq:
        try:
            value = oq.get_result(task_id, timeout=wait)
        except TimeoutError:
            task = _get(oq, task_id)
            raise click.ClickException(
                f"task {task_id} has no result yet (status {task.status.value})"
            ) from None
    if as_json:
        print_json({"task_id": task_id, "result": value})
    else:
        click.echo(repr(value))
