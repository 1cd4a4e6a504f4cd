"""The live tasks of a project, indexed in this process: what claims and releases look at.

The state bucket's stream is a log of every task change; :class:`~.mirror.Mirror` follows it
and feeds each change here, so every process that claims holds the same view: the tasks
that are not final yet, with the revision each was last written at. A claim picks its
candidates here, in the order the protocol states (queues in the given order; higher
``priority`` first, then earlier ``run_at``, then enqueue order), and takes each with a
compare-and-set on that revision: if another process changed the task meanwhile the write
is refused and the task skipped. The index only chooses; the server decides.

Claimable tasks sit in two heaps per queue, as in the memory backend: ``waiting`` by
``run_at`` (not due the last time the queue was served) and ``ready`` in claim order.
Entries are deleted lazily through tokens. Executing tasks (for lease recovery) and the
reverse edges of ``depends_on`` (for releasing and cancelling dependents) are kept beside.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass

from omniq.models.task import TaskStatus
from omniq.storage.records import CLAIMABLE_STATUSES, TaskRecord

__all__ = ["Entry", "TaskIndex"]

_COMPACT_SLACK = 64


@dataclass(slots=True)
class Entry:
    """A live task as last seen.

    Attributes:
        task: The record.
        rev: The revision it was written at (its KV key's last sequence).
        seq: Its place in enqueue order.
    """

    task: TaskRecord
    rev: int
    seq: int


class _Queue:
    __slots__ = ("live", "ready", "waiting")

    def __init__(self) -> None:
        self.live: dict[str, int] = {}
        self.ready: list[tuple[int, float, int, int, str]] = []
        self.waiting: list[tuple[float, int, int, int, str]] = []

    def add(self, entry: Entry, token: int) -> None:
        task = entry.task
        self.live[task.id] = token
        heapq.heappush(self.waiting, (task.run_at, -task.priority, entry.seq, token, task.id))

    def discard(self, task_id: str) -> None:
        if self.live.pop(task_id, None) is not None:
            self._compact()

    def pop_due(self, now: float) -> str | None:
        waiting, ready, live = self.waiting, self.ready, self.live
        while waiting and waiting[0][0] <= now:
            run_at, neg_priority, seq, token, task_id = heapq.heappop(waiting)
            if live.get(task_id) == token:
                heapq.heappush(ready, (neg_priority, run_at, seq, token, task_id))
        while ready:
            neg_priority, run_at, seq, token, task_id = heapq.heappop(ready)
            if live.get(task_id) != token:
                continue
            if run_at > now:  # now went backwards between callers
                heapq.heappush(waiting, (run_at, neg_priority, seq, token, task_id))
                continue
            del live[task_id]
            return task_id
        return None

    def _compact(self) -> None:
        live = self.live
        limit = 2 * len(live) + _COMPACT_SLACK
        if len(self.ready) > limit:
            self.ready = [e for e in self.ready if live.get(e[4]) == e[3]]
            heapq.heapify(self.ready)
        if len(self.waiting) > limit:
            self.waiting = [e for e in self.waiting if live.get(e[4]) == e[3]]
            heapq.heapify(self.waiting)


class TaskIndex:
    """The non-final tasks of one project, by what each verb looks for.

    Changes come from two sides: the followed stream (:meth:`apply` with ``local=False``,
    in stream order) and this process's own writes (``local=True``, as soon as the server
    acknowledged them, so a claim never picks a task this process just took). A change
    older than what the index holds is ignored; a task this process finished is
    remembered until the stream has caught up with it, so a late message cannot bring it
    back.
    """

    def __init__(self) -> None:
        self.tasks: dict[str, Entry] = {}
        self.executing: dict[str, None] = {}
        self.dependents: dict[str, dict[str, None]] = {}
        self._queues: dict[str, _Queue] = {}
        self._gone: dict[str, int] = {}
        self._tokens = itertools.count()
        #: The last stream sequence the followed stream delivered (set by the mirror).
        self.applied = 0

    def clear(self) -> None:
        """Forget everything (the stream is followed again from its start)."""
        self.__init__()  # type: ignore[misc]

    @property
    def remembered(self) -> int:
        """How many finished tasks are remembered until the stream delivers their end."""
        return len(self._gone)

    def apply(self, task_id: str, rev: int, entry: Entry | None, *, local: bool = False) -> None:
        """Take a task's state at revision ``rev`` (``entry`` ``None``: deleted)."""
        current = self.tasks.get(task_id)
        if current is not None and current.rev >= rev:
            return
        gone = self._gone.get(task_id)
        if gone is not None:
            if rev <= gone:
                if rev == gone and not local:
                    del self._gone[task_id]
                return
            del self._gone[task_id]
        if current is not None:
            self._remove(current)
        if entry is None or entry.task.status.is_final:
            if local and rev > self.applied:  # the stream has not delivered it yet
                self._gone[task_id] = rev
            return
        self._insert(entry)

    def take(self, queues: list[str], limit: int, now: float) -> list[Entry]:
        """Remove and return up to ``limit`` due claimable tasks, in claim order."""
        taken: list[Entry] = []
        for queue_name in queues:
            queue = self._queues.get(queue_name)
            while queue is not None and len(taken) < limit:
                task_id = queue.pop_due(now)
                if task_id is None:
                    break
                taken.append(self.tasks[task_id])
            if len(taken) >= limit:
                break
        return taken

    def put_back(self, entry: Entry) -> None:
        """Index again a task :meth:`take` returned whose claim failed for another reason."""
        current = self.tasks.get(entry.task.id)
        if current is entry and entry.task.status in CLAIMABLE_STATUSES:
            self._queue(entry.task.queue_name).add(entry, next(self._tokens))

    def expired(self, now: float) -> list[Entry]:
        """Executing tasks whose lease ended before ``now``."""
        found = []
        for task_id in self.executing:
            entry = self.tasks[task_id]
            lease = entry.task.lease_expires_at
            if lease is not None and lease < now:
                found.append(entry)
        return found

    def dependents_of(self, task_id: str) -> list[Entry]:
        """The live tasks whose ``depends_on`` holds ``task_id``, in enqueue order."""
        ids = self.dependents.get(task_id, {})
        return sorted((self.tasks[i] for i in ids), key=lambda entry: entry.seq)

    def waiting(self) -> list[Entry]:
        """Every ``waiting`` task, in enqueue order."""
        found = [e for e in self.tasks.values() if e.task.status is TaskStatus.WAITING]
        return sorted(found, key=lambda entry: entry.seq)

    # -- helpers ----------------------------------------------------------------------------

    def _queue(self, name: str) -> _Queue:
        queue = self._queues.get(name)
        if queue is None:
            queue = self._queues[name] = _Queue()
        return queue

    def _insert(self, entry: Entry) -> None:
        task = entry.task
        self.tasks[task.id] = entry
        if task.status in CLAIMABLE_STATUSES:
            self._queue(task.queue_name).add(entry, next(self._tokens))
        elif task.status is TaskStatus.EXECUTING:
            self.executing[task.id] = None
        for dependency in task.depends_on:
            self.dependents.setdefault(dependency, {})[task.id] = None

    def _remove(self, entry: Entry) -> None:
        task = entry.task
        del self.tasks[task.id]
        queue = self._queues.get(task.queue_name)
        if queue is not None:
            queue.discard(task.id)
        self.executing.pop(task.id, None)
        for dependency in task.depends_on:
            found = self.dependents.get(dependency)
            if found is not None:
                found.pop(task.id, None)
                if not found:
                    del self.dependents[dependency]
