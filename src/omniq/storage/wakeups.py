"""The short text of cross-process wake-ups, shared by the server backends' notifiers.

Each message is one of:

* ``t`` or ``t:<epoch>``: tasks became claimable (the earliest due at ``<epoch>``);
* ``r:<id>,<id>...``: these tasks reached an outcome;
* ``s`` or ``s:<epoch>``: a schedule was added or resumed;
* ``c``: the cancellation of an executing task was requested.

PostgreSQL sends them with ``NOTIFY``, NATS on a plain subject, Redis from its scripts (which
write the same text in Lua). :func:`deliver` turns one back into calls on a
:class:`~omniq.storage.interfaces.NotificationSink`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from omniq.storage.interfaces import NotificationSink

__all__ = [
    "CANCEL_PAYLOAD",
    "MISSED_PAYLOADS",
    "deliver",
    "deliver_to_all",
    "result_payloads",
    "schedules_payload",
    "tasks_payload",
]

#: The cancellation of an executing task was requested.
CANCEL_PAYLOAD = "c"


def tasks_payload(when: float | None) -> str:
    """Tasks became claimable, the earliest at ``when`` (``None``: now or unknown)."""
    return "t" if when is None else f"t:{when!r}"


def schedules_payload(when: float | None) -> str:
    """A schedule was added or resumed, next due at ``when``."""
    return "s" if when is None else f"s:{when!r}"


def result_payloads(task_ids: list[str], per_message: int) -> list[str]:
    """Messages telling that ``task_ids`` reached an outcome, ``per_message`` ids in each."""
    return [
        "r:" + ",".join(task_ids[start : start + per_message])
        for start in range(0, len(task_ids), per_message)
    ]


#: What a listener reports after a gap in which messages may have been lost: tasks,
#: schedules and cancellations may all have changed, so every sink looks at the store.
MISSED_PAYLOADS: tuple[str, ...] = (tasks_payload(None), schedules_payload(None), CANCEL_PAYLOAD)


def deliver_to_all(payload: str, sinks: Iterable[NotificationSink], log: logging.Logger) -> None:
    """Call every sink for one message; a sink that raises is logged on ``log``, not fatal.

    Args:
        payload: The message.
        sinks: The listener's sinks (copied first: a sink may unregister meanwhile).
        log: Where a failing sink is reported.
    """
    for sink in list(sinks):
        try:
            deliver(payload, sink)
        except Exception:  # a sink must not stop the listener
            log.exception("a notification sink failed on %r", payload)


def deliver(payload: str, sink: NotificationSink) -> None:
    """Call the sink for one message (unknown ones are ignored)."""
    kind, _, rest = payload.partition(":")
    if kind == "t":
        sink.tasks_available(_when(rest))
    elif kind == "r":
        for task_id in filter(None, rest.split(",")):
            sink.result_ready(task_id)
    elif kind == "s":
        sink.schedules_changed(_when(rest))
    elif kind == "c":
        sink.cancel_requested()


def _when(text: str) -> float | None:
    try:
        return float(text) if text else None
    except ValueError:
        return None
