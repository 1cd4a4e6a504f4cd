"""The NATS event storage: a stream per project, one subject per task.

Each :meth:`NATSEventStorage.append` publishes one message per run of consecutive events of
the same task (usually one per task: ``dequeued`` and ``executing`` travel together), on the
subject ``omniq.<p>.events.<task>``. Reading a task's events is reading its subject;
reading across tasks follows the stream's sequence, which the server assigns in the order
it stores messages: a cursor ``"<sequence>:<index in the message>"`` is in commit order, so
a reader following cursors never misses an event stored later with an earlier position.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from omniq.backends.nats.codec import decode_events, encode_events
from omniq.backends.nats.connection import Connection, Publish, RawMessage
from omniq.backends.nats.names import ProjectNames
from omniq.backends.nats.verbs import gather_map
from omniq.exceptions import ConfigurationError
from omniq.models.event import TaskEvent

__all__ = ["NATSEventStorage"]

#: One number of a cursor: ASCII digits, few enough for a 64-bit int.
_NUMBER = re.compile(r"[0-9]{1,18}")

_COUNT = "Omniq-Events"


def _runs(events: Sequence[TaskEvent]) -> list[list[TaskEvent]]:
    """Consecutive events of the same task, grouped, in order."""
    runs: list[list[TaskEvent]] = []
    for event in events:
        if runs and runs[-1][0].task_id == event.task_id:
            runs[-1].append(event)
        else:
            runs.append([event])
    return runs


def _parse(cursor: str) -> tuple[int, int]:
    seq, sep, index = cursor.partition(":")
    if not (sep and _NUMBER.fullmatch(seq) and _NUMBER.fullmatch(index)):
        raise ConfigurationError(
            f"after {cursor!r} is not an event cursor of this store (expected '<seq>:<index>')"
        )
    return int(seq), int(index)


class NATSEventStorage:
    """Event storage in a JetStream stream; see :class:`omniq.storage.EventStorage`.

    Args:
        conn: The backend's connection.
        names: The project's names.
    """

    def __init__(self, conn: Connection, names: ProjectNames) -> None:
        self._conn = conn
        self._names = names

    async def append(self, events: Sequence[TaskEvent]) -> None:
        """Append events, keeping their order (one message per run of one task's events)."""
        if not events:
            return
        runs = _runs(events)

        async def publish() -> None:
            outcomes = await self._conn.publish_many([
                Publish(self._names.event_subject(run[0].task_id), encode_events(run), None,
                        {_COUNT: str(len(run))})
                for run in runs
            ])  # fmt: skip
            for outcome in outcomes:
                if isinstance(outcome, BaseException):
                    raise outcome

        await self._conn.run(publish)

    async def for_task(self, task_id: str) -> list[TaskEvent]:
        """Return a task's events in append order."""

        async def read() -> list[TaskEvent]:
            messages = await self._conn.scan(
                self._names.events_stream, self._names.event_subject(task_id)
            )
            return [event for message in messages for event in decode_events(message.data)]

        return await self._conn.run(read)

    async def recent_events(self, after: str | None, limit: int) -> list[tuple[str, TaskEvent]]:
        """Return events after cursor ``after`` (or the last ``limit``), oldest first."""
        if after is not None:
            seq, index = _parse(after)
            return await self._conn.run(lambda: self._after(seq, index, limit))
        return await self._conn.run(lambda: self._latest(limit))

    async def _after(self, seq: int, index: int, limit: int) -> list[tuple[str, TaskEvent]]:
        last = await self._conn.last_seq(self._names.events_stream)
        found: list[tuple[str, TaskEvent]] = []
        start = seq
        while start <= last and len(found) < limit:
            end = min(last, start + max(limit - len(found), 1) - 1)
            for message in await self._messages(start, end):
                for position, event in enumerate(decode_events(message.data)):
                    if message.seq == seq and position <= index:
                        continue
                    found.append((f"{message.seq}:{position}", event))
            start = end + 1
        return found[:limit]

    async def _messages(self, low: int, high: int) -> list[RawMessage]:
        """The stored messages with sequences ``low..high`` (deleted ones left out)."""
        stream = self._names.events_stream
        read = await gather_map(lambda s: self._conn.by_seq(stream, s), range(low, high + 1))
        return [message for message in read if message is not None and message.data]

    async def _latest(self, limit: int) -> list[tuple[str, TaskEvent]]:
        seq = await self._conn.last_seq(self._names.events_stream)
        found: list[tuple[str, TaskEvent]] = []
        while seq > 0 and len(found) < limit:
            low = max(1, seq - (limit - len(found)) + 1)
            page = [
                (f"{message.seq}:{position}", event)
                for message in await self._messages(low, seq)
                for position, event in enumerate(decode_events(message.data))
            ]
            found = page + found
            seq = low - 1
        return found[-limit:] if limit > 0 else []

    async def delete_events(self, task_ids: Sequence[str]) -> int:
        """Delete the events of these tasks; return how many."""
        ids = list(dict.fromkeys(task_ids))
        if not ids:
            return 0

        async def delete_one(task_id: str) -> int:
            subject = self._names.event_subject(task_id)
            messages = await self._conn.scan(self._names.events_stream, subject, headers_only=True)
            if not messages:
                return 0
            await self._conn.purge(self._names.events_stream, subject)
            return sum(int(m.headers.get(_COUNT, "1")) for m in messages)

        counts = await self._conn.run(lambda: gather_map(delete_one, ids))
        return sum(counts)
