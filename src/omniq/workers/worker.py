"""The worker loop shared by every worker type: claim, lease, heartbeat, release.

A worker keeps at most ``executor.max_workers`` tasks in flight. It claims due tasks under a
lease of ``lease_duration`` seconds and renews the leases of running tasks every third of it;
if the process dies, the leases lapse and any worker on the store re-runs those tasks
(at-least-once delivery). Idle, it wakes on in-process enqueues at once and otherwise polls
every ``poll_interval`` seconds. A maintenance pass recovers expired leases and purges expired
results.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Sequence

from omniq.core.dependencies import Dependencies
from omniq.core.notify import Channel
from omniq.core.store import Store
from omniq.exceptions import WorkerError
from omniq.models.event import EventType, TaskEvent
from omniq.storage.interfaces import TaskQueue
from omniq.workers import registry
from omniq.workers.lifecycle import TaskRunner
from omniq.workers.persistence import FailureLog
from omniq.workers.queue_watch import ALL_QUEUES, QueueWatch
from omniq.workers.scheduler import ScheduleFirer

__all__ = ["UNPROTECTED_WARNING", "Worker", "claim_window", "new_worker_id"]

_log = logging.getLogger("omniq.worker")

#: First idle wait after a claim that found work (doubles up to the poll interval).
_FIRST_IDLE_WAIT = 0.001

#: Longest wait between two looks for due schedules (other processes' schedules included).
SCHEDULE_CHECK_SECONDS = 1.0

#: Work each slot may hold claimed ahead, in seconds of (mean) body time (see claim_window).
PREFETCH_SECONDS = 0.02

#: Logged once at start by a worker with neither strict mode nor a secret_key (``%s``: its id).
UNPROTECTED_WARNING = (
    "worker %s runs unprotected: whoever can write to the store can run code here "
    "(pickled functions and arguments, any importable function); set "
    "strict_serialization=True with allowed_modules (or @oq.task), and/or a secret_key, "
    "to close that"
)

#: Longest idle wait between two looks at a store whose notifier wakes the worker (the
#: notifications are the signal; this is only the backstop for a lost one).
NOTIFIED_POLL_SECONDS = 1.0
#: Seconds between two reads of the store's queues by a worker with ``all_queues``.
QUEUE_REFRESH_SECONDS = 2.0


def claim_window(max_workers: int, prefetch_multiplier: int, mean_duration: float | None) -> int:
    """How many tasks a worker holds, running or claimed ahead of a free slot.

    Short bodies finish faster than a claim round trip (a commit, and the write lock of a
    store shared with other processes), so the worker claims ahead: each slot holds about
    :data:`PREFETCH_SECONDS` of work, at least one task and at most ``prefetch_multiplier``.
    No-op-sized bodies get the full multiplier; a 5 ms body gets 4 per slot; bodies of
    20 ms and more get none, so no task waits behind long ones while another worker is free.

    Args:
        max_workers: The worker's slots.
        prefetch_multiplier: Most tasks per slot (1 disables prefetching).
        mean_duration: Recent mean body time in seconds, ``None`` before the first body.
    """
    if mean_duration is None:
        return max_workers
    per_slot = int(PREFETCH_SECONDS / max(mean_duration, 1e-9))
    return max_workers * max(1, min(prefetch_multiplier, per_slot))


def new_worker_id() -> str:
    """A unique, readable worker id: ``host:pid:random``."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Worker:
    """Claims tasks from a queue and runs them through a :class:`TaskRunner`.

    Args:
        runner: Runs one claimed task to its outcome (holds the executor and stores).
        queues: Queue names in service order, or a callable returning them (re-read before
            each claim, so queues declared later are served too).
        lease_duration: Seconds a claim is valid without renewal.
        poll_interval: Seconds between checks of the store while idle.
        grace_period: Default seconds :meth:`stop` waits for running tasks.
        maintenance_interval: Seconds between lease-recovery and result-purge passes
            (default: half the lease).
        prefetch_multiplier: Most tasks each slot holds claimed ahead while bodies are
            short (see :func:`claim_window`); 1 disables prefetching.
        all_queues: Also serve every queue that holds waiting tasks, after ``queues``
            (re-read every :data:`QUEUE_REFRESH_SECONDS`; see
            :mod:`omniq.workers.queue_watch`).
    """

    def __init__(
        self,
        runner: TaskRunner,
        queues: Sequence[str] | Callable[[], Sequence[str]],
        *,
        lease_duration: float = 30.0,
        poll_interval: float = 0.05,
        grace_period: float = 30.0,
        maintenance_interval: float | None = None,
        prefetch_multiplier: int = 32,
        all_queues: bool = False,
    ) -> None:
        self.runner = runner
        self.worker_id = runner.worker_id
        self._queues = queues
        self.all_queues = all_queues
        self._discovered: list[str] = []
        self._watch = QueueWatch(runner.store.task_queue, self.worker_id)
        self.lease_duration = lease_duration
        self.poll_interval = poll_interval
        # With wake-ups from other processes, polling is only the backstop.
        self._backstop = (
            max(poll_interval, NOTIFIED_POLL_SECONDS) if runner.store.notifiers else poll_interval
        )
        self.grace_period = grace_period
        self.prefetch_multiplier = prefetch_multiplier
        self.maintenance_interval = maintenance_interval or lease_duration / 2
        self._running: dict[str, asyncio.Task[None]] = {}  # held: executing or recording
        self._busy: set[str] = set()
        self._last_claim_at = 0.0
        self._idle_wait = poll_interval  # running a body: these occupy the executor's slots
        self._wakeup = asyncio.Event()
        self._stopping = False
        self._loops: list[asyncio.Task[None]] = []
        self._keeper: asyncio.Task[None] | None = None  # renews leases after stop (see stop)
        # Each step that fails again and again (a full disk, a store down) logs once, then
        # once more when it works again, and backs off meanwhile.
        me = f"worker {self.worker_id}"
        self._failures = {
            step: FailureLog(_log, f"{me}: {step}", first_pause=poll_interval)
            for step in ("claiming tasks", "renewing leases", "heartbeat", "looking for "
                         "cancellations", "firing schedules", "maintenance", "reading the queues")
        }  # fmt: skip
        self.loop: asyncio.AbstractEventLoop | None = None
        #: ``threading.get_ident()`` of the thread (or greenlet, under gevent) running
        #: :attr:`loop`, once started.
        self.loop_thread: int | None = None

    @property
    def store(self) -> Store:
        """The store this worker claims from and records outcomes in."""
        return self.runner.store

    @property
    def task_queue(self) -> TaskQueue:
        """The queue this worker claims from."""
        return self.runner.store.task_queue

    @property
    def channel(self) -> Channel:
        """In-process wake-ups."""
        return self.runner.store.channel

    @property
    def is_running(self) -> bool:
        """Whether the worker has been started and not stopped."""
        return bool(self._loops) and not self._stopping

    @property
    def in_flight(self) -> int:
        """Number of tasks currently held."""
        return len(self._running)

    def queues(self) -> Sequence[str]:
        """The queue names served, in order (with ``all_queues``, those found in the store last)."""
        declared = self._queues() if callable(self._queues) else self._queues
        if not self.all_queues:
            return declared
        return [*declared, *(name for name in self._discovered if name not in declared)]

    async def start(self) -> None:
        """Start claiming on the running event loop.

        Raises:
            WorkerError: The worker was already started.
        """
        if self._loops:
            raise WorkerError(f"worker {self.worker_id} was already started")
        if self.runner.observer is not None:  # may refuse, e.g. a metrics port that is taken
            self.runner.observer.worker_started(self)
        self.loop = asyncio.get_running_loop()
        self.loop_thread = threading.get_ident()
        advertised = list(self.queues())
        try:
            if self.all_queues:
                self._discovered = await self._watch.waiting_queues(self.store.clock.now())
                advertised = [*self.queues(), ALL_QUEUES]
            await registry.register(self.task_queue, self.worker_id, advertised,
                                    self.runner.executor.max_workers, self.lease_duration,
                                    self.store.clock.now())  # fmt: skip
        except BaseException:
            if self.runner.observer is not None:
                self.runner.observer.worker_stopped(self)
            raise
        self._wakeup = asyncio.Event()
        self.channel.add_task_listener(self._wakeup)
        self._loops = [
            asyncio.create_task(self._claim_loop(), name=f"omniq-claim-{self.worker_id}"),
            asyncio.create_task(self._heartbeat_loop(), name=f"omniq-lease-{self.worker_id}"),
            asyncio.create_task(self._maintenance_loop(), name=f"omniq-maint-{self.worker_id}"),
            asyncio.create_task(self._schedule_loop(), name=f"omniq-schedules-{self.worker_id}"),
            asyncio.create_task(self._cancel_loop(), name=f"omniq-cancel-{self.worker_id}"),
        ]
        if self.all_queues:
            self._loops.append(
                asyncio.create_task(self._queue_loop(), name=f"omniq-queues-{self.worker_id}")
            )
        _log.info("worker %s started on queues %s", self.worker_id, list(self.queues()))
        self._warn_if_unprotected()

    def _warn_if_unprotected(self) -> None:
        """Log one line when whoever can write to the store can run code in this worker."""
        serializer = self.runner.serializer
        if serializer.strict or serializer.signed or self.store.private_queue:
            return
        _log.warning(UNPROTECTED_WARNING, self.worker_id)

    async def stop(self, grace_period: float | None = None) -> None:
        """Stop claiming, let running tasks finish, release what did not finish in time.

        A body still running in a thread once the grace period is over cannot be
        interrupted, so its task is not released: another worker would run it while this
        body still does. The worker keeps renewing that lease until the body ends, then
        records its outcome as usual (:attr:`keeping_leases`); :meth:`abandon` gives those
        leases up (closing the OmniQ does).

        Args:
            grace_period: Seconds to wait for running tasks (default: the worker's).
        """
        if not self._loops or self._stopping:
            return
        self._stopping = True
        self._wakeup.set()
        self.channel.remove_task_listener(self._wakeup)
        grace = self.grace_period if grace_period is None else grace_period
        claim_loop, *others = self._loops
        await asyncio.gather(claim_loop, return_exceptions=True)
        if self._running:
            await asyncio.wait(list(self._running.values()), timeout=grace)
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
        kept = self.runner.running_in_threads(list(self._running))
        leftover = [task_id for task_id in self._running if task_id not in kept]
        if leftover:
            await self._release(leftover)
            stopped = [self._running[task_id] for task_id in leftover if task_id in self._running]
            for task in stopped:
                task.cancel()
            await asyncio.gather(*stopped, return_exceptions=True)
        if kept:
            _log.info(
                "worker %s: %d task bodies run on in threads, which cannot be interrupted: "
                "their leases are kept until they end, and their outcomes recorded (%s)",
                self.worker_id, len(kept), ", ".join(kept),
            )  # fmt: skip
            self._keeper = asyncio.create_task(
                self._keep_leases(kept), name=f"omniq-kept-leases-{self.worker_id}"
            )
        else:
            self.runner.executor.shutdown()
        await registry.unregister(self.task_queue, self.worker_id)
        if self.runner.observer is not None:
            self.runner.observer.worker_stopped(self)
        _log.info("worker %s stopped (%d tasks released)", self.worker_id, len(leftover))

    @property
    def keeping_leases(self) -> bool:
        """Whether the stopped worker still renews the leases of bodies running in threads."""
        return self._keeper is not None and not self._keeper.done()

    async def _keep_leases(self, task_ids: list[str]) -> None:
        """Renew the leases of ``task_ids`` until their bodies end and outcomes are recorded."""
        try:
            while True:
                held = [task_id for task_id in task_ids if task_id in self._running]
                if not held:
                    return
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.lease_duration / 3):
                        await asyncio.wait([self._running[task_id] for task_id in held])
                    continue
                try:
                    await self.task_queue.extend_leases(
                        held, self.worker_id, self.store.clock.now() + self.lease_duration
                    )
                except Exception:
                    self._failures["renewing leases"].failed()
                else:
                    self._failures["renewing leases"].succeeded()
        finally:
            self.runner.executor.shutdown()

    async def abandon(self) -> None:
        """Stop renewing the leases kept by :meth:`stop`; their tasks run again once expired.

        Their bodies run on in their threads unobserved (daemon threads end with the
        process); if the process outlives the lease, another worker may run the task while
        the body still does.
        """
        keeper = self._keeper
        if keeper is None or keeper.done():
            return
        keeper.cancel()
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(keeper, *tasks, return_exceptions=True)
        _log.warning(
            "worker %s: gave up the leases of %d tasks whose bodies still run in threads; "
            "they run again once their leases expire",
            self.worker_id, len(tasks),
        )  # fmt: skip

    async def _release(self, task_ids: list[str]) -> None:
        released = await self.task_queue.release(task_ids, self.worker_id)
        now = self.store.clock.now()
        await self.store.event_store.append([
            TaskEvent(task_id=task_id, type=EventType.RELEASED, timestamp=now,
                      worker_id=self.worker_id, detail="worker stopped before it finished")
            for task_id in released
        ])  # fmt: skip
        if released:
            self.channel.notify_tasks()

    async def _claim_loop(self) -> None:
        while not self._stopping:
            self._wakeup.clear()
            # Abandoned bodies (threads running on after a timeout) still hold executor slots.
            free = self._claim_window() - len(self._busy) - self.runner.executor.abandoned
            claimed = 0
            if free > 0:
                claimed = await self._claim(free)
                if claimed == free:
                    continue  # maybe more is due: claim again as soon as a slot frees
            # Idle waits start short after activity and double up to poll_interval: a client
            # that enqueues again right after its last result is served in ~1 ms, not a
            # full poll interval later, and an idle worker still polls only every interval.
            self._idle_wait = (
                _FIRST_IDLE_WAIT if claimed else min(self._idle_wait * 2, self._backstop)
            )
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancellation
            # that coincides with the wake-up, and this loop would then never end.
            timeout = min(self._idle_wait, self._backstop)
            due = self.channel.next_due(after=self._last_claim_at)
            if due is not None:  # a task of this process becomes due before the next poll
                timeout = max(0.0, min(timeout, due - self.store.clock.now()))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wakeup.wait()

    def _claim_window(self) -> int:
        """How many tasks to hold waiting for or running a body (see :func:`claim_window`)."""
        executor = self.runner.executor
        return claim_window(executor.max_workers, self.prefetch_multiplier, executor.mean_duration)

    async def _claim(self, limit: int) -> int:
        now = self._last_claim_at = self.store.clock.now()
        # With fused events the start events are written by the claim itself (one commit);
        # otherwise in one write right after it.
        fused = self.store.capabilities.fused_events
        events_for = functools.partial(self.runner.start_events, now=now) if fused else None
        try:
            records = await self.task_queue.claim(
                list(self.queues()), limit, self.worker_id, now, now + self.lease_duration,
                events_for,
            )  # fmt: skip
        except Exception:
            await asyncio.sleep(self._failures["claiming tasks"].failed())
            return 0
        self._failures["claiming tasks"].succeeded()
        if not records:
            return 0
        # Each task awaits its start events before its body runs, so its events stay in order.
        events = [] if fused else self.runner.start_events(records, now)
        started = asyncio.ensure_future(
            self.store.event_store.append(events) if events else asyncio.sleep(0)
        )
        for record in records:
            self._busy.add(record.id)
            body_done = functools.partial(self._body_done, record.id)
            task = asyncio.create_task(
                self.runner.run(record, body_done, asyncio.shield(started)),
                name=f"omniq-task-{record.id}",
            )
            self._running[record.id] = task
            task.add_done_callback(functools.partial(self._done, record.id))
        return len(records)

    def _body_done(self, task_id: str) -> None:
        if task_id in self._busy:
            self._busy.discard(task_id)
            self._wakeup.set()

    def _done(self, task_id: str, task: asyncio.Task[None]) -> None:
        self._running.pop(task_id, None)
        self._body_done(task_id)
        if not task.cancelled() and (exc := task.exception()) is not None:
            _log.error("worker %s: task %s could not be recorded: %r", self.worker_id, task_id, exc)

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.lease_duration / 3)
            await registry.heartbeat(
                self.task_queue, self.worker_id, self.store.clock.now(), self._failures["heartbeat"]
            )
            held = list(self._running)
            if not held:
                continue
            try:
                renewed = await self.task_queue.extend_leases(
                    held, self.worker_id, self.store.clock.now() + self.lease_duration
                )
            except Exception:
                self._failures["renewing leases"].failed()
                continue
            self._failures["renewing leases"].succeeded()
            # Tasks whose body ended may be completed already (no longer executing): not lost.
            lost = (set(held) - set(renewed)) & self._busy
            if lost:
                _log.warning("worker %s lost the lease of %s", self.worker_id, sorted(lost))

    async def _cancel_loop(self) -> None:
        """Interrupt the bodies whose cancellation was requested.

        Looks at once when this process requests a cancellation (``Channel.notify_cancel``),
        and otherwise as often as leases are renewed, for requests from other processes.
        """
        requested = asyncio.Event()
        self.channel.add_cancel_listener(requested)
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.lease_duration / 3):
                        await requested.wait()
                requested.clear()
                busy = list(self._busy)
                if not busy:
                    continue
                try:
                    cancelled = await self.task_queue.requested_cancellations(busy)
                except Exception:
                    self._failures["looking for cancellations"].failed()
                    continue
                self._failures["looking for cancellations"].succeeded()
                for task_id in cancelled:
                    if self.runner.interrupt(task_id):
                        _log.info("worker %s: task %s cancelled while executing",
                                  self.worker_id, task_id)  # fmt: skip
        finally:
            self.channel.remove_cancel_listener(requested)

    async def _schedule_loop(self) -> None:
        """Fire due schedules; sleep until the next due time this process knows of, or 1 s."""
        firer = ScheduleFirer(self.store)
        woken = asyncio.Event()
        self.channel.add_schedule_listener(woken)
        try:
            while True:
                woken.clear()
                checked = self.store.clock.now()
                timeout = SCHEDULE_CHECK_SECONDS
                try:
                    await firer.fire_due()
                except Exception:
                    timeout = max(timeout, self._failures["firing schedules"].failed())
                else:
                    self._failures["firing schedules"].succeeded()
                due = self.channel.next_schedule_due(after=checked)
                if due is not None:
                    timeout = max(0.0, min(timeout, due - self.store.clock.now()))
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(timeout):
                        await woken.wait()
        finally:
            self.channel.remove_schedule_listener(woken)

    def _recovery_events(self, task_ids: list[str], now: float) -> list[TaskEvent]:
        return [
            TaskEvent(task_id=task_id, type=EventType.RETRYING, timestamp=now,
                      worker_id=self.worker_id,
                      error="lease expired: its worker stopped renewing it",
                      detail="recovered after the worker's lease expired")
            for task_id in task_ids
        ]  # fmt: skip

    async def _maintenance_loop(self) -> None:
        store = self.store
        while True:
            try:
                await store.clock.sync()
                now = store.clock.now()
                events_for = functools.partial(self._recovery_events, now=now)
                fused = store.capabilities.fused_events
                recovered = await self.task_queue.recover_expired_leases(
                    now, events_for if fused else None
                )
                if recovered:
                    _log.warning("recovered %d tasks whose worker died", len(recovered))
                    if self.runner.observer is not None:
                        self.runner.observer.leases_recovered(recovered)
                    if not fused:
                        await store.event_store.append(events_for(recovered))
                    self._wakeup.set()
                await store.result_store.purge_expired(now)
                settled = await Dependencies(store, self.worker_id).reconcile()
                if settled:
                    _log.warning("settled %d dependents left waiting by a crash", settled)
                await self._watch.check_unserved(now, list(self.queues()))
            except Exception:
                self._failures["maintenance"].failed()
            else:
                self._failures["maintenance"].succeeded()
            await asyncio.sleep(self.maintenance_interval)

    async def _queue_loop(self) -> None:
        """With ``all_queues``: re-read the store's queues; wake the claims for new ones."""
        while True:
            await asyncio.sleep(QUEUE_REFRESH_SECONDS)
            try:
                found = await self._watch.waiting_queues(self.store.clock.now())
            except Exception:
                self._failures["reading the queues"].failed()
                continue
            self._failures["reading the queues"].succeeded()
            if set(found) - set(self._discovered):
                _log.info("worker %s now also serves %s", self.worker_id,
                          ",".join(sorted(set(found) - set(self._discovered))))  # fmt: skip
                self._wakeup.set()
            self._discovered = found
