"""One log line per task lifecycle step of ``omniq worker``, read back from the event log.

The worker writes most lifecycle events together with the state change they describe, in one
atomic write of the task queue (a claim and its ``executing`` events, a batch of completions
and their ``completed`` events, a retry, a recovered lease...): they never pass through the
event store's ``append``, and wrapping a store to see them would cost that atomicity. So the
command follows the store's event log instead, as ``omniq events tail --follow`` does, and
logs the events its own worker wrote: each once, in the order they were stored, at most one
poll interval after they were.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from omniq.api import OmniQ
from omniq.models.event import EventType, TaskEvent

__all__ = ["EventLogger", "log_events"]

_log = logging.getLogger("omniq.tasks")
_WARN = {EventType.FAILED, EventType.EXPIRED, EventType.CALLBACK_FAILED}
_PAGE = 500


def log_events(events: Sequence[TaskEvent]) -> None:
    """Log one line per event on the ``omniq.tasks`` logger.

    ``failed``, ``expired`` and ``callback_failed`` are warnings, the rest info; the event's
    detail and error, if any, follow the step's name. Each record carries the event's own
    time (``created``), not the time it was read back, so a log formatter's ``%(asctime)s``
    says when the step happened.

    Args:
        events: Events already stored.
    """
    for event in events:
        level = logging.WARNING if event.type in _WARN else logging.INFO
        if not _log.isEnabledFor(level):
            continue
        extra = " ".join(filter(None, [event.detail, event.error]))
        record = _log.makeRecord(_log.name, level, __file__, 0, "task %s %s%s",
                                 (event.task_id, event.type.value, f": {extra}" if extra else ""),
                                 None)  # fmt: skip
        record.created = event.timestamp
        record.msecs = (event.timestamp - int(event.timestamp)) * 1000
        record.relativeCreated = (event.timestamp - logging._startTime) * 1000  # type: ignore[attr-defined]
        _log.handle(record)


class EventLogger:
    """Follows an OmniQ's event log in a thread and logs the events one worker wrote.

    Args:
        oq: The open OmniQ whose event store is followed (it must support
            :meth:`omniq.OmniQ.list_events`).
        worker_id: Only events whose ``worker_id`` is this one are logged; ``None`` until
            :meth:`start` names it (so the position can be taken before the worker starts,
            and none of its first events is missed).
        interval: Seconds between two reads of the log while nothing new is found.
        on_error: Called with an exception that a read raised (reading goes on).
    """

    def __init__(
        self,
        oq: OmniQ,
        worker_id: str | None,
        interval: float = 0.2,
        on_error: Callable[[Exception], None] | None = None,
    ) -> None:
        self._oq = oq
        self._worker_id = worker_id
        self._interval = interval
        self._on_error = on_error
        self._stop = threading.Event()
        latest = oq.list_events(limit=1)
        # Log only what comes from now on (an empty log: everything, from its start).
        self._position: str | None = latest[-1][0] if latest else None
        self._thread = threading.Thread(target=self._run, name="omniq-event-log", daemon=True)

    def start(self, worker_id: str | None = None) -> None:
        """Start following the log.

        Args:
            worker_id: The worker whose events are logged, if not given to the constructor.
        """
        if worker_id is not None:
            self._worker_id = worker_id
        self._thread.start()

    def stop(self) -> None:
        """Stop following, after logging what the log holds by now.

        Call it once the worker has stopped, so that its last events are logged too.
        """
        self._stop.set()
        if self._thread.ident is not None:  # started
            self._thread.join()
        self._drain()

    def _run(self) -> None:
        while not self._stop.is_set():
            if not self._drain():
                self._stop.wait(self._interval)

    def _drain(self) -> bool:
        """Log the events stored since the last read; whether a full page came back."""
        try:
            entries = self._oq.list_events(after=self._position, limit=_PAGE)
        except Exception as exc:  # the store may be briefly unreadable: try again later
            if self._on_error is not None:
                self._on_error(exc)
            return False
        if entries:
            self._position = entries[-1][0]
            if self._worker_id is not None:
                log_events([e for _, e in entries if e.worker_id == self._worker_id])
        return len(entries) == _PAGE
