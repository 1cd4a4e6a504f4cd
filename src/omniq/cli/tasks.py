"""``omniq tasks list|show|cancel|retry`` and ``omniq results get``."""

from __future__ import annotations

import click
from rich.table import Table
from rich.text import Text

from omniq.api import OmniQ
from omniq.cli.connect import StoreOptions, open_omniq, store_options, unpickle_option
from omniq.cli.output import console, json_option, print_json, when
from omniq.exceptions import (
    ConfigurationError,
    OmniQError,
    TaskCancelledError,
    TaskExpiredError,
    TaskFailedError,
    TaskNotFoundError,
    TimeoutError,
)
from omniq.models.task import Task, TaskStatus
from omniq.serialization.inspection import PICKLED, UNREADABLE

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
@unpickle_option
def list_tasks(
    store: StoreOptions,
    as_json: bool,
    statuses: tuple[str, ...],
    queue: str | None,
    limit: int,
    unpickle: bool,
) -> None:
    """List tasks, most recently enqueued first (pickled arguments are not loaded)."""
    with open_omniq(store, unpickle=unpickle) as oq:
        found = oq.list_tasks(list(statuses) or None, queue, limit)
    if as_json:
        print_json(found)
        return
    table = Table()
    columns = ("id", "status", "queue", "func", "args", "name", "created", "attempts",
               "retries", "error")  # fmt: skip
    for column in columns:
        table.add_column(column)
    for task in found:
        error = "" if task.error is None else f"{task.error.type}: {task.error.message}"
        table.add_row(
            task.id,
            task.status.value,
            task.queue_name,
            task.func,
            Text(_arguments(task)[:80]),
            task.name or "",
            when(task.created_at),
            f"{task.attempts}/{task.max_retries + 1}",
            f"{task.retry_count}/{task.max_retries}",
            error[:60],
        )
    console.print(table if found else "No tasks.")


def _arguments(task: Task) -> str:
    """The task's arguments on one line (placeholders for what was not loaded or read)."""
    return ", ".join(
        repr(value) if name in (PICKLED, UNREADABLE) else f"{name}={value!r}"
        for name, value in {**task.args, **task.kwargs}.items()
    )


#: How many of the most recent tasks a task-id prefix is looked up among.
PREFIX_SCAN = 10_000


def _get(oq: OmniQ, task_id: str) -> Task:
    task = oq.get_task(task_id)
    if task is None:
        raise TaskNotFoundError(task_id)
    return task


def resolve_task_id(oq: OmniQ, given: str) -> str:
    """The id ``given`` names: itself, or the one task whose id starts with it (like git).

    A prefix is looked up among the :data:`PREFIX_SCAN` most recent tasks.

    Raises:
        TaskNotFoundError: No task has this id or an id starting with it.
        ConfigurationError: Several tasks' ids start with it (the message lists some).
    """
    if oq.get_task(given) is not None:
        return given
    matches = [task.id for task in oq.list_tasks(None, None, PREFIX_SCAN)
               if task.id.startswith(given)]  # fmt: skip
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise TaskNotFoundError(given)
    shown = ", ".join(matches[:5]) + (", ..." if len(matches) > 5 else "")
    raise ConfigurationError(
        f"task id prefix {given!r} is ambiguous: {len(matches)} tasks start with it ({shown})"
    )


@tasks.command("show")
@store_options
@json_option
@click.argument("task_id")
@unpickle_option
def show_task(store: StoreOptions, as_json: bool, task_id: str, unpickle: bool) -> None:
    """Show a task: its fields, result or error (with traceback), and its events."""
    with open_omniq(store, unpickle=unpickle) as oq:
        task_id = resolve_task_id(oq, task_id)
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
    fields.add_row("attempts", f"{task.attempts} of {task.max_retries + 1}")
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
    """Cancel a task (a running one is cancelled once its worker notices).

    A task that had already finished is left alone, and the command exits 1 saying so.
    """
    with open_omniq(store) as oq:
        task_id = resolve_task_id(oq, task_id)
        cancelled = oq.cancel(task_id)
        task = _get(oq, task_id)
    if not cancelled:
        raise click.ClickException(
            f"task {task_id} had already finished ({task.status.value}): not cancelled"
        )
    if as_json:
        print_json({"task_id": task_id, "cancelled": cancelled, "status": task.status})
        return
    console.print(f"task {task_id}: cancel requested (status now {task.status.value})")


@tasks.command("retry")
@store_options
@json_option
@click.argument("task_id")
def retry_task(store: StoreOptions, as_json: bool, task_id: str) -> None:
    """Enqueue a failed or expired task again."""
    with open_omniq(store) as oq:
        task_id = resolve_task_id(oq, task_id)
        retried = oq.retry(task_id)
        task = _get(oq, task_id)
    if not retried:
        raise click.ClickException(
            f"task {task_id} is {task.status.value}, not failed or expired: not retried"
        )
    if as_json:
        print_json({"task_id": task_id, "retried": retried, "status": task.status})
        return
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
@unpickle_option
def get_result(
    store: StoreOptions, as_json: bool, task_id: str, wait: float, unpickle: bool
) -> None:
    """Print a task's result (exit 1 with the error if it failed, expired or was cancelled).

    With --json the failure is printed as JSON too (its status and error), still with exit 1.
    A pickled result is shown as a placeholder (size, globals it names) unless --unpickle.
    """
    with open_omniq(store, unpickle=unpickle) as oq:
        task_id = resolve_task_id(oq, task_id)
        try:
            value = oq.get_result(task_id, timeout=wait)
        except TimeoutError:
            task = _get(oq, task_id)
            raise click.ClickException(
                f"task {task_id} has no result yet (status {task.status.value})"
            ) from None
        except (TaskFailedError, TaskExpiredError, TaskCancelledError) as exc:
            if not as_json:
                raise
            task = _get(oq, task_id)
            print_json({"task_id": task_id, "status": task.status, "error": task.error,
                        "message": str(exc)})  # fmt: skip
            raise click.exceptions.Exit(1) from None
    if as_json:
        print_json({"task_id": task_id, "result": value})
    else:
        click.echo(repr(value))
