"""Following the state bucket's stream: this process's up-to-date view of live tasks.

One push consumer per process (created on the first verb that needs the view, and only
then: a process that only enqueues never follows anything) delivers every change of the
project's state bucket, first the last value of each key, then each new write as it is
stored. Changes of tasks feed the :class:`~.index.TaskIndex`; changes of schedules a map of
their own.

:meth:`Mirror.sync` is the read barrier of the verbs that choose from the view (claims,
lease recovery, dependents): it asks the stream's last sequence and waits until the
consumer has delivered up to it, so a task another process stored before the call is seen
by it. The consumer has flow control and heartbeats; a gap in its sequence, missing
heartbeats, a reconnection or a barrier that makes no progress for a while make the mirror
follow the stream again from the last sequence it applied.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine
from typing import Any

import nats.errors
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from omniq.backends.nats.codec import StoredSchedule, decode_schedule, decode_task
from omniq.backends.nats.connection import Connection, parse_ack_reply
from omniq.backends.nats.index import Entry, TaskIndex
from omniq.backends.nats.names import ProjectNames
from omniq.exceptions import BackendError

__all__ = ["Mirror"]

_log = logging.getLogger("omniq.backends.nats")

#: Seconds between the consumer's idle heartbeats; three missed ones restart it.
_HEARTBEAT = 2.0
#: Seconds a barrier waits without any progress before following the stream again.
_STALL = 3.0
#: Restarts one barrier may make before it gives up.
_RESTARTS = 3


class Mirror:
    """The live tasks and the schedules of one project, as this process sees them.

    Args:
        conn: The backend's connection (everything here runs on its bridge loop).
        names: The project's names.
    """

    def __init__(self, conn: Connection, names: ProjectNames) -> None:
        self._conn = conn
        self._names = names
        self.index = TaskIndex()
        self.schedules: dict[str, tuple[int, StoredSchedule]] = {}
        self.applied = 0
        self._sub: Subscription | None = None
        self._consumer = ""
        self._next_cseq = 1
        self._generation = 0
        self._progress = asyncio.Event()
        self._last_message = 0.0
        self._restart: asyncio.Task[None] | None = None
        self._answers: set[asyncio.Future[None]] = set()
        conn.on_reconnect(self._on_reconnect)

    @property
    def running(self) -> bool:
        """Whether the consumer is set up."""
        return self._sub is not None

    async def sync(self) -> None:
        """Wait until everything stored before this call is in the view (on the bridge loop).

        Raises:
            BackendError: The view could not catch up, even after following again.
        """
        if self._sub is None:
            await self._follow(fresh=True)
        target = await self._conn.last_seq(self._names.state_stream)
        restarts = 0
        while self.applied < target:
            before = self.applied
            self._progress.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_STALL):
                    await self._progress.wait()
            if self.applied == before and self.applied < target:
                if restarts >= _RESTARTS:
                    raise BackendError(
                        f"NATS at {self._conn.server}: the view of {self._names.state_stream} "
                        f"is stuck at sequence {self.applied} (the stream is at {target})"
                    )
                restarts += 1
                _log.warning("NATS %s: following %s again from %d (no progress)",
                             self._conn.server, self._names.state_stream,
                             self.applied + 1)  # fmt: skip
                await self._follow(fresh=False)

    async def stop(self) -> None:
        """Stop following (on the bridge loop); the next :meth:`sync` follows from scratch."""
        await self._drop()
        if self._restart is not None:
            self._restart.cancel()
            self._restart = None
        self._progress = asyncio.Event()  # not bound to a loop yet: the next open's is new

    # -- the consumer ---------------------------------------------------------------------

    async def _follow(self, *, fresh: bool) -> None:
        """(Re)create the consumer: from scratch, or after the last applied sequence."""
        await self._drop()
        conn = self._conn
        nc = conn.client
        self._generation += 1
        generation = self._generation
        if fresh:
            self.index.clear()
            self.schedules.clear()
            self.applied = self.index.applied = 0
        inbox = nc.new_inbox()
        self._next_cseq = 1

        async def receive(msg: Msg) -> None:
            if generation == self._generation:
                self._receive(msg)

        self._sub = await nc.subscribe(inbox, cb=receive, pending_msgs_limit=1_000_000)
        config: dict[str, Any] = {
            "deliver_subject": inbox,
            "filter_subject": self._names.state_filter(),
            "ack_policy": "none",
            "replay_policy": "instant",
            "flow_control": True,
            "idle_heartbeat": int(_HEARTBEAT * 1e9),
            "inactive_threshold": 60_000_000_000,
            "num_replicas": 1,
            "mem_storage": True,
        }
        if self.applied:
            config["deliver_policy"] = "by_start_sequence"
            config["opt_start_seq"] = self.applied + 1
        else:
            config["deliver_policy"] = "last_per_subject"
        stream = self._names.state_stream
        answer = await conn.api(f"CONSUMER.CREATE.{stream}", {"stream_name": stream,
                                                               "config": config})  # fmt: skip
        self._consumer = answer["name"]
        self._last_message = time.monotonic()

    async def _drop(self) -> None:
        sub, self._sub = self._sub, None
        consumer, self._consumer = self._consumer, ""
        self._generation += 1
        if sub is not None:
            with contextlib.suppress(nats.errors.Error, BackendError):
                await sub.unsubscribe()
        if consumer:
            with contextlib.suppress(nats.errors.Error, BackendError):
                stream = self._names.state_stream
                await self._conn.client.publish(f"$JS.API.CONSUMER.DELETE.{stream}.{consumer}")

    def _on_reconnect(self) -> None:
        if self._sub is not None:
            self._schedule_restart()

    def _schedule_restart(self) -> None:
        if self._restart is None or self._restart.done():
            self._restart = asyncio.ensure_future(self._restart_now())

    async def _restart_now(self) -> None:
        try:
            await self._follow(fresh=False)
        except Exception as exc:  # the next barrier tries again
            _log.warning("NATS %s: could not follow %s again: %s", self._conn.server,
                         self._names.state_stream, exc)  # fmt: skip

    def _receive(self, msg: Msg) -> None:
        self._last_message = time.monotonic()
        if not msg.reply or msg.reply.startswith("$JS.FC") or not msg.reply.startswith("$JS.ACK"):
            self._control(msg)
            return
        seq, cseq, _ = parse_ack_reply(msg.reply)
        if cseq != self._next_cseq:  # a message was lost (slow consumer): follow again
            self._schedule_restart()
            return
        self._next_cseq = cseq + 1
        if seq <= self.applied:
            return
        self._apply(msg, seq)
        self.applied = self.index.applied = seq
        self._progress.set()

    def _control(self, msg: Msg) -> None:
        """Flow control requests and heartbeats."""
        headers = msg.headers or {}
        if msg.reply:  # a flow control request: answer it so delivery goes on
            self._spawn(self._answer(msg.reply))
            return
        stalled = headers.get("Nats-Consumer-Stalled")
        if stalled:
            self._spawn(self._answer(stalled))
        last = headers.get("Nats-Last-Consumer")
        if last is not None and last.isdigit() and int(last) >= self._next_cseq:
            self._schedule_restart()  # the heartbeat says more was sent than arrived

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        future = asyncio.ensure_future(coro)
        self._answers.add(future)
        future.add_done_callback(self._answers.discard)

    async def _answer(self, subject: str) -> None:
        with contextlib.suppress(nats.errors.Error, BackendError):
            await self._conn.client.publish(subject, b"")

    def _apply(self, msg: Msg, seq: int) -> None:
        found = self._names.state_key(msg.subject)
        if found is None:
            return
        kind, key = found
        headers = msg.headers or {}
        deleted = headers.get("KV-Operation") in ("DEL", "PURGE")
        if kind == "t":
            if deleted or not msg.data:
                self.index.apply(key, seq, None)
            else:
                stored = decode_task(msg.data, seq)
                self.index.apply(key, seq, Entry(stored.task, seq, stored.seq))
        elif kind == "s":
            current = self.schedules.get(key)
            if current is not None and current[0] >= seq:
                return
            if deleted or not msg.data:
                self.schedules.pop(key, None)
            else:
                self.schedules[key] = (seq, decode_schedule(msg.data, seq))

    def note_schedule(self, schedule_id: str, rev: int, stored: StoredSchedule) -> None:
        """Take this process's own write of a schedule at once."""
        current = self.schedules.get(schedule_id)
        if current is None or current[0] < rev:
            self.schedules[schedule_id] = (rev, stored)
