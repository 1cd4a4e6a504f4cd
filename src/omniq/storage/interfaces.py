"""The three storage roles every backend implements, and the bundle that holds them.

Backends do small atomic verbs on records; the core (``omniq.core``) owns policy: retries,
TTLs, ordering of queues, what an event means. A backend must make each verb atomic even when
several processes share the store.

**The any-loop rule.** Every ``async`` verb may be awaited from any event loop in any
thread: OmniQ calls them from its own loop thread, from the user's loops and from worker
threads. A backend whose client is bound to one loop (a psycopg pool, ``redis.asyncio``,
nats-py) hosts it on one I/O thread with :class:`omniq.storage.bridge.LoopBridge`, which
hands each result back on the caller's own loop.

**Times** are floats of seconds since the epoch, given by the caller: a backend stores and
compares them exactly (a float must round-trip bit for bit) and never reads a clock of its
own for them. Lease times come from the store's clock where it has one (see
:class:`ServerClock`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from omniq.models.event import TaskEvent
from omniq.models.schedule import ScheduleStatus
from omniq.models.task import TaskError, TaskStatus
from omniq.storage.capabilities import Capabilities
from omniq.storage.records import ResultRecord, ScheduleRecord, TaskRecord

__all__ = [
    "Backend",
    "BlockingEnqueue",
    "EventStorage",
    "NotificationSink",
    "Notifier",
    "ResultStorage",
    "ServerClock",
    "StoreProbe",
    "TaskQueue",
    "TransactionalEnqueue",
]


@runtime_checkable
class BlockingEnqueue(Protocol):
    """Optional: a task queue that stores tasks from a plain thread, with no event loop.

    The sync :meth:`omniq.OmniQ.enqueue` hands its task straight to such a queue instead of
    going through OmniQ's event-loop thread (the SQLite and memory task queues have it).
    """

    def enqueue_blocking(
        self, tasks: Sequence[TaskRecord], events: Sequence[TaskEvent] = ()
    ) -> None:
        """Blocking twin of :meth:`TaskQueue.enqueue`: same arguments, same atomicity.

        Args:
            tasks: The new tasks.
            events: Their events, written in the same atomic write.
        """
        ...


@runtime_checkable
class TransactionalEnqueue(Protocol):
    """Optional: a task queue that stores tasks inside the application's own transaction.

    The tasks exist if and only if that transaction commits (PostgreSQL: the caller's
    psycopg connection). Only for a backend with ``fused_events``: the events go in the
    same transaction.
    """

    def enqueue_in(
        self, connection: Any, tasks: Sequence[TaskRecord], events: Sequence[TaskEvent]
    ) -> None:
        """Store ``tasks`` and ``events`` with ``connection``, in its current transaction.

        Raises:
            ConfigurationError: ``connection`` is not a connection this backend can use.
        """
        ...

    async def enqueue_in_async(
        self, connection: Any, tasks: Sequence[TaskRecord], events: Sequence[TaskEvent]
    ) -> None:
        """Async twin of :meth:`enqueue_in`, for an async connection (awaited on its loop)."""
        ...


@runtime_checkable
class TaskQueue(Protocol):
    """Stores tasks and hands them to workers under a lease."""

    async def enqueue(self, tasks: Sequence[TaskRecord], events: Sequence[TaskEvent] = ()) -> None:
        """Store new tasks atomically (all or none).

        A ``waiting`` task is recorded, in the same atomic write, as a dependent of every id
        in its ``depends_on``, so :meth:`release_dependents` and :meth:`cancel_dependents`
        find it from those ids without a scan.

        Args:
            tasks: Records with unique ids, status ``enqueued``, ``waiting`` (dependencies
                not completed yet) or ``cancelled`` (a dependency already failed).
            events: Appended to the backend's event store in the same atomic write (passed
                only when the backend declares ``fused_events``), so a task's ``enqueued``
                event always precedes the events of its claim.
        """
        ...

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

        Queues are served strictly in the given order (every due task of ``queues[0]`` before
        any of ``queues[1]``); within a queue higher ``priority`` first, then earlier
        ``run_at``, then enqueue order. Claimed tasks become ``executing`` with
        ``attempts + 1``, ``started_at=now``, ``worker_id`` and ``lease_expires_at=lease_until``.

        Args:
            queues: Queue names in service order.
            limit: Maximum number of tasks to claim (> 0).
            worker_id: The claiming worker.
            now: Current time; only tasks with ``run_at <= now`` are due.
            lease_until: Lease expiry written on the claimed tasks.
            events_for: Builds the events of the claimed records, appended to the backend's
                event store in the same atomic write. Callers pass it only when the backend
                declares ``fused_events``, so a body never starts before its ``executing``
                event is durable and the two cost one commit. Each record's events depend
                on that record alone, so a backend whose write is one server-side step may
                call it before the write with the records it is about to claim (as they
                will be once claimed), and keep the events of those it did claim.

        Returns:
            The claimed records, as updated, in service order.
        """
        ...

    async def extend_leases(
        self, task_ids: Sequence[str], worker_id: str, lease_until: float
    ) -> list[str]:
        """Push the lease of tasks this worker still holds.

        Args:
            task_ids: Tasks to renew.
            worker_id: Only tasks held by this worker are renewed.
            lease_until: New lease expiry.

        Returns:
            The ids that were renewed (a missing id means the lease was lost).
        """
        ...

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

        Args:
            task_id: The task.
            status: ``completed``, ``failed``, ``expired`` or ``cancelled``.
            now: Written as ``finished_at``.
            worker_id: When given, only succeed if the task is ``executing`` under this worker
                (a worker whose lease was lost must not overwrite the new owner's work) and,
                unless ``status`` is ``cancelled``, its ``cancel_requested`` is not set (a
                task whose cancellation was requested can only end ``cancelled``). When
                ``None``, only succeed if the task is not final yet.
            error: Error to record, if any.
            events: Appended to the backend's event store in the same atomic write, only if
                the task was updated (passed only when the backend declares
                ``fused_events``), so a reader woken by the outcome finds its event too.

        Returns:
            Whether the task was updated.
        """
        ...

    async def complete_many(
        self,
        task_ids: Sequence[str],
        worker_id: str,
        now: float,
        events_for: Callable[[list[str]], Sequence[TaskEvent]] | None = None,
        results: Sequence[ResultRecord] = (),
    ) -> list[str]:
        """Mark tasks ``completed`` in one atomic write (the hot path of a busy worker).

        Same rule as :meth:`finish` with a ``worker_id``: only tasks ``executing`` under this
        worker and without ``cancel_requested`` are updated.

        Args:
            task_ids: The tasks.
            worker_id: The worker that ran them.
            now: Written as ``finished_at``.
            events_for: Builds the events of the completed ids, appended to the backend's
                event store in the same atomic write. Only given when the backend declares
                ``fused_events``. Each id's events depend on that id alone, so a backend
                that writes in one statement may call it with every id given, before the
                write, and keep the events of the ids it completed.
            results: The results of the tasks, stored (or replaced, see
                :meth:`ResultStorage.put_many`) in the same atomic write in the backend's
                result store, for the completed ids only: a task is never ``completed``
                without its result, nor the other way round. Only given when the backend
                declares ``fused_results``.

        Returns:
            The ids updated (a missing id means its lease was lost).
        """
        ...

    async def retry_later(
        self,
        task_id: str,
        worker_id: str,
        run_at: float,
        error: TaskError | None,
        events: Sequence[TaskEvent] = (),
    ) -> bool:
        """Put an executing task back as ``retrying`` until ``run_at``, counting one retry.

        Args:
            task_id: The task.
            worker_id: Only succeed if this worker holds the task and its ``cancel_requested``
                is not set.
            run_at: When it becomes due again.
            error: The error that caused the retry.
            events: Appended to the backend's event store in the same atomic write, only if
                the task was updated (passed only when the backend declares
                ``fused_events``), so they precede the next attempt's events.

        Returns:
            Whether the task was updated.
        """
        ...

    async def release(self, task_ids: Sequence[str], worker_id: str) -> list[str]:
        """Give back tasks a stopping worker could not finish, as if never claimed.

        The attempt is not counted (``attempts - 1``); status returns to ``enqueued``.

        Args:
            task_ids: Tasks to give back.
            worker_id: Only tasks held by this worker are released.

        Returns:
            The ids released.
        """
        ...

    async def recover_expired_leases(
        self, now: float, events_for: Callable[[list[str]], Sequence[TaskEvent]] | None = None
    ) -> list[str]:
        """Make tasks whose lease expired (their worker died) claimable again.

        Args:
            now: Leases ending before this are expired.
            events_for: Builds the events of the recovered ids, appended in the same
                atomic write (only passed when the backend declares ``fused_events``), so
                they precede the next attempt's events. It may be called before the write
                with candidate ids; only the events of the ids recovered are kept.

        Returns:
            The ids made claimable.
        """
        ...

    async def get(self, task_id: str) -> TaskRecord | None:
        """Return the task, or ``None`` if unknown."""
        ...

    # -- dependencies and cancellation ---------------------------------------------------

    async def stuck_waiting(self, limit: int) -> list[TaskRecord]:
        """Return up to ``limit`` ``waiting`` tasks that should not wait any more.

        Those whose dependencies all completed, or one of whose dependencies failed, expired
        or was cancelled: a release or cancellation that a crash interrupted. Read-only.
        """
        ...

    async def release_dependents(
        self,
        task_ids: Sequence[str],
        events_for: Callable[[list[str]], Sequence[TaskEvent]] | None = None,
    ) -> list[str]:
        """Make claimable the ``waiting`` dependents whose dependencies all completed.

        Looks only at the dependents of ``task_ids`` (found through the dependency records
        :meth:`enqueue` wrote, not by a scan): each ``waiting`` one whose every
        ``depends_on`` task is ``completed`` becomes ``enqueued``, keeping its ``run_at``.
        Idempotent: calling it again, or for tasks that are not completed, changes nothing
        that should not change.

        Args:
            task_ids: Tasks that just completed.
            events_for: Called with the released ids inside the same atomic write; its
                events (their ``enqueued`` events) are appended there, so they precede the
                events of their claim. Only given when the backend declares
                ``fused_events``.

        Returns:
            The ids that became ``enqueued``.
        """
        ...

    async def cancel_dependents(self, task_id: str, error: TaskError, now: float) -> list[str]:
        """Cancel every ``waiting`` task that depends on ``task_id``, directly or transitively.

        Each becomes ``cancelled`` with ``finished_at=now`` and ``error``, in one atomic
        write; tasks in any other status are left alone (their dependents are still visited).

        Args:
            task_id: A task that will never complete (failed, expired or cancelled).
            error: Recorded on each cancelled dependent (it names ``task_id``).
            now: Written as ``finished_at``.

        Returns:
            The ids cancelled, nearest dependents first.
        """
        ...

    async def cancel(self, task_id: str, now: float, error: TaskError) -> TaskStatus | None:
        """Cancel a task, atomically, according to its status.

        * ``waiting``, ``enqueued`` or ``retrying``: it becomes ``cancelled`` with
          ``finished_at=now`` and ``error`` (and is never claimed).
        * ``executing``: ``cancel_requested`` is set; the status is unchanged (its worker
          records the cancellation, see :meth:`finish`).
        * final: nothing changes.

        Args:
            task_id: The task.
            now: Written as ``finished_at``.
            error: Recorded on a task cancelled at once.

        Returns:
            The status the task had before the call, or ``None`` if the task is unknown.
        """
        ...

    async def requested_cancellations(self, task_ids: Sequence[str]) -> list[str]:
        """Return the ids among ``task_ids`` whose ``cancel_requested`` is set (any order)."""
        ...

    # -- schedules: stored beside the tasks, so firing one is a single atomic write ----------

    async def add_schedule(self, schedule: ScheduleRecord) -> None:
        """Store a new schedule."""
        ...

    async def get_schedule(self, schedule_id: str) -> ScheduleRecord | None:
        """Return the schedule, or ``None`` if unknown."""
        ...

    async def list_schedules(self) -> list[ScheduleRecord]:
        """Return every schedule, oldest first."""
        ...

    async def due_schedules(self, now: float, limit: int) -> list[ScheduleRecord]:
        """Return up to ``limit`` active schedules with ``next_run_at <= now``, earliest first."""
        ...

    async def fire_schedule(
        self,
        schedule_id: str,
        expected_next_run_at: float,
        next_run_at: float | None,
        status: ScheduleStatus,
        task: TaskRecord,
        events: Sequence[TaskEvent] = (),
    ) -> bool:
        """Fire one due run, exactly once among all workers.

        ``task.id`` is derived from the schedule id and ``expected_next_run_at`` (see
        :func:`omniq.core.schedules.run_id`): every worker firing the same run builds the
        same task. Atomically: if the schedule is still ``active`` with ``next_run_at ==
        expected_next_run_at``, set ``next_run_at`` and ``status``, add one to ``run_count``,
        set ``last_run_at = task.created_at``, enqueue ``task`` and append ``events`` to the
        backend's event store; otherwise change nothing (another worker fired this run
        first). A store without multi-key transactions may instead *create the task if
        absent*, then compare-and-set the schedule: the deterministic id makes that exactly
        once too (a second creator finds the task there and returns ``False``). Callers
        pass ``events`` only when the backend declares ``fused_events``, so the run's
        ``enqueued`` event can never follow its claim.

        Returns:
            Whether this call fired the run.
        """
        ...

    async def set_schedule_status(
        self,
        schedule_id: str,
        status: ScheduleStatus,
        from_statuses: Sequence[ScheduleStatus],
        next_run_at: float | None,
    ) -> bool:
        """Change a schedule's status and ``next_run_at`` if its status is in ``from_statuses``.

        Returns:
            Whether the schedule was changed.
        """
        ...

    async def schedule_runs(self, schedule_id: str) -> list[TaskRecord]:
        """Return the tasks a schedule fired, in the order they were enqueued."""
        ...


@runtime_checkable
class ResultStorage(Protocol):
    """Stores task results, each with an optional expiry and the attempt that produced it."""

    async def put_many(self, results: Sequence[ResultRecord]) -> None:
        """Store results in one atomic write.

        A stored result of the same task is replaced only when the new one's ``attempt`` is
        not lower than its own: a worker that lost its lease and writes late can never
        replace the result of the attempt that took the task over.
        """
        ...

    async def get(self, task_id: str, now: float) -> ResultRecord | None:
        """Return the unexpired result of a task (``expires_at >= now``), or ``None``."""
        ...

    async def delete(self, task_id: str) -> bool:
        """Delete a result; return whether one existed."""
        ...

    async def delete_many(self, task_ids: Sequence[str]) -> int:
        """Delete the results of these tasks in bulk; return how many existed."""
        ...

    async def purge_expired(self, now: float) -> int:
        """Delete every result whose ``expires_at`` is before ``now``; return how many."""
        ...


@runtime_checkable
class EventStorage(Protocol):
    """An append-only log of task lifecycle events."""

    async def append(self, events: Sequence[TaskEvent]) -> None:
        """Append events, keeping their order."""
        ...

    async def for_task(self, task_id: str) -> list[TaskEvent]:
        """Return a task's events in the order they were appended."""
        ...


@runtime_checkable
class ServerClock(Protocol):
    """Optional: a store with a clock of its own (PostgreSQL ``now()``, Redis ``TIME``).

    Workers on several machines then take every lease time from that one clock (through
    :class:`omniq.core.clock.StoreClock`, which keeps the offset of the local clock), so
    leases do not depend on the machines' clocks agreeing. Stores without one (SQLite,
    memory, files) use the local clock: their workers share one machine, or must keep their
    clocks in sync (NTP) when a file store is shared between machines.
    """

    async def server_time(self) -> float:
        """The store's current time, in seconds since the epoch."""
        ...


@runtime_checkable
class StoreProbe(Protocol):
    """Optional: a backend that can tell whether its store exists, without creating it.

    The ``omniq`` read commands (``status``, ``tasks``, ``results``...) ask before they open
    a backend, so that a mistyped ``--db-path`` or ``--project`` is reported instead of
    quietly creating an empty store. Only ``omniq worker`` and the library create stores.
    """

    def store_exists(self) -> bool:
        """Whether the store holds an OmniQ project (blocking; creates nothing).

        Raises:
            BackendError: The store's server cannot be asked.
        """
        ...


@runtime_checkable
class NotificationSink(Protocol):
    """What a :class:`Notifier` feeds: OmniQ's in-process wake-ups (``omniq.core.notify``)."""

    def tasks_available(self, when: float | None = None) -> None:
        """Tasks were stored or became claimable (due at ``when``, or now)."""
        ...

    def result_ready(self, task_id: str) -> None:
        """``task_id`` reached a final outcome."""
        ...

    def schedules_changed(self, when: float | None = None) -> None:
        """A schedule was added or resumed (next due at ``when``)."""
        ...

    def cancel_requested(self) -> None:
        """The cancellation of an executing task was requested."""
        ...


@runtime_checkable
class Notifier(Protocol):
    """Optional: wake-ups from other processes (LISTEN/NOTIFY, pub/sub, subjects, polling).

    The backend's verbs publish, in the same write where the store has transactions (a new
    task, a result, a schedule, a cancellation request); the notifier listens and calls the
    sink. Notifications are hints, never the truth: a lost one costs a poll interval, since
    workers and waiters keep polling as a backstop.
    """

    async def start(self, sink: NotificationSink) -> None:
        """Start listening; call ``sink`` for every notification until :meth:`stop`."""
        ...

    async def stop(self) -> None:
        """Stop listening (idempotent)."""
        ...


@runtime_checkable
class Backend(Protocol):
    """A backend bundles one implementation of each storage role.

    Attributes:
        task_queue: The task queue.
        result_store: The result storage.
        event_store: The event storage.
        channel: Key for in-process wake-ups: OmniQ instances in one process whose backends
            have the same channel see each other's enqueues and results at once.
        capabilities: What the three roles do together (see
            :class:`omniq.storage.capabilities.Capabilities`).

    Optional attributes: ``notifier`` (a :class:`Notifier`, or ``None``) for wake-ups
    from other processes, and ``clock`` (a :class:`ServerClock`, or ``None``).
    """

    task_queue: TaskQueue
    result_store: ResultStorage
    event_store: EventStorage
    channel: str
    capabilities: Capabilities

    def initialize(self) -> None:
        """Create or open the store (idempotent)."""
        ...

    async def initialize_async(self) -> None:
        """Async twin of :meth:`initialize`."""
        ...

    def close(self) -> None:
        """Release connections and threads (idempotent)."""
        ...

    async def close_async(self) -> None:
        """Async twin of :meth:`close`."""
        ...
