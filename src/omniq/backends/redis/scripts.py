"""The Lua scripts, one file per atomic step in ``lua/``, each prefixed by ``lua/_lib.lua``.

A script runs atomically on the server: each verb that changes state is one ``EVALSHA``,
never a read and a write in two round trips. Scripts are registered with the client, which
loads them again by itself when the server lost them (a restart, ``SCRIPT FLUSH``).
"""

from __future__ import annotations

from functools import cache
from importlib import resources

__all__ = ["SCRIPT_NAMES", "script_source"]

SCRIPT_NAMES = (
    "enqueue", "peek", "claim", "extend_leases", "complete", "finish", "retry_later",
    "release", "recover", "release_dependents", "cancel_dependents", "stuck_waiting",
    "cancel", "requested_cancellations", "requeue", "list_tasks", "queue_counts",
    "purge_tasks", "add_schedule", "fire_schedule", "set_schedule_status", "read_schedules",
    "workers", "results", "events",
)  # fmt: skip


@cache
def _read(name: str) -> str:
    return resources.files(__package__).joinpath("lua", f"{name}.lua").read_text("utf-8")


def script_source(name: str) -> str:
    """The full source of script ``name``: the shared library, then its own body."""
    return _read("_lib") + "\n" + _read(name)
