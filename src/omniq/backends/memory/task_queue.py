"""An in-process task queue: per-queue heaps of claimable tasks under one thread lock.

Every claimable task (``enqueued`` or ``retrying``) has one live *entry* in the index of its
queue, identified by a token. Entries sit in two heaps:

* ``waiting``: ordered by ``run_at``; tasks that were not due the last time the queue was
  served. A claim first moves every entry whose ``run_at`` has passed to ``ready``.
* ``ready``: ordered by ``(-priority, run_at, seq)``; the claim order.

Entries are deleted lazily: an entry is valid only while ``live[task_id]`` still holds its
token; stale entries are skipped when met and the heaps are rebuilt once they hold more stale
entries than live ones. Claiming ``k`` tasks therefore costs ``O((k + promoted) log n)``,
however many tasks wait.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Callable, Sequence

from omniq.backends.memory.admin import AdminVerbs
from omniq.backends.memory.copies import copy_task
from omniq.backends.memory.dependencies import DependencyVerbs
from omniq.backends.memory.registry import RegistryVerbs
from omniq.backends.memory.result_store import MemoryResultStorage
from omniq.backends.memory.schedules import ScheduleVerbs
from omniq.exceptions import BackendError
from omniq.models.event import TaskEvent
from omniq.models.task import TaskError, TaskStatus
from omniq.storage.records import CLAIMABLE_STATUSES, ResultRecord, TaskRecord

__all__ = ["MemoryTaskQueue"]

# (-priority, run_at, seq, token, task_id)
_ReadyEntry = tuple[int, float, int, int, str]
# (run_at, -priority, seq, token, task_id)
_WaitingEntry = tuple[float, int, int, int, str]

#: Heaps are rebuilt when they exceed twice the live entries plus this slack.
_COMPACT_SLACK = 64


class _QueueIndex:
    """The claimable tasks of one queue."""

    __slots__ = ("live", "ready", "waiting")

    def __init__(self) -> None:
        self.live: dict[str, int] = {}
        self.ready: list[_ReadyEntry] = []
        self.waiting: list[_WaitingEntry] = []

    def add(self, record: TaskRecord, seq: int, token: int) -> None:
        """Index a task that just became claimable."""
        self.live[record.id] = token
        heapq.heappush(self.waiting, (record.run_at, -record.priority, seq, token, record.id))

    def discard(self, task_id: str) -> None:
        """Forget a task that is no longer claimable (its entries become stale)."""
        if self.live.pop(task_id, None) is not None:
            self.compact()

    def promote(self, now: float) -> None:
        """Move every waiting entry that is due at ``now`` to ``ready``."""
        waiting, ready, live = self.waiting, self.ready, self.live
        while waiting and waiting[0][0] <= now:
            run_at, neg_priority, seq, token, task_id = heapq.heappop(waiting)
            if live.get(task_id) == token:
                heapq.heappush(ready, (neg_priority, run_at, seq, token, task_id))

    def pop_due(self, now: float) -> str | None:
        """Remove and return the id of the first due task in claim order, if any.

        Entries in ``ready`` that are not due at ``now`` (``now`` can go backwards between
        callers) are sent back to ``waiting``.
        """
        ready, live = self.ready, self.live
        while ready:
            entry = heapq.heappop(ready)
            neg_priority, run_at, seq, token, task_id = entry
            if live.get(task_id) != token:
                continue
            if run_at > now:
                heapq.heappush(self.waiting, (run_at, neg_priority, seq, token, task_id))
                continue
            del live[task_id]
            return task_id
        return None

    def compact(self) -> None:
        """Drop stale entries from any heap that holds more of them than live ones."""
        live = self.live
        limit = 2 * len(live) + _COMPACT_SLACK
        if len(self.ready) > limit:
            self.ready = [e for e in self.ready if live.get(e[4]) == e[3]]
            heapq.heapify(self.ready)
        if len(self.waiting) > limit:
            self.waiting = [e for e in self.waiting if live.get(e[4]) == e[3]]
            heapq.heapify(self.waiting)


class MemoryTaskQueue(ScheduleVerbs, DependencyVerbs, AdminVerbs, RegistryVerbs):
    """A :class:`~omniq.storage.interfaces.TaskQueue` kept in process memory.

    Thread-safe and usable from any event loop: every verb runs synchronously under one
    :class:`threading.Lock` and never awaits while holding it. Records are copied on the way in
    and out, so callers cannot change stored state by mutating what they pass or receive.
    """

    #: Set by the backend: the result store that completions write results to atomically.
    result_sink: MemoryResultStorage | None = None

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tasks: dict[str, TaskRecord] = {}
        self._seq: dict[str, int] = {}
        self._queues: dict[str, _QueueIndex] = {}
        self._executing: dict[str, None] = {}  # ordered set of executing task ids
        self._counter = itertools.count()
        self._init_schedules()
        self._init_dependencies()
        self._init_registry()

    # -- helpers (call with the lock held) ---------------------------------------------------

    def _index(self, queue_name: str) -> _QueueIndex:
        index = self._queues.get(queue_name)
        if index is None:
            index = self._queues[queue_name] = _QueueIndex()
        return index

    def _unindex(self, record: TaskRecord) -> None:
        """Drop ``record`` from the index of its current status."""
        if record.status in CLAIMABLE_STATUSES:
            index = self._queues.get(record.queue_name)
            if index is not None:
                index.discard(record.id)
        elif record.status == TaskStatus.EXECUTING:
            self._executing.pop(record.id, None)

    def _reindex(self, record: TaskRecord) -> None:
        """Add ``record`` to the index of its current status (a fresh claim entry if due)."""
        if record.status in CLAIMABLE_STATUSES:
            self._index(record.queue_name).add(record, self._seq[record.id], next(self._counter))
        elif record.status == TaskStatus.EXECUTING:
            self._executing[record.id] = None

    def _set_status(self, record: TaskRecord, status: TaskStatus) -> None:
        """Change ``record.status`` and keep the indexes in step (set ``run_at`` first)."""
        self._unindex(record)
        record.status = status
        self._reindex(record)

    def _held_by(self, task_id: str, worker_id: str) -> TaskRecord | None:
        record = self._tasks.get(task_id)
        if (
            record is not None
            and record.status == TaskStatus.EXECUTING
            and record.worker_id == worker_id
        ):
            return record
        return None

    # -- TaskQueue ---------------------------------------------------------------------------

    async def enqueue(self, tasks: Sequence[TaskRecord], events: Sequence[TaskEvent] = ()) -> None:
        """Store new tasks atomically (all or none).

        Args:
            tasks: Records with unique ids, status ``enqueued``, ``waiting`` (indexed under
                each id of ``depends_on``) or ``cancelled``.
            events: Appended to the sibling event store under the same lock.

        Raises:
            BackendError: An id is already stored or appears twice in ``tasks``; nothing is
                stored then.
        """
        self.enqueue_blocking(tasks, events)

    def enqueue_blocking(
        self, tasks: Sequence[TaskRecord], events: Sequence[TaskEvent] = ()
    ) -> None:
        """Blocking twin of :meth:`enqueue`, callable from any thread without an event loop."""
        records = [copy_task(task) for task in tasks]
        with self._lock:
            self._insert_locked(records)
            if events:
                if self.event_sink is None:
                    raise BackendError("events were given but there is no event store")
                self.event_sink.append_now(events)

    def _insert_locked(self, records: list[TaskRecord]) -> None:
        """Store copies of new tasks, all or none; the caller holds the lock."""
        seen: set[str] = set()
        for record in records:
            if record.id in self._tasks or record.id in seen:
                raise BackendError(f"a task with id {record.id!r} already exists")
            seen.add(record.id)
        for record in records:
            self._tasks[record.id] = record
            self._seq[record.id] = next(self._counter)
            self._reindex(record)
            if record.status == TaskStatus.WAITING:
                self._add_dependent(record)

    async def claim(
        self,
        queues: Sequence[str],
        limit: int,
        worker_id: str,
        now: float,
        lease_until: float,
        events_for: Callable[[list[TaskRecord]], Sequence[TaskEvent]] | None = None,
    ) -> list[TaskRecord]:
        """Atomically take up to ``limit`` due tasks for one worker.

        Queues are served strictly in the given order; within a queue higher ``priority``
        first, then earlier ``run_at``, then enqueue order. Claimed tasks become ``executing``
        with ``attempts + 1``, ``started_at=now``, ``worker_id`` and
        ``lease_expires_at=lease_until``.

        Args:
            queues: Queue names in service order.
            limit: Maximum number of tasks to claim (> 0).
            worker_id: The claiming worker.
            now: Current time; only tasks with ``run_at <= now`` are due.
            lease_until: Lease expiry written on the claimed tasks.
            events_for: Builds events for the claimed records, appended to the sibling
                event store under the same lock.

        Returns:
            The claimed records, as updated, in service order.
        """
        claimed: list[TaskRecord] = []
        with self._lock:
            for queue_name in dict.fromkeys(queues):
                if len(claimed) >= limit:
                    break
                index = self._queues.get(queue_name)
                if index is None:
                    continue
                index.promote(now)
                while len(claimed) < limit:
                    task_id = index.pop_due(now)
                    if task_id is None:
                        break
                    record = self._tasks[task_id]
                    # pop_due already dropped the index entry.
                    record.status = TaskStatus.EXECUTING
                    self._executing[task_id] = None
                    record.attempts += 1
                    record.started_at = now
                    record.worker_id = worker_id
                    record.lease_expires_at = lease_until
                    claimed.append(copy_task(record))
                index.compact()
            if events_for is not None and claimed:
                if self.event_sink is None:
                    raise BackendError("events_for was given but there is no event store")
                self.event_sink.append_now(events_for(claimed))
        return claimed

    async def extend_leases(
        self, task_ids: Sequence[str], worker_id: str, lease_until: float
    ) -> list[str]:
        """Push the lease of tasks this worker still holds.

        Args:
            task_ids: Tasks to renew.
            worker_id: Only tasks held by this worker (``executing`` under it) are renewed.
            lease_until: New lease expiry.

        Returns:
            The ids that were renewed, in the order given (a missing id means the lease was
            lost).
        """
        renewed: list[str] = []
        with self._lock:
            for task_id in dict.fromkeys(task_ids):
                record = self._held_by(task_id, worker_id)
                if record is not None:
                    record.lease_expires_at = lease_until
                    renewed.append(task_id)
        return renewed

    async def complete_many(
        self,
        task_ids: Sequence[str],
        worker_id: str,
        now: float,
        events_for: Callable[[list[str]], Sequence[TaskEvent]] | None = None,
        results: Sequence[ResultRecord] = (),
    ) -> list[str]:
        """Mark the tasks this worker holds (not cancel-requested) ``completed``; return them.

        Args:
            task_ids: The tasks.
            worker_id: The worker that ran them.
            now: Written as ``finished_at``.
            events_for: Builds events for the completed ids, appended to the sibling event
                store under the same lock.
            results: Results stored in the sibling result store under the same lock, for
                the completed ids only.
        """
        by_task = {result.task_id: result for result in results}
        completed: list[str] = []
        with self._lock:
            for task_id in task_ids:
                record = self._tasks.get(task_id)
                if (
                    record is None
                    or record.status != TaskStatus.EXECUTING
                    or record.worker_id != worker_id
                    or record.cancel_requested
                ):
                    continue
                self._set_status(record, TaskStatus.COMPLETED)
                record.finished_at = now
                record.lease_expires_at = None
                completed.append(task_id)
            if by_task and completed:
                if self.result_sink is None:
                    raise BackendError("results were given but there is no result store")
                self.result_sink.put_now([by_task[i] for i in completed if i in by_task])
            if events_for is not None and completed:
                if self.event_sink is None:
                    raise BackendError("events_for was given but there is no event store")
                self.event_sink.append_now(events_for(completed))
        return completed

    async def finish(
        self,
        task_id: str,
        status: TaskStatus,
        now: float,
        *,
        worker_id: str | None = None,
        error: TaskError | None = None,
        events: Sequence[TaskEvent] = (),
    ) -> bool:
        """Move a task to a final state.

        ``finished_at`` becomes ``now`` and the lease is cleared; ``worker_id`` is kept as the
        last holder. ``error`` replaces the stored error only when given.

        Args:
            task_id: The task.
            status: ``completed``, ``failed``, ``expired`` or ``cancelled``.
            now: Written as ``finished_at``.
            worker_id: When given, only succeed if the task is ``executing`` under this worker
                and, unless ``status`` is ``cancelled``, without ``cancel_requested``. When
                ``None``, only succeed if the task is not final yet.
            error: Error to record, if any.
            events: Appended to the event store with the change (fused write).

        Returns:
            Whether the task was updated.
        """
        with self._lock:
            record = self._tasks.get(task_id)
            if record is None:
                return False
            if worker_id is not None:
                if record.status != TaskStatus.EXECUTING or record.worker_id != worker_id:
                    return False
                if record.cancel_requested and status != TaskStatus.CANCELLED:
                    return False
            elif record.status.is_final:
                return False
            self._set_status(record, status)
            record.finished_at = now
            record.lease_expires_at = None
            if error is not None:
                record.error = error
            if events:
                if self.event_sink is None:
                    raise BackendError("events were given but there is no event store")
                self.event_sink.append_now(events)
            return True

    async def retry_later(
        self,
        task_id: str,
        worker_id: str,
        run_at: float,
        error: TaskError | None,
        events: Sequence[TaskEvent] = (),
    ) -> bool:
        """Put an executing task back as ``retrying`` until ``run_at``, counting one retry.

        ``retry_count`` grows by one, ``run_at`` and ``error`` are replaced (``error`` even when
        ``None``), the lease is cleared and ``worker_id`` kept as the last holder.

        Args:
            task_id: The task.
            worker_id: Only succeed if this worker holds the task and its ``cancel_requested``
                is not set.
            run_at: When it becomes due again.
            error: The error that caused the retry.
            events: Appended to the backend's event store in the same atomic write, only if
                the task was updated (passed only when the event store shares this queue's
                ``write_order``), so they precede the next attempt's events.

        Returns:
            Whether the task was updated.
        """
        with self._lock:
            record = self._held_by(task_id, worker_id)
            if record is None or record.cancel_requested:
                return False
            record.retry_count += 1
            record.run_at = run_at
            record.error = error
            record.lease_expires_at = None
            self._set_status(record, TaskStatus.RETRYING)
            if events:
                if self.event_sink is None:
                    raise BackendError("events were given but there is no event store")
                self.event_sink.append_now(events)
            return True

    async def release(self, task_ids: Sequence[str], worker_id: str) -> list[str]:
        """Give back tasks a stopping worker could not finish, as if never claimed.

        Status returns to ``enqueued`` and ``attempts`` drops by one; the lease and
        ``worker_id`` are cleared. The task keeps its place in enqueue order.

        Args:
            task_ids: Tasks to give back.
            worker_id: Only tasks held by this worker are released.

        Returns:
            The ids released, in the order given.
        """
        released: list[str] = []
        with self._lock:
            for task_id in dict.fromkeys(task_ids):
                record = self._held_by(task_id, worker_id)
                if record is None:
                    continue
                record.attempts = max(record.attempts - 1, 0)
                record.worker_id = None
                record.lease_expires_at = None
                self._set_status(record, TaskStatus.ENQUEUED)
                released.append(task_id)
        return released

    async def recover_expired_leases(
        self, now: float, events_for: Callable[[list[str]], Sequence[TaskEvent]] | None = None
    ) -> list[str]:
        """Make tasks whose lease expired (their worker died) claimable again.

        Every ``executing`` task with ``lease_expires_at < now`` returns to ``enqueued`` with
        its lease cleared; ``attempts`` (which counts the lost attempt) and ``worker_id`` (the
        last holder) are kept.

        Args:
            now: Leases ending before this are expired.
            events_for: Builds events for the recovered ids, appended to the sibling event
                store under the same lock.

        Returns:
            The ids made claimable.
        """
        recovered: list[str] = []
        with self._lock:
            # Only executing tasks are scanned, not every task ever stored.
            for task_id in list(self._executing):
                record = self._tasks[task_id]
                if record.lease_expires_at is not None and record.lease_expires_at < now:
                    record.lease_expires_at = None
                    self._set_status(record, TaskStatus.ENQUEUED)
                    recovered.append(task_id)
            if events_for is not None and recovered:
                if self.event_sink is None:
                    raise BackendError("events_for was given but there is no event store")
                self.event_sink.append_now(events_for(recovered))
        return recovered

    async def get(self, task_id: str) -> TaskRecord | None:
        """Return a copy of the task, or ``None`` if unknown."""
        with self._lock:
            record = self._tasks.get(task_id)
            return None if record is None else copy_task(record)
