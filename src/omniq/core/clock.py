"""One clock for every time OmniQ writes to a store: the local clock, corrected to the store's.

Leases are compared across machines: a worker on one host writes ``lease_expires_at``, a
worker on another decides that it has passed. They must read one clock. A store with a clock
of its own (:class:`omniq.storage.ServerClock`: PostgreSQL, Redis) is that clock; OmniQ
measures the offset of the local clock to it when it opens the store and again at every
maintenance pass of a worker, and adds it to ``time.time()``. Stores without one use the
local clock as it is.
"""

from __future__ import annotations

import logging
import time

from omniq.storage.interfaces import ServerClock

__all__ = ["SYNC_SAMPLES", "StoreClock"]

#: Round trips per offset measurement; the shortest one is kept.
SYNC_SAMPLES = 3

_log = logging.getLogger("omniq")


class StoreClock:
    """The store's time, read locally: ``time.time()`` plus the measured offset.

    Args:
        source: The store's clock, or ``None`` to use the local clock.

    Attributes:
        offset: Seconds to add to the local clock (0 until :meth:`sync` measured it).
        error: Bound on the error of ``offset`` (half the round trip it was measured with;
            0 for the local clock).
    """

    def __init__(self, source: ServerClock | None = None) -> None:
        self._source = source
        self.offset = 0.0
        self.error = 0.0

    def now(self) -> float:
        """The store's current time, in seconds since the epoch."""
        return time.time() + self.offset

    async def sync(self) -> None:
        """Measure the offset again: the best of a few round trips.

        Each sample's error is at most half its round trip, so the sample with the shortest
        round trip is kept (as NTP does): one slow answer on a loaded machine does not skew
        every lease and event time until the next sync. A failure is logged and the previous
        offset kept: it only matters to the extent that clocks drift, which takes far longer
        than a maintenance interval.
        """
        if self._source is None:
            return
        samples: list[tuple[float, float]] = []  # (round trip, offset)
        try:
            for _ in range(SYNC_SAMPLES):
                before = time.time()
                server = await self._source.server_time()
                after = time.time()
                samples.append((after - before, server - (before + after) / 2))
        except Exception as exc:
            if not samples:
                _log.warning("could not read the store's clock (keeping the last offset): %s", exc)
                return
        round_trip, self.offset = min(samples)
        self.error = round_trip / 2
