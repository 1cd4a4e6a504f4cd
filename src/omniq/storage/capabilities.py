"""What a backend promises beyond the verbs of the storage protocols.

Every backend implements the same verbs; they differ in what they can do *together*. One
SQLite file commits a task, its event and its result in one transaction; a pooled PostgreSQL
backend does the same on one connection but cannot promise that two writes issued at once
are applied in the order they were issued; a Redis queue beside PostgreSQL results shares no
transaction at all. The core asks these flags, never the backend's class, and takes the
slower, still correct path when a flag is off.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SPLIT", "Capabilities"]


@dataclass(frozen=True, slots=True)
class Capabilities:
    """The promises of one backend (all off: the safe default for any store).

    Attributes:
        fused_events: The task queue's verbs that take ``events`` or ``events_for``
            (``enqueue``, ``claim``, ``complete_many``, ``retry_later``,
            ``recover_expired_leases``, ``fire_schedule``, ``requeue``) append those
            events to *this backend's* event store in the same atomic write as the state
            change. Without it the core appends them in a second write, after the change.
        fused_results: ``complete_many(results=...)`` stores the results in *this
            backend's* result store in the same atomic write as the statuses, so a task is
            never ``completed`` without its result. Without it the core stores the results
            first, then the statuses.
        ordered_writes: Writes issued to this backend's stores without awaiting each one
            are applied in the order they were issued (one writer thread, one lock). The
            core then issues a completion and the release of its dependents together.
            Without it (a connection pool) it awaits the completion first.
        shared: Other processes (and hosts, for a server) see the same store: the contract
            suite's cross-process tests apply. The memory backend is not shared.
    """

    fused_events: bool = False
    fused_results: bool = False
    ordered_writes: bool = False
    shared: bool = False

    def names(self) -> frozenset[str]:
        """The names of the capabilities that are on (e.g. for test selection)."""
        return frozenset(name for name in self.__slots__ if getattr(self, name))


#: No promise at all: stores of different backends, or a role given as a bare instance.
SPLIT = Capabilities()
