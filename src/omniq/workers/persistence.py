"""Recording an outcome through a short outage: keep trying while the lease lives.

A worker that ran a body holds the task's lease. If the store is unreachable when the
outcome is written (a dropped connection, a server restart), giving up would leave the task
``executing`` until its lease ends, and another worker would run it again. So an outcome
write that fails with :class:`~omniq.exceptions.StoreUnavailableError` is tried again, with
a growing pause, for as long as the lease can still be alive (:class:`Patience`).

A write whose commit went through but whose answer was lost is tried again too; the retry
then finds the task already in the state it writes. :func:`landed` tells that apart from a
lease lost to another worker, by reading the task back.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from omniq.exceptions import BackendError, StoreUnavailableError
from omniq.models.task import TaskStatus
from omniq.storage.interfaces import TaskQueue

__all__ = ["FailureLog", "Patience", "landed", "log_failure"]

T = TypeVar("T")

_log = logging.getLogger("omniq.worker")
_FIRST_PAUSE = 0.05
_LONGEST_PAUSE = 1.0


@dataclass(frozen=True, slots=True)
class Patience:
    """How long an outcome write keeps trying while the store is unavailable.

    Attributes:
        seconds: The longest time to keep trying (0: one try). A worker sets two thirds of
            its lease: the lease was renewed at most a third of it ago.
    """

    seconds: float = 0.0

    async def run(self, write: Callable[[], Awaitable[T]], what: str) -> T:
        """Await ``write()``; on :class:`StoreUnavailableError`, try again until patience ends.

        Raises:
            StoreUnavailableError: The store stayed unreachable for the whole patience.
        """
        deadline = time.monotonic() + self.seconds
        pause = _FIRST_PAUSE
        tries = 0
        while True:
            tries += 1
            try:
                result = await write()
            except StoreUnavailableError as exc:
                if time.monotonic() + pause > deadline:
                    raise
                if tries == 1:
                    _log.warning("%s: the store is unavailable (%s); trying again for up to "
                                 "%.0fs", what, exc, self.seconds)  # fmt: skip
                await asyncio.sleep(pause)
                pause = min(pause * 2, _LONGEST_PAUSE)
                continue
            if tries > 1:
                _log.warning("%s: written after %d tries", what, tries)
            return result


async def landed(task_queue: TaskQueue, task_id: str, status: TaskStatus, worker_id: str) -> bool:
    """Whether ``task_id`` is already ``status`` by ``worker_id``'s own write.

    After a retried write: a write whose commit went through, but whose answer was lost,
    leaves the task so; a lease taken over by another worker does not.
    """
    record = await task_queue.get(task_id)
    return record is not None and record.status is status and record.worker_id == worker_id


def log_failure(logger: logging.Logger, what: str) -> None:
    """Log the exception being handled: one line if the store is unavailable, else in full.

    An outage is expected and says all in its message; anything else gets its traceback.
    """
    exc = sys.exc_info()[1]
    if isinstance(exc, StoreUnavailableError):
        logger.warning("%s: %s", what, exc)
    else:
        logger.exception(what)


#: Longest pause of a step that keeps failing (see FailureLog.failed).
LONGEST_BACKOFF = 2.0


class FailureLog:
    """Logs a repeating failure of one worker step once, and its end once.

    A full disk or an unreachable store makes the same step fail at every poll; logging each
    failure (with its traceback) would fill the logs, possibly on the very disk that is full.
    The first failure is logged (one line for a store error, whose message says it all; a
    traceback for anything else), later ones only at debug level until the step works again,
    which is logged once too. :meth:`failed` also returns a growing pause to wait before the
    next try.

    Args:
        logger: Where to log.
        what: The step, e.g. ``"worker w1: claiming tasks"``.
        first_pause: The pause after the first failure (doubles up to :data:`LONGEST_BACKOFF`,
            or ``first_pause`` if longer).
    """

    def __init__(self, logger: logging.Logger, what: str, first_pause: float = 0.05) -> None:
        self._log = logger
        self.what = what
        self._first_pause = first_pause
        self._pause = first_pause
        self.failures = 0

    def failed(self) -> float:
        """Record the exception being handled; return how long to pause before trying again."""
        exc = sys.exc_info()[1]
        self.failures += 1
        if self.failures == 1:
            if isinstance(exc, BackendError):
                self._log.warning("%s failed: %s (will retry, quietly until it works again)",
                                  self.what, exc)  # fmt: skip
            else:
                self._log.exception("%s failed (will retry, quietly until it works again)",
                                    self.what)  # fmt: skip
        else:
            self._log.debug("%s failed again (%d times): %s", self.what, self.failures, exc)
        pause = self._pause
        self._pause = min(self._pause * 2, max(LONGEST_BACKOFF, self._first_pause))
        return pause

    def succeeded(self) -> None:
        """Record a success: logs once that the step works again after failures."""
        if self.failures:
            self._log.warning("%s: working again after %d failed tries", self.what,
                              self.failures)  # fmt: skip
            self.failures = 0
            self._pause = self._first_pause
