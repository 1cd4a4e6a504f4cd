"""Copies of stored records that share no mutable state with the store."""

from __future__ import annotations

import msgspec

from omniq.storage.records import TaskRecord

__all__ = ["copy_task"]


def copy_task(record: TaskRecord) -> TaskRecord:
    """Return a copy of ``record`` whose lists and error are its own.

    A caller mutating what it passed in or got back (``tags``, ``depends_on``, ``error``)
    never changes what the store holds.
    """
    error = record.error
    return msgspec.structs.replace(
        record,
        tags=list(record.tags),
        depends_on=list(record.depends_on),
        error=None if error is None else msgspec.structs.replace(error),
    )
