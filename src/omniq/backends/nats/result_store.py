"""The NATS result storage: one key per task in the project's results bucket.

nats-server 2.9 has no per-message time-to-live, so a result's expiry is part of its value
(and of a header, ``Omniq-Expires-At``): :meth:`NATSResultStorage.get` never returns a
result past its expiry, whatever is still stored, and
:meth:`NATSResultStorage.purge_expired` (run by every worker's maintenance pass) deletes the
expired ones, reading the headers of every stored result to find them. A bucket-wide limit
can be added on top with the backend's ``results_max_age`` option (the stream's
``max_age``: a result older than that is dropped by the server whatever its own expiry).

A result replaces a stored one only when its ``attempt`` is not lower: the write is a
compare-and-set on the revision the older result was read at.
"""

from __future__ import annotations

from collections.abc import Sequence

from omniq.backends.nats.codec import decode_result, encode_result
from omniq.backends.nats.connection import Conflict, Connection, Publish, RawMessage
from omniq.backends.nats.names import ProjectNames
from omniq.backends.nats.verbs import gather_map
from omniq.exceptions import BackendError
from omniq.storage.records import ResultRecord

__all__ = ["NATSResultStorage"]

_ATTEMPTS = 50
_EXPIRES = "Omniq-Expires-At"


def _headers(result: ResultRecord) -> dict[str, str] | None:
    return None if result.expires_at is None else {_EXPIRES: repr(result.expires_at)}


class NATSResultStorage:
    """Result storage in a NATS key-value bucket; see :class:`omniq.storage.ResultStorage`.

    Args:
        conn: The backend's connection.
        names: The project's names.
    """

    def __init__(self, conn: Connection, names: ProjectNames) -> None:
        self._conn = conn
        self._names = names

    async def _last(self, task_id: str) -> RawMessage | None:
        found = await self._conn.last(
            self._names.results_stream, self._names.result_subject(task_id)
        )
        return None if found is None or found.deleted else found

    async def _put(self, result: ResultRecord) -> None:
        subject = self._names.result_subject(result.task_id)
        data = encode_result(result)
        headers = _headers(result)
        last = 0
        for _ in range(_ATTEMPTS):
            try:
                await self._conn.publish(subject, data, last=last, headers=headers)
                return
            except Conflict:
                found = await self._conn.last(self._names.results_stream, subject)
                if found is None:
                    last = 0
                    continue
                if not found.deleted and decode_result(result.task_id, found.data).attempt > (
                    result.attempt
                ):
                    return  # a later attempt's result stays
                last = found.seq
        raise BackendError(f"the result of task {result.task_id!r} kept changing while stored")

    async def put_many(self, results: Sequence[ResultRecord]) -> None:
        """Store results (never over one of a later attempt).

        Each is first written as new (one round trip for all); those that replace a stored
        result go through a read and a compare-and-set each.
        """
        if not results:
            return

        async def put() -> None:
            outcomes = await self._conn.publish_many([
                Publish(self._names.result_subject(r.task_id), encode_result(r), 0, _headers(r))
                for r in results
            ])  # fmt: skip
            again = [r for r, o in zip(results, outcomes, strict=True) if isinstance(o, Conflict)]
            errors = [o for o in outcomes if isinstance(o, BaseException)
                      and not isinstance(o, Conflict)]  # fmt: skip
            if errors:
                raise errors[0]
            await gather_map(self._put, again)

        await self._conn.run(put)

    async def get(self, task_id: str, now: float) -> ResultRecord | None:
        """Return the unexpired result of a task, or ``None``."""

        async def get() -> ResultRecord | None:
            found = await self._last(task_id)
            if found is None:
                return None
            result = decode_result(task_id, found.data)
            if result.expires_at is not None and result.expires_at < now:
                return None
            return result

        return await self._conn.run(get)

    async def _delete(self, task_id: str) -> bool:
        found = await self._last(task_id)
        if found is None:
            return False
        try:
            await self._conn.delete(self._names.result_subject(task_id), last=found.seq,
                                    purge=True)  # fmt: skip
        except Conflict:
            return await self._delete(task_id)
        return True

    async def delete(self, task_id: str) -> bool:
        """Delete a result; return whether one existed."""
        return await self._conn.run(lambda: self._delete(task_id))

    async def delete_many(self, task_ids: Sequence[str]) -> int:
        """Delete the results of these tasks; return how many existed."""
        ids = list(dict.fromkeys(task_ids))
        if not ids:
            return 0
        done = await self._conn.run(lambda: gather_map(self._delete, ids))
        return sum(1 for existed in done if existed)

    async def _expired(self, now: float) -> list[RawMessage]:
        messages = await self._conn.scan(
            self._names.results_stream, self._names.results_filter,
            last_per_subject=True, headers_only=True,
        )  # fmt: skip
        expired = []
        for message in messages:
            stamp = message.headers.get(_EXPIRES)
            if stamp is not None and not message.deleted and float(stamp) < now:
                expired.append(message)
        return expired

    async def purge_expired(self, now: float) -> int:
        """Delete every result that expired before ``now``; return how many."""

        async def purge() -> int:
            expired = await self._expired(now)
            done = await gather_map(self._purge_one, expired)
            return sum(1 for deleted in done if deleted)

        return await self._conn.run(purge)

    async def _purge_one(self, message: RawMessage) -> bool:
        try:
            await self._conn.delete(message.subject, last=message.seq, purge=True)
        except Conflict:
            return False  # replaced meanwhile: the new result has its own expiry
        return True

    async def count_expired(self, now: float) -> int:
        """Return how many results have ``expires_at`` before ``now``."""
        return await self._conn.run(lambda: self._count(now))

    async def _count(self, now: float) -> int:
        return len(await self._expired(now))
