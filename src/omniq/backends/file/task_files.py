"""Reading and changing task files: the helpers every task-queue verb of the file backend uses.

A task file is changed only by compare-and-swap (:meth:`TaskFiles._change`): read it,
compute the new version, write it only if the file is still the version read, else read
again and retry. Index entries (queue, running, waiting) are hints that follow the task
file; the order of writes makes every crash leave at most an *extra* entry, which the
next reader that meets it recognises (it disagrees with the task file) and removes once it
is older than :data:`~omniq.backends.file.state.GRACE_SECONDS`.
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from omniq.backends.file.documents import StoredEvent, TaskDoc, decode, encode
from omniq.backends.file.event_log import EventLogFiles
from omniq.backends.file.layout import entry_key, name_of, new_stamp, task_key
from omniq.backends.file.state import GRACE_SECONDS, FileState
from omniq.backends.file.store import ObjectStore, Writes
from omniq.models.task import TaskStatus
from omniq.storage.records import CLAIMABLE_STATUSES, TaskRecord

__all__ = ["TaskFiles", "events_by_task", "running_key", "waiting_key"]

#: Returns the new version of a task file, or ``None`` to leave it unchanged.
Change = Callable[[TaskDoc], TaskDoc | None]


def events_by_task(events: list[StoredEvent]) -> dict[str, list[StoredEvent]]:
    """Stored events grouped by their task, in order (each goes into its task's file)."""
    grouped: dict[str, list[StoredEvent]] = {}
    for event in events:
        grouped.setdefault(event.task_id, []).append(event)
    return grouped


def running_key(task_id: str) -> str:
    """The entry of an executing task."""
    return f"running/{name_of(task_id)}"


def waiting_key(task_id: str) -> str:
    """The entry of a task waiting for its dependencies."""
    return f"waiting/{name_of(task_id)}"


class TaskFiles:
    """Base of the file task queue and its verb mixins.

    Args:
        state: The backend's open store.
    """

    def __init__(self, state: FileState) -> None:
        self._state = state

    def _open(self) -> tuple[ObjectStore, EventLogFiles]:
        return self._state.opened()

    # -- reading -----------------------------------------------------------------------------

    def _read(self, store: ObjectStore, task_id: str) -> tuple[TaskDoc, object] | None:
        """The task file and its version, or ``None`` (missing, or reported as unreadable)."""
        key = task_key(task_id)
        found = store.read(key)
        if found is None:
            return None
        doc = decode(TaskDoc, found.data, f"{store.location}/{key}")
        if doc is None:
            return None
        return doc, found.token

    def _record(self, store: ObjectStore, task_id: str) -> TaskRecord | None:
        found = self._read(store, task_id)
        return None if found is None else found[0].task

    # -- changing ------------------------------------------------------------------------------

    def _change(self, writes: Writes, task_id: str, change: Change) -> TaskDoc | None:
        """Compare-and-swap a task file until it sticks or ``change`` declines.

        Returns:
            The version written, or ``None`` (no such task, or ``change`` returned ``None``).
        """
        store = writes.store
        key = task_key(task_id)
        while True:
            found = self._read(store, task_id)
            if found is None:
                return None
            doc, token = found
            new = change(doc)
            if new is None:
                return None
            new.rev = doc.rev + 1
            if writes.swap(key, encode(new), token):
                return new

    def _swap(self, writes: Writes, doc: TaskDoc, token: object) -> bool:
        """Write ``doc`` over the version ``token`` (one attempt)."""
        return writes.swap(task_key(doc.task.id), encode(doc), token)

    @staticmethod
    def _new_entry(doc: TaskDoc) -> str:
        """A fresh queue entry for a task becoming claimable (same priority order, new name)."""
        record = doc.task
        return entry_key(record.queue_name, record.priority, record.run_at, doc.stamp, record.id)

    @staticmethod
    def _with(doc: TaskDoc, record: TaskRecord, events: list[StoredEvent] | None = None,
              entry: str | None = None) -> TaskDoc:  # fmt: skip
        """A new version of ``doc`` holding ``record`` (and more events)."""
        return msgspec.structs.replace(
            doc, task=record, entry=entry, events=doc.events + (events or [])
        )

    def _enter_queue(
        self, writes: Writes, current: TaskDoc, record: TaskRecord,
        events: list[StoredEvent] | None = None,
    ) -> TaskDoc:  # fmt: skip
        """The new version of a task becoming claimable; its entry is written first."""
        new = self._with(current, record, events)
        new.entry = self._new_entry(new)
        writes.touch(new.entry)
        return new

    def _leave_index(self, writes: Writes, before: TaskDoc, after: TaskDoc | None = None) -> None:
        """Remove the index entries ``before`` had and ``after`` does not."""
        record = before.task
        if before.entry is not None and (after is None or after.entry != before.entry):
            writes.delete(before.entry)
        still = after.task.status if after is not None else None
        if record.status is TaskStatus.EXECUTING and still is not TaskStatus.EXECUTING:
            writes.delete(running_key(record.id))
        if record.status is TaskStatus.WAITING and still is not TaskStatus.WAITING:
            writes.delete(waiting_key(record.id))

    def _stale(self, store: ObjectStore, key: str) -> bool:
        """Whether an entry that disagrees with its task is old enough to remove."""
        age = store.age(key)
        return age is not None and age > GRACE_SECONDS

    @staticmethod
    def _copy(record: TaskRecord) -> TaskRecord:
        """A copy sharing no list or error with ``record``."""
        error = record.error
        return msgspec.structs.replace(
            record, tags=list(record.tags), depends_on=list(record.depends_on),
            error=None if error is None else msgspec.structs.replace(error),
        )  # fmt: skip

    @staticmethod
    def _new_stamp() -> str:
        return new_stamp()

    @staticmethod
    def _claimable(record: TaskRecord) -> bool:
        return record.status in CLAIMABLE_STATUSES
