"""Purging finished tasks so that an interrupted purge leaves nothing behind.

A purge spans three stores that may not share a transaction (the result and event stores can
live elsewhere), so it deletes in the order that keeps every state between two steps
complete: first the results and events of the tasks it will delete, then the tasks. Killed
midway, it leaves finished tasks that lost some results or events, never results or events
whose task is gone; the next purge selects those tasks again and finishes the job.
"""

from __future__ import annotations

from collections.abc import Sequence

from omniq.exceptions import ConfigurationError
from omniq.models.task import TaskStatus
from omniq.storage.admin import EventLog, TaskAdmin
from omniq.storage.interfaces import EventStorage, ResultStorage, TaskQueue

__all__ = ["purge_finished"]

#: Results deleted by one ``delete_many`` call.
_CHUNK = 500


async def purge_finished(
    task_queue: TaskQueue,
    result_store: ResultStorage,
    event_store: EventStorage,
    statuses: Sequence[TaskStatus],
    finished_before: float,
) -> list[str]:
    """Delete final tasks in ``statuses`` finished before ``finished_before``, and theirs.

    Their results and events go first, then the tasks (see the module docstring).

    Returns:
        The ids of the tasks deleted.

    Raises:
        ConfigurationError: A store does not implement the verbs a purge needs.
    """
    if not isinstance(task_queue, TaskAdmin):
        raise _unsupported(task_queue, "TaskAdmin")
    if not isinstance(event_store, EventLog):
        raise _unsupported(event_store, "EventLog")
    chosen = await task_queue.purge_tasks(statuses, finished_before, dry_run=True)
    await _delete_what_they_left(result_store, event_store, chosen)
    deleted = await task_queue.purge_tasks(statuses, finished_before)
    # Tasks that became purgeable meanwhile (only with another host's clock ahead of this
    # one): theirs go right after.
    seen = set(chosen)
    await _delete_what_they_left(
        result_store, event_store, [task_id for task_id in deleted if task_id not in seen]
    )
    return deleted


async def _delete_what_they_left(
    result_store: ResultStorage, event_store: EventLog, task_ids: list[str]
) -> None:
    for start in range(0, len(task_ids), _CHUNK):
        await result_store.delete_many(task_ids[start : start + _CHUNK])
    if task_ids:
        await event_store.delete_events(task_ids)


def _unsupported(store: object, role: str) -> ConfigurationError:
    return ConfigurationError(
        f"{type(store).__name__} does not support purge (it does not implement {role})"
    )
