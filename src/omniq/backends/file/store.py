"""What the file backend needs from a place to keep files: a few atomic verbs on keys.

Keys are ``/``-separated relative paths (``tasks/3f/abc.json``). The backend's algorithms
are written once against :class:`ObjectStore`; :mod:`.local_store` implements it on a local
directory with ``os`` calls (fsync, ``link``, ``rename``, ``flock``) and
:mod:`.fsspec_store` on any fsspec filesystem (``memory://``, S3 with conditional writes,
others without). What each store can promise is in its :class:`Guarantees`.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple, TypeVar

__all__ = ["Guarantees", "ObjectStore", "Versioned", "Writes"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Guarantees:
    """What a store promises; the backend declares them as traits and documents them.

    Attributes:
        shared: Other processes (and, for object storage, hosts) see the same files.
        exclusive: Create-if-absent and compare-and-swap are atomic among every process
            sharing the store, so two workers never claim one task. Without it the backend
            refuses to run a second worker on the store.
        atomic_rename: A rename fails when its source is gone (a local directory): claims
            take a task by renaming its queue entry.
        durable: A write returns only once its data (and the directory entry) is on disk.
        scheme: The fsspec protocol (``file``, ``memory``, ``s3``...).
    """

    shared: bool
    exclusive: bool
    atomic_rename: bool
    durable: bool
    scheme: str


class Versioned(NamedTuple):
    """A file's content and the token that :meth:`ObjectStore.swap` compares.

    Attributes:
        data: The bytes read.
        token: Opaque version (the bytes themselves, an ETag...).
    """

    data: bytes
    token: object


class ObjectStore(abc.ABC):
    """Atomic verbs on the files under one root (the project's directory or prefix)."""

    guarantees: Guarantees
    #: Where the files are, secrets masked (for messages).
    location: str

    # -- reads ---------------------------------------------------------------------------

    @abc.abstractmethod
    def read(self, key: str) -> Versioned | None:
        """The file's content and version, or ``None`` if it does not exist."""

    @abc.abstractmethod
    def exists(self, key: str) -> bool:
        """Whether the file exists."""

    @abc.abstractmethod
    def age(self, key: str) -> float | None:
        """Seconds since the file was last written or renamed, or ``None`` if it is gone."""

    @abc.abstractmethod
    def list(self, prefix: str) -> list[str]:
        """Sorted names directly under ``prefix`` (files and sub-directories); ``[]`` if none."""

    # -- writes (each one atomic: a reader sees the old file or the new one) ----------------

    @abc.abstractmethod
    def create(self, key: str, data: bytes, dirty: set[str], *, sync: bool = True) -> bool:
        """Write ``key`` only if it does not exist; return whether it was written.

        ``sync=False`` may skip the fsync (for the event log, which is derived from the
        task files: see :mod:`omniq.backends.file.event_log`).
        """

    @abc.abstractmethod
    def swap(self, key: str, data: bytes, token: object, dirty: set[str]) -> bool:
        """Replace ``key`` only if it is still the version ``token``; return whether it was."""

    @abc.abstractmethod
    def put(self, key: str, data: bytes, dirty: set[str]) -> None:
        """Write ``key`` whatever it holds."""

    @abc.abstractmethod
    def delete(self, key: str, dirty: set[str], token: object | None = None) -> bool:
        """Delete ``key`` (only if still the version ``token``, when given); whether it was."""

    @abc.abstractmethod
    def touch(self, key: str, dirty: set[str]) -> None:
        """Create an empty marker file (an index entry)."""

    @abc.abstractmethod
    def move(self, source: str, target: str, dirty: set[str]) -> bool:
        """Rename ``source`` to ``target``; ``False`` if ``source`` was gone.

        Exclusive where :attr:`Guarantees.atomic_rename` holds: of several processes moving
        one source, exactly one succeeds.
        """

    @abc.abstractmethod
    def prune(self, prefix: str) -> None:
        """Remove the directory ``prefix`` if it is empty (nothing where there are none)."""

    @abc.abstractmethod
    def flush(self, dirty: set[str]) -> None:
        """Make the directory changes recorded in ``dirty`` durable (fsync the directories).

        New names (creates, renames' targets) are recorded; removals are not: a removal lost
        to a power cut leaves an extra file that readers recognise and clean up.
        """

    # -- lifecycle -------------------------------------------------------------------------

    @abc.abstractmethod
    def open(self) -> None:
        """Check the location can be written (creating it if needed).

        Raises:
            BackendError: It cannot (read-only, not a directory, missing bucket, denied).
        """

    def close(self) -> None:  # noqa: B027 - most stores hold nothing
        """Release what the store holds (lock files...)."""

    def parallel(self, func: Callable[[T], object], items: Sequence[T]) -> None:
        """Run ``func`` on each item (in threads where the store's writes wait on I/O)."""
        for item in items:
            func(item)


class Writes:
    """The writes of one verb: records which directories changed, flushes them once.

    Args:
        store: The store written to.
    """

    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self.dirty: set[str] = set()

    def create(self, key: str, data: bytes, *, sync: bool = True) -> bool:
        """See :meth:`ObjectStore.create`."""
        return self.store.create(key, data, self.dirty, sync=sync)

    def swap(self, key: str, data: bytes, token: object) -> bool:
        """See :meth:`ObjectStore.swap`."""
        return self.store.swap(key, data, token, self.dirty)

    def put(self, key: str, data: bytes) -> None:
        """See :meth:`ObjectStore.put`."""
        self.store.put(key, data, self.dirty)

    def delete(self, key: str, token: object | None = None) -> bool:
        """See :meth:`ObjectStore.delete`."""
        return self.store.delete(key, self.dirty, token)

    def touch(self, key: str) -> None:
        """See :meth:`ObjectStore.touch`."""
        self.store.touch(key, self.dirty)

    def move(self, source: str, target: str) -> bool:
        """See :meth:`ObjectStore.move`."""
        return self.store.move(source, target, self.dirty)

    def delete_all(self, keys: Iterable[str]) -> None:
        """Delete several keys (missing ones are fine)."""
        for key in keys:
            self.store.delete(key, self.dirty)

    def commit(self) -> None:
        """Make every directory change so far durable.

        On the backend's writer thread the flush is left to the writer, which does it once
        for the verbs queued together, before it acknowledges any of them.
        """
        if self.dirty:
            dirty, self.dirty = self.dirty, set()
            from omniq.backends.file.writer import GROUP

            pending = GROUP.pending
            if pending is not None:
                pending.setdefault(self.store, set()).update(dirty)
            else:
                self.store.flush(dirty)
