"""The in-process memory backend: nothing persists, nothing is shared across processes."""

from __future__ import annotations

import uuid

from omniq.backends.memory.event_store import MemoryEventStorage
from omniq.backends.memory.result_store import MemoryResultStorage
from omniq.backends.memory.task_queue import MemoryTaskQueue
from omniq.storage.lifecycle import BackendLifecycle

__all__ = ["MemoryBackend"]


class MemoryBackend(BackendLifecycle):
    """A :class:`~omniq.storage.interfaces.Backend` that keeps everything in process memory.

    One instance is one store: it can be shared by several threads and event loops of the same
    process, but its data lives only as long as the instance. Useful for tests and for
    short-lived, single-process work.

    Attributes:
        project_name: Name given at construction (kept for symmetry with other backends).
        task_queue: The task queue.
        result_store: The result storage.
        event_store: The event storage.
        channel: ``"memory:<uuid>"``, unique per instance, since no two instances share data.
    """

    def __init__(self, project_name: str) -> None:
        """Create an empty store.

        Args:
            project_name: Name of the project (not used to locate anything).
        """
        self.project_name = project_name
        self.task_queue = MemoryTaskQueue()
        self.result_store = MemoryResultStorage()
        self.event_store = MemoryEventStorage()
        # One process, one set of locks: writes apply in the order they are issued, and a
        # fired schedule run writes its event under the task queue's lock.
        self.task_queue.event_sink = self.event_store
        self.task_queue.result_sink = self.result_store
        order = object()
        self.task_queue.write_order = self.result_store.write_order = order
        self.event_store.write_order = order
        self.channel = f"memory:{uuid.uuid4().hex}"
        self._initialized = False
        self._closed = False

    def __repr__(self) -> str:
        return f"MemoryBackend(project_name={self.project_name!r})"

    def initialize(self) -> None:
        """Mark the store ready (idempotent; there is nothing to open)."""
        self._initialized = True

    async def initialize_async(self) -> None:
        """Async twin of :meth:`initialize`."""
        self.initialize()

    def close(self) -> None:
        """Mark the store closed (idempotent). The data is kept while the instance lives."""
        self._closed = True

    async def close_async(self) -> None:
        """Async twin of :meth:`close`."""
        self.close()
