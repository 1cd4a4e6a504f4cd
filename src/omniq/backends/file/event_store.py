"""The file event store: each task's history, and the event log across tasks.

Events written with a task's change (an enqueue, a claim, a completion...) are in the task
file itself, atomically with the change (``fused_events``). Events appended on their own
go to ``events/<xx>/<id>.json``. Every event is also in the event log
(:mod:`omniq.backends.file.event_log`), which ``omniq events`` and ``omniq worker``
follow. A task's events are ordered by their place in the log.
"""

from __future__ import annotations

from collections.abc import Sequence

from omniq.backends.file.documents import EventsDoc, StoredEvent, TaskDoc, decode, encode
from omniq.backends.file.event_log import parse_cursor
from omniq.backends.file.layout import events_key, task_key
from omniq.backends.file.state import FileState
from omniq.backends.file.store import ObjectStore, Writes
from omniq.models.event import TaskEvent

__all__ = ["FileEventStorage"]


class FileEventStorage:
    """An :class:`~omniq.storage.interfaces.EventStorage` and ``EventLog`` on files.

    Args:
        state: The backend's open store.
    """

    def __init__(self, state: FileState) -> None:
        self._state = state

    def _own(self, store: ObjectStore, task_id: str) -> tuple[EventsDoc, object] | None:
        key = events_key(task_id)
        found = store.read(key)
        if found is None:
            return None
        doc = decode(EventsDoc, found.data, f"{store.location}/{key}")
        return None if doc is None else (doc, found.token)

    def _in_task(self, store: ObjectStore, task_id: str) -> list[StoredEvent]:
        key = task_key(task_id)
        found = store.read(key)
        if found is None:
            return []
        doc = decode(TaskDoc, found.data, f"{store.location}/{key}")
        return [] if doc is None else doc.events

    async def append(self, events: Sequence[TaskEvent]) -> None:
        """Append events, keeping their order."""
        if events:
            await self._state.run(self._append, list(events), kind="append")

    def _append(self, events: list[TaskEvent]) -> None:
        store, log = self._state.opened()
        writes = Writes(store)
        _, stored = log.append(writes, events)
        grouped: dict[str, list[StoredEvent]] = {}
        for event in stored:
            grouped.setdefault(event.task_id, []).append(event)

        def add(item: tuple[str, list[StoredEvent]]) -> None:
            task_id, more = item
            key = events_key(task_id)
            while True:
                found = self._own(store, task_id)
                if found is None:
                    if writes.create(key, encode(EventsDoc(task_id=task_id, events=more))):
                        return
                    continue
                doc, token = found
                new = EventsDoc(rev=doc.rev + 1, task_id=task_id, events=doc.events + more)
                if writes.swap(key, encode(new), token):
                    return

        store.parallel(add, list(grouped.items()))
        writes.commit()

    async def for_task(self, task_id: str) -> list[TaskEvent]:
        """Return a task's events in the order they were appended."""
        return await self._state.read(self._for_task, task_id)

    def _for_task(self, task_id: str) -> list[TaskEvent]:
        store, _ = self._state.opened()
        events = list(self._in_task(store, task_id))
        own = self._own(store, task_id)
        if own is not None:
            events.extend(own[0].events)
            events.sort(key=lambda e: (e.log, e.seq))
        return [event.event() for event in events]

    async def recent_events(self, after: str | None, limit: int) -> list[tuple[str, TaskEvent]]:
        """Return events after cursor ``after`` (or the last ``limit``), oldest first."""
        start = None if after is None else parse_cursor(after)
        return await self._state.read(self._recent, start, limit)

    def _recent(self, start: tuple[int, int] | None, limit: int) -> list[tuple[str, TaskEvent]]:
        _, log = self._state.opened()
        if limit <= 0:
            return []
        found = log.latest(limit) if start is None else log.after(start[0], start[1], limit)
        return [(f"{event.log}:{event.seq}", event.event()) for event in found]

    async def delete_events(self, task_ids: Sequence[str]) -> int:
        """Delete the events of these tasks (their files and their log entries)."""
        return await self._state.run(self._delete, list(dict.fromkeys(task_ids)))

    def _delete(self, task_ids: list[str]) -> int:
        store, log = self._state.opened()
        writes = Writes(store)
        positions: set[int] = set()
        deleted = 0
        for task_id in task_ids:
            own = self._own(store, task_id)
            if own is not None:
                positions.update(e.log for e in own[0].events)
                deleted += len(own[0].events)
                writes.delete(events_key(task_id))
            in_task = self._in_task(store, task_id)
            if in_task:
                positions.update(e.log for e in in_task)
                deleted += len(in_task)
                self._strip(writes, store, task_id)
        log.remove(writes, positions, task_ids)
        writes.commit()
        return deleted

    def _strip(self, writes: Writes, store: ObjectStore, task_id: str) -> None:
        """Rewrite a task file without its events."""
        import msgspec

        key = task_key(task_id)
        while True:
            found = store.read(key)
            if found is None:
                return
            doc = decode(TaskDoc, found.data, f"{store.location}/{key}")
            if doc is None or not doc.events:
                return
            new = msgspec.structs.replace(doc, rev=doc.rev + 1, events=[])
            if writes.swap(key, encode(new), found.token):
                return
