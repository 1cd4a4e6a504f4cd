"""The storage one OmniQ instance works on: three roles, what they do together, wake-ups, clock.

Built once when the instance opens (:meth:`Store.assemble`); the facade, the dependency
policy, the worker and its runner all take it, and ask its :attr:`Store.capabilities`
instead of comparing stores or classes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from omniq.core.clock import StoreClock
from omniq.core.notify import Channel
from omniq.exceptions import ConfigurationError
from omniq.models.event import TaskEvent
from omniq.storage.capabilities import SPLIT, Capabilities
from omniq.storage.interfaces import (
    Backend,
    BlockingEnqueue,
    EventStorage,
    Notifier,
    ResultStorage,
    ServerClock,
    TaskQueue,
)
from omniq.storage.records import TaskRecord

__all__ = ["Store"]

#: A task queue's blocking enqueue: ``(tasks, events) -> None``.
BlockingWrite = Callable[[list[TaskRecord], list[TaskEvent]], None]


@dataclass(frozen=True, slots=True)
class Store:
    """The three storage roles of one instance, with their capabilities and wake-ups.

    Attributes:
        task_queue: Where tasks and schedules live.
        result_store: Where results go.
        event_store: Where events go.
        capabilities: What these three roles do together (a role given as a bare instance
            shares nothing with the others).
        channel: This process's wake-ups for the store.
        clock: The time every write uses (the store's clock where it has one).
        notifiers: Wake-ups from other processes, started with the store.
        blocking_enqueue: The task queue's blocking enqueue, when a sync ``enqueue`` may
            hand its task straight to it: the task and its ``enqueued`` event go in one
            atomic write (fused events) and the queue has a blocking twin
            (:class:`omniq.storage.BlockingEnqueue`). Found once, at assembly.
        private_queue: The task queue is reachable from this process only (the memory
            backend), so no one else can write tasks into it.
    """

    task_queue: TaskQueue
    result_store: ResultStorage
    event_store: EventStorage
    capabilities: Capabilities
    channel: Channel
    clock: StoreClock = dataclasses.field(default_factory=StoreClock)
    notifiers: tuple[Notifier, ...] = ()
    blocking_enqueue: BlockingWrite | None = None
    private_queue: bool = False

    @classmethod
    def assemble(
        cls,
        backend: Backend | None,
        roles: Sequence[object | None],
        channel: Channel,
    ) -> Store:
        """Build the store of an opened backend, with roles given as instances overriding it.

        Args:
            backend: The (initialized) backend, or ``None`` when all three roles are given.
            roles: ``(task_queue, result_store, event_store)`` given as instances, each
                ``None`` to take the backend's.
            channel: The process's wake-ups for this store.
        """
        task_queue, result_store, event_store = roles
        capabilities = SPLIT
        notifiers: list[Notifier] = []
        server_clock: ServerClock | None = None
        if backend is not None:
            capabilities = _effective(getattr(backend, "capabilities", SPLIT), roles)
            notifiers = list(_notifiers(backend))
            if task_queue is None:
                clock = getattr(backend, "clock", None)
                server_clock = clock if isinstance(clock, ServerClock) else None
        queue = _role(task_queue, backend, "task_queue")
        blocking = None
        if capabilities.fused_events and isinstance(queue, BlockingEnqueue):
            blocking = queue.enqueue_blocking
        return cls(
            task_queue=queue,
            result_store=_role(result_store, backend, "result_store"),
            event_store=_role(event_store, backend, "event_store"),
            capabilities=capabilities,
            channel=channel,
            clock=StoreClock(server_clock),
            notifiers=tuple(notifiers),
            blocking_enqueue=blocking,
            private_queue=task_queue is None and _private_queue(backend),
        )

    async def start(self) -> None:
        """Measure the clock offset and start listening to other processes."""
        await self.clock.sync()
        for notifier in self.notifiers:
            await notifier.start(self.channel)

    async def stop(self) -> None:
        """Stop listening to other processes."""
        for notifier in self.notifiers:
            await notifier.stop()


def _role(given: object | None, backend: Backend | None, name: str) -> Any:
    """The role given as an instance, else the backend's."""
    if given is not None:
        return given
    if backend is None:  # pragma: no cover - OmniQ always has one or the other
        raise ConfigurationError(f"no {name} was given and there is no backend")
    return getattr(backend, name)


def _private_queue(backend: Backend | None) -> bool:
    """Whether the task queue of ``backend`` says it is not shared with other processes."""
    owner = (getattr(backend, "roles", None) or (backend,))[0]
    capabilities = getattr(owner, "capabilities", None)
    return isinstance(capabilities, Capabilities) and not capabilities.shared


def _effective(capabilities: Capabilities, roles: Sequence[object | None]) -> Capabilities:
    """A backend's capabilities once some of its roles are replaced by given instances."""
    task_queue, result_store, event_store = roles
    if task_queue is not None:  # a bare queue instance: nothing is known of it
        return SPLIT
    return dataclasses.replace(
        capabilities,
        fused_events=capabilities.fused_events and event_store is None,
        fused_results=capabilities.fused_results and result_store is None,
    )


def _notifiers(backend: Backend) -> list[Notifier]:
    """The notifiers of a backend, or of each backend a mixed one is made of."""
    parts = getattr(backend, "backends", None) or [backend]
    found: list[Notifier] = []
    for part in parts:
        notifier = getattr(part, "notifier", None)
        if isinstance(notifier, Notifier) and notifier not in found:
            found.append(notifier)
    return found
