"""The event log: files at positions 1, 2, 3... created exclusively, so positions are dense.

Each write that carries events (an enqueue, a claim, a batch of completions, an append)
adds one file, ``log/<segment>/<position>.json``, holding those events in order. A writer
creates the file at the first free position, and only *exclusively* (``link(2)`` locally,
``If-None-Match`` on S3): it tries position ``n + 1`` only after finding ``n`` taken, so
position ``n + 1`` never exists before ``n`` does. A reader following the log reads
``n + 1`` after ``n`` and stops at the first missing file: it can never skip an event that
appears later at an earlier position, and needs no clock. A cursor is ``<position>:<index>``.

Deleting events (``delete_events``) rewrites the files that hold them, never removes a
position, so the sequence stays dense.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Collection

from omniq.backends.file.documents import LogEntry, StoredEvent, decode, encode, stored_events
from omniq.backends.file.layout import log_key
from omniq.backends.file.store import ObjectStore, Writes
from omniq.exceptions import ConfigurationError
from omniq.models.event import TaskEvent

__all__ = ["EventLogFiles", "parse_cursor"]

_CURSOR = re.compile(r"(\d{1,15}):(\d{1,9})")
#: Most files a read of the latest events walks back over (deleted events leave empty ones).
_BACKWARD_LIMIT = 100_000


def parse_cursor(cursor: str) -> tuple[int, int]:
    """``(position, index)`` of a cursor of this log.

    Raises:
        ConfigurationError: It is not one.
    """
    match = _CURSOR.fullmatch(cursor)
    if match is None:
        raise ConfigurationError(
            f"after {cursor!r} is not an event cursor of this store (<position>:<index>)"
        )
    return int(match.group(1)), int(match.group(2))


class EventLogFiles:
    """Appends to and reads the event log of one store.

    Args:
        store: The store.
    """

    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self._head = 0  # a position known to exist (0: none)
        self._lock = threading.Lock()

    def open(self) -> None:
        """Find the last position (listing the last segment only)."""
        segments = self.store.list("log")
        head = 0
        if segments:
            names = [n for n in self.store.list(f"log/{segments[-1]}") if n.endswith(".json")]
            if names:
                head = int(names[-1].split(".")[0])
        self._head = head

    def _exists(self, position: int) -> bool:
        return self.store.exists(log_key(position))

    def _first_free(self, start: int) -> int:
        """The first position >= ``start`` with no file (positions below it all exist)."""
        if start < 1:
            start = 1
        if not self._exists(start):
            return start
        low, step = start, 1
        while self._exists(start + step):
            low = start + step
            step *= 2
        high = start + step
        while high - low > 1:
            middle = (low + high) // 2
            if self._exists(middle):
                low = middle
            else:
                high = middle
        return high

    def head(self) -> int:
        """The last position written (0 if the log is empty)."""
        with self._lock:
            known = self._head
        last = self._first_free(known + 1) - 1
        with self._lock:
            self._head = max(self._head, last)
        return last

    def append(self, writes: Writes, events: list[TaskEvent]) -> tuple[int, list[StoredEvent]]:
        """Add one file holding ``events``; return its position and the events as stored.

        Args:
            writes: The verb's writes (the new file's directory is flushed with them).
            events: The events, in order (nothing is written for none).
        """
        if not events:
            return 0, []
        data = encode(LogEntry(events=stored_events(events, 0)))
        with self._lock:
            position = self._head + 1
        while True:
            if writes.create(log_key(position), data, sync=False):
                with self._lock:
                    self._head = max(self._head, position)
                return position, stored_events(events, position)
            position = self._first_free(position + 1)

    def read(self, position: int) -> list[StoredEvent] | None:
        """The events at ``position`` (``None``: no file there yet)."""
        key = log_key(position)
        found = self.store.read(key)
        if found is None:
            return None
        entry = decode(LogEntry, found.data, f"{self.store.location}/{key}")
        if entry is None:
            return []  # reported; skipped, never a stop in the log
        for event in entry.events:
            event.log = position
        return entry.events

    def after(self, position: int, index: int, limit: int) -> list[StoredEvent]:
        """Up to ``limit`` events after ``(position, index)``, in log order."""
        found: list[StoredEvent] = []
        while len(found) < limit:
            events = self.read(position)
            if events is None:
                if position == 0:
                    position, index = 1, -1
                    continue
                break
            found.extend(e for e in events if e.seq > index)
            position, index = position + 1, -1
        return found[:limit]

    def latest(self, limit: int) -> list[StoredEvent]:
        """The last ``limit`` events, in log order."""
        position = self.head()
        found: list[StoredEvent] = []
        walked = 0
        while position > 0 and len(found) < limit and walked < _BACKWARD_LIMIT:
            events = self.read(position) or []
            found[:0] = events
            position -= 1
            walked += 1
        return found[-limit:] if limit > 0 else []

    def remove(self, writes: Writes, positions: Collection[int], task_ids: Collection[str]) -> None:
        """Rewrite the files at ``positions`` without the events of ``task_ids``."""
        doomed = set(task_ids)
        for position in sorted(set(positions)):
            if position <= 0:
                continue
            key = log_key(position)
            while True:
                found = self.store.read(key)
                if found is None:
                    break
                entry = decode(LogEntry, found.data, f"{self.store.location}/{key}")
                if entry is None:
                    break
                kept = [e for e in entry.events if e.task_id not in doomed]
                if len(kept) == len(entry.events):
                    break
                if writes.swap(key, encode(LogEntry(events=kept)), found.token):
                    break

    def retract(self, writes: Writes, position: int, task_ids: Collection[str]) -> None:
        """Undo the events of writes that did not happen (their task was not changed)."""
        if position and task_ids:
            self.remove(writes, [position], task_ids)
