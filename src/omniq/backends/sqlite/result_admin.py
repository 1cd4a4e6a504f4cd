"""Counting expired SQLite results, for dry runs of a purge (mixed into the result storage)."""

from __future__ import annotations

from omniq.backends.sqlite.threads import ReaderThread

__all__ = ["ResultAdminVerbs"]


class ResultAdminVerbs:
    """The :class:`omniq.storage.admin.ResultAdmin` verb on SQLite."""

    _reader: ReaderThread

    async def count_expired(self, now: float) -> int:
        """Return how many results have ``expires_at`` before ``now``."""
        return await self._reader.run(
            lambda conn: int(
                conn.execute(
                    "SELECT COUNT(*) FROM results WHERE expires_at IS NOT NULL AND expires_at < ?",
                    (now,),
                ).fetchone()[0]
            )
        )
