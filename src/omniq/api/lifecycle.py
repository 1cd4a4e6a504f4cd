"""What every method group of :class:`omniq.OmniQ` stands on: opening the store, its worker.

The facade is split by subject (enqueue, results, schedules, operating a store); each group
is a mixin over this base, which holds the instance's state, opens and closes the storage
(building its :class:`~omniq.core.store.Store`) and starts and stops its worker.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Coroutine, Mapping
from types import TracebackType
from typing import Any, Self

from omniq.core import validation as check
from omniq.core.dependencies import Dependencies
from omniq.core.notify import Channel
from omniq.core.portal import portal
from omniq.core.store import Store
from omniq.exceptions import ConfigurationError, WorkerError
from omniq.models.config import OmniQConfig, TaskDefaultsConfig
from omniq.serialization import Serializer
from omniq.storage.interfaces import Backend, EventStorage, ResultStorage, TaskQueue
from omniq.workers.assembly import build_worker
from omniq.workers.config import WorkerOptions
from omniq.workers.worker import Worker

__all__ = ["Lifecycle", "refuse_on_worker_loop"]

_log = logging.getLogger("omniq")


class Lifecycle:
    """The state of an OmniQ instance: its storage (opened on first use) and its worker.

    Set by :class:`omniq.OmniQ`'s constructor: the backend and the roles given as
    instances, the channel, the serializer, the queues and the worker defaults.
    """

    project_name: str
    backend: Backend | None
    serializer: Serializer
    worker_type: str
    worker_config: dict[str, Any]
    worker: Worker | None
    _roles: tuple[TaskQueue | None, ResultStorage | None, EventStorage | None]
    _channel: Channel
    _config: OmniQConfig
    _owns_backend: bool
    _queues: list[str]
    _store: Store | None
    _open_lock: threading.Lock
    _opening: concurrent.futures.Future[None] | None
    _stopped_workers: list[Worker]

    def _init_lifecycle(self) -> None:
        self.worker = None
        # Stopped workers still renewing the leases of bodies running in threads (see
        # Worker.stop): closing the instance makes them give those leases up.
        self._stopped_workers = []
        self._store = None
        # Opening is shared by every caller, whatever its loop or thread: the first one opens,
        # the others wait for it (so the backend is never initialized twice at once).
        self._open_lock = threading.Lock()
        self._opening = None

    # -- the storage ----------------------------------------------------------------------

    @property
    def store(self) -> Store:
        """The opened storage: its three roles, capabilities, wake-ups and clock.

        Raises:
            ConfigurationError: The instance is not open yet.
        """
        store = self._store
        if store is None:
            raise ConfigurationError(
                "the store is not available before the instance is opened: "
                "use it as a context manager or call open()"
            )
        return store

    @property
    def task_queue(self) -> TaskQueue:
        """The task queue in use (available once the instance is open)."""
        return self._role(0, "task_queue")  # type: ignore[no-any-return]

    @property
    def result_store(self) -> ResultStorage:
        """The result storage in use (available once the instance is open)."""
        return self._role(1, "result_store")  # type: ignore[no-any-return]

    @property
    def event_store(self) -> EventStorage:
        """The event storage in use (available once the instance is open)."""
        return self._role(2, "event_store")  # type: ignore[no-any-return]

    def _role(self, index: int, name: str) -> Any:
        if self._store is not None:
            return getattr(self._store, name)
        given = self._roles[index]
        if given is not None:
            return given
        if self.backend is None or not hasattr(self.backend, name):
            raise ConfigurationError(
                f"{name} is not available before the instance is opened: "
                "use it as a context manager or call open()"
            )
        return getattr(self.backend, name)

    @property
    def _dependencies(self) -> Dependencies:
        """The dependency policy on this instance's store (available once open)."""
        return Dependencies(self.store)

    def _task_defaults(self) -> TaskDefaultsConfig:
        """Defaults of the configuration for options an enqueue or schedule call omits."""
        return self._config.task_defaults

    def _declare_queue(self, queue_name: str) -> None:
        """Serve an undeclared queue in this instance, after the declared ones."""
        if queue_name in self._queues:
            return
        self._queues = [*self._queues, queue_name]
        _log.info(
            "queue %r was not declared: declared it in this instance (served after %s); "
            "workers of other processes serve it only if they declare it",
            queue_name,
            ", ".join(repr(name) for name in self._queues[:-1]),
        )

    async def open_async(self) -> Self:
        """Open the storage (idempotent; also done on first use)."""
        if self._store is not None:
            return self
        with self._open_lock:
            opening = self._opening
            if opening is None:
                self._opening = mine = concurrent.futures.Future[None]()
        if opening is not None:  # another caller is opening it: wait for that
            await asyncio.wrap_future(opening)
            return self
        try:
            if self.backend is not None:
                await self.backend.initialize_async()
            store = Store.assemble(self.backend, self._roles, self._channel)
            await store.start()
            self._store = store
        except BaseException as exc:
            mine.set_exception(exc)
            raise
        else:
            mine.set_result(None)
        finally:
            with self._open_lock:
                self._opening = None
        return self

    def open(self) -> Self:
        """Sync twin of :meth:`open_async` (same arguments, same result)."""
        return portal().call(self.open_async())

    async def close_async(self) -> None:
        """Stop the worker (gracefully) and close storage this instance opened.

        Leases still kept for task bodies running on in threads after a stop are given up:
        those tasks run again once their leases expire, as after a crash.
        """
        await self.stop_worker_async()
        lingering, self._stopped_workers = self._stopped_workers, []
        for worker in lingering:
            await _on_worker_loop(worker, worker.abandon())
        store, self._store = self._store, None
        if store is not None:
            await store.stop()
            if self._owns_backend and self.backend is not None:
                await self.backend.close_async()

    def close(self) -> None:
        """Sync twin of :meth:`close_async`."""
        refuse_on_worker_loop(self, "close")
        return portal().call(self.close_async())

    def __enter__(self) -> Self:
        return self.open()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        return await self.open_async()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close_async()

    # -- the worker -----------------------------------------------------------------------

    async def start_worker_async(
        self,
        worker_type: str | None = None,
        worker_config: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> None:
        """Start a worker in this process, on the running event loop.

        The sync ``start_worker`` runs it on OmniQ's event-loop thread, so it keeps running
        while the program goes on.

        Args:
            worker_type: ``"thread_pool"``, ``"async"``, ``"process_pool"`` or ``"gevent"``
                (default: the instance's).
            worker_config: Worker options, e.g. ``{"max_workers": 4}``.
            **options: The same options as keywords, e.g. ``max_workers=4``; they win over
                ``worker_config``.

        Raises:
            WorkerError: A worker of this instance is already running.
            ConfigurationError: Unknown worker type or option.
        """
        if self.worker is not None and self.worker.is_running:
            raise WorkerError("a worker is already running; call stop_worker() first")
        if worker_config is not None and not isinstance(worker_config, Mapping):
            raise ConfigurationError(f"worker_config {worker_config!r} is not a mapping")
        settings = WorkerOptions.from_mapping(
            {**self.worker_config, **(worker_config or {}), **options}
        )
        await self.open_async()
        self.worker = build_worker(
            self.store, self.serializer, worker_type or self.worker_type, settings,
            lambda: self._queues,
        )  # fmt: skip
        await self.worker.start()

    def start_worker(
        self,
        worker_type: str | None = None,
        worker_config: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> None:
        """Sync twin of :meth:`start_worker_async`."""
        return portal().call(self.start_worker_async(worker_type, worker_config, **options))

    async def stop_worker_async(self, grace_period: float | None = None) -> None:
        """Stop the worker: stop claiming, wait for running tasks, release the rest.

        Args:
            grace_period: Seconds to wait for running tasks (default: the worker's,
                30 s unless configured). Tasks still running then are interrupted and
                released, so another worker runs them again; a body running in a thread
                cannot be interrupted, so its task keeps its lease until the body ends and
                its outcome is recorded (until :meth:`close_async`, which gives it up).
        """
        if grace_period is not None:  # before forgetting the worker, which must keep running
            check.check_seconds(grace_period, "grace_period")
        worker, self.worker = self.worker, None
        if worker is None:
            return
        if worker.loop is not None and worker.loop.is_closed():
            # Its loop ended without stopping it (e.g. asyncio.run returned): its tasks were
            # cancelled with the loop, and their leases lapse so other workers re-run them.
            worker.runner.executor.shutdown()
            return
        await _on_worker_loop(worker, worker.stop(grace_period))
        if worker.keeping_leases:
            self._stopped_workers.append(worker)

    def stop_worker(self, grace_period: float | None = None) -> None:
        """Sync twin of :meth:`stop_worker_async`."""
        refuse_on_worker_loop(self, "stop_worker")
        return portal().call(self.stop_worker_async(grace_period))


async def _on_worker_loop(worker: Worker, step: Coroutine[Any, Any, None]) -> None:
    """Run ``step`` on the loop of ``worker`` (here if it is this one, or not started)."""
    loop = worker.loop
    if loop is None or loop is asyncio.get_running_loop():
        await step
    elif loop.is_closed():
        step.close()
    else:
        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(step, loop))


def refuse_on_worker_loop(instance: object, method: str) -> None:
    """Raise if called on the loop running ``instance``'s worker (blocking would deadlock).

    Raises:
        WorkerError: The running loop is the one the instance's worker runs on.
    """
    worker = getattr(instance, "worker", None)
    if worker is None or worker.loop is None:
        return
    loop = worker.loop
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        return
    # The thread too: under gevent's monkey-patching every greenlet shares the OS thread,
    # so asyncio reports OmniQ's loop as "running" in the program's main greenlet as well,
    # where blocking is fine (it yields to the loop's greenlet).
    if running is loop and threading.get_ident() == worker.loop_thread:
        raise WorkerError(
            f"{method}() was called from the event loop that runs this instance's worker "
            f"(started with start_worker_async), where it would block the worker for "
            f"ever: await {method}_async() instead (or use 'async with')"
        )
