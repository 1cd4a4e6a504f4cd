"""The in-process memory backend: nothing persists, nothing is shared across processes."""

from __future__ import annotations

import uuid
from types import TracebackType

from omniq.backends.memory.event_store import MemoryEventStorage
from omniq.backends.memory.result_store import MemoryResultStorage
from omniq.backends.memory.task_queue import MemoryTaskQueue
from omniq.exceptions import BackendError
from omniq.storage.capabilities import Capabilities
from omniq.storage.lifecycle import BackendLifecycle

__all__ = ["MemoryBackend"]

#: One process, one set of locks: writes apply in the order they are issued, and the task
#: queue writes events and results into its sibling stores under its own lock.
_CAPABILITIES = Capabilities(fused_events=True, fused_results=True, ordered_writes=True)


class _ClosedLock:
    """Stands in for the stores' locks while the backend is closed: every verb refuses."""

    def __init__(self, backend: str) -> None:
        self._backend = backend

    def __enter__(self) -> None:
        raise BackendError(f"the {self._backend} is closed: initialize() it again to use it")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:  # pragma: no cover - __enter__ always raises
        return None


class MemoryBackend(BackendLifecycle):
    """A :class:`~omniq.storage.interfaces.Backend` that keeps everything in process memory.

    One instance is one store: it can be shared by several threads and event loops of the same
    process, but its data lives only as long as the instance. Useful for tests and for
    short-lived, single-process work. A closed instance refuses every verb with a
    :class:`~omniq.exceptions.BackendError` until it is initialized again (its data is kept).

    Args:
        project_name: Name of the project (not used to locate anything).

    Attributes:
        project_name: Name given at construction (kept for symmetry with other backends).
        task_queue: The task queue.
        result_store: The result storage.
        event_store: The event storage.
        channel: ``"memory:<uuid>"``, unique per instance, since no two instances share data.
        capabilities: Fused events and results, ordered writes; not shared across processes.
    """

    capabilities = _CAPABILITIES

    def __init__(self, project_name: str) -> None:
        self.project_name = project_name
        self.task_queue = MemoryTaskQueue()
        self.result_store = MemoryResultStorage()
        self.event_store = MemoryEventStorage()
        self.task_queue.event_sink = self.event_store
        self.task_queue.result_sink = self.result_store
        self.channel = f"memory:{uuid.uuid4().hex}"
        self._locks = {
            store: store._lock for store in (self.task_queue, self.result_store, self.event_store)
        }

    def __repr__(self) -> str:
        return f"MemoryBackend(project_name={self.project_name!r})"

    def initialize(self) -> None:
        """Open the store again after :meth:`close` (idempotent; there is nothing to create)."""
        for store, lock in self._locks.items():
            store._lock = lock

    async def initialize_async(self) -> None:
        """Async twin of :meth:`initialize`."""
        self.initialize()

    def close(self) -> None:
        """Refuse every verb from now on (idempotent). The data is kept while the instance lives."""
        closed = _ClosedLock(repr(self))
        for store in self._locks:
            store._lock = closed  # type: ignore[assignment]

    async def close_async(self) -> None:
        """Async twin of :meth:`close`."""
        self.close()
