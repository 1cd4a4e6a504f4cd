"""A backend made of other backends: the task queue of one, the results of another..."""

from __future__ import annotations

from omniq.storage.capabilities import Capabilities
from omniq.storage.interfaces import Backend, EventStorage, ResultStorage, TaskQueue
from omniq.storage.lifecycle import BackendLifecycle

__all__ = ["MixedBackend", "distinct_backends"]


class MixedBackend(BackendLifecycle):
    """Takes each storage role from its own backend (e.g. queue in SQLite, results in memory).

    Opening opens each distinct backend once; closing closes each once. A backend given for
    several roles is one instance, used for all of them.

    Args:
        task_queue: The backend whose task queue is used.
        result_store: The backend whose result storage is used.
        event_store: The backend whose event storage is used.

    Attributes:
        backends: The distinct backends, in role order.
        channel: In-process wake-up key, made of the backends' keys.
        capabilities: What the roles do together: events or results are fused with the
            task queue's writes only when they come from the queue's own backend.
    """

    task_queue: TaskQueue
    result_store: ResultStorage
    event_store: EventStorage

    def __init__(self, task_queue: Backend, result_store: Backend, event_store: Backend) -> None:
        self.roles = (task_queue, result_store, event_store)
        self.backends: list[Backend] = []
        for backend in self.roles:
            if not any(backend is known for known in self.backends):
                self.backends.append(backend)
        self.channel = "mixed:" + "|".join(backend.channel for backend in self.backends)
        queue_backend = self.roles[0]
        own = queue_backend.capabilities
        self.capabilities = Capabilities(
            fused_events=own.fused_events and event_store is queue_backend,
            fused_results=own.fused_results and result_store is queue_backend,
            ordered_writes=own.ordered_writes,
            shared=all(backend.capabilities.shared for backend in self.backends),
        )
        #: The queue's store clock decides leases (see omniq.core.clock).
        self.clock = getattr(queue_backend, "clock", None)

    def _bind(self) -> None:
        # Roles of some backends (SQLite) exist only once the backend is initialized.
        self.task_queue = self.roles[0].task_queue
        self.result_store = self.roles[1].result_store
        self.event_store = self.roles[2].event_store

    def initialize(self) -> None:
        """Initialize every backend (idempotent)."""
        for backend in self.backends:
            backend.initialize()
        self._bind()

    async def initialize_async(self) -> None:
        """Async twin of :meth:`initialize`."""
        for backend in self.backends:
            await backend.initialize_async()
        self._bind()

    def close(self) -> None:
        """Close every backend (idempotent)."""
        for backend in self.backends:
            backend.close()

    async def close_async(self) -> None:
        """Async twin of :meth:`close`."""
        for backend in self.backends:
            await backend.close_async()

    def __repr__(self) -> str:
        task_queue, result_store, event_store = self.roles
        return (
            f"MixedBackend(task_queue={task_queue!r}, result_store={result_store!r}, "
            f"event_store={event_store!r})"
        )


def distinct_backends(backend: Backend) -> list[Backend]:
    """The backends behind ``backend``: each of a :class:`MixedBackend`'s once, else itself."""
    return list(backend.backends) if isinstance(backend, MixedBackend) else [backend]
