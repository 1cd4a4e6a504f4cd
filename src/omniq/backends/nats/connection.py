"""The backend's NATS connection, driven from its bridge thread; errors become OmniQ's.

Every verb is a coroutine handed to :meth:`Connection.run`: it runs on the
:class:`~omniq.storage.bridge.LoopBridge` loop that owns the nats-py client, and any
nats-py error (or a request the server did not answer in ``request_timeout`` seconds)
becomes a :class:`~omniq.exceptions.BackendError` that names the servers, never a
password or token. The client reconnects by itself when the connection drops; requests
made meanwhile wait for it up to ``request_timeout``.

Beside the connection this module holds the few JetStream calls the backend makes, all
as plain requests: publish with an expected last subject sequence (the compare-and-set of
every state change), read the last message of a subject, read a stream's last sequence,
purge, and :meth:`Connection.scan`, which reads a filtered part of a stream through a
short-lived push consumer.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import logging
import ssl
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg

from omniq.backends.nats.options import ConnectOptions
from omniq.exceptions import BackendError
from omniq.storage.bridge import LoopBridge

__all__ = ["Conflict", "Connection", "Publish", "RawMessage", "parse_ack_reply"]

T = TypeVar("T")

_log = logging.getLogger("omniq.backends.nats")

#: Server error codes: wrong last (subject) sequence; stream name already in use.
_WRONG_LAST = (10071, 10164)
_STREAM_IN_USE = 10058
_NOT_FOUND = (10037, 10059)  # no message found; stream not found
#: Times a write is sent again after the connection dropped before its acknowledgement.
_RESENDS = 2
#: Seconds the server remembers message ids (resends come within ``request_timeout``).
DUPLICATE_WINDOW = 30.0


class _Lost(Exception):
    """The connection dropped before a reply came (it may or may not have been acted on)."""


class Conflict(Exception):
    """A compare-and-set lost: the subject's last sequence was not the one expected."""


class Publish(NamedTuple):
    """One message to store (see :meth:`Connection.publish`).

    Attributes:
        subject: Where.
        data: The payload.
        last: The expected last sequence of the subject (a compare-and-set), or ``None``.
        headers: More headers, or ``None``.
    """

    subject: str
    data: bytes
    last: int | None = None
    headers: dict[str, str] | None = None


def _ack(subject: str, msg: Msg) -> int | BaseException:
    """A publish's sequence from its acknowledgement, or the error it reports."""
    if msg.headers and msg.headers.get("Status") == "503":
        return nats.js.errors.NoStreamResponseError()
    answer = json.loads(msg.data)
    error = answer.get("error")
    if error is None:
        return int(answer["seq"])
    if error.get("err_code") in _WRONG_LAST:
        return Conflict(subject)
    try:
        nats.js.errors.APIError.from_error(error)  # raises the matching error
    except nats.js.errors.APIError as exc:
        return exc
    return nats.js.errors.APIError(**error)  # pragma: no cover - from_error always raises


class RawMessage(NamedTuple):
    """One stored message as read back.

    Attributes:
        subject: Its subject.
        seq: Its stream sequence (a KV revision).
        data: Its payload.
        headers: Its headers (empty if none).
        time: When the server stored it, as an RFC 3339 string ("" if unknown).
    """

    subject: str
    seq: int
    data: bytes
    headers: dict[str, str]
    time: str = ""

    @property
    def deleted(self) -> bool:
        """Whether this is a KV delete or purge marker."""
        return self.headers.get("KV-Operation") in ("DEL", "PURGE")


def parse_ack_reply(reply: str) -> tuple[int, int, int]:
    """``(stream sequence, consumer sequence, pending)`` of a pushed JetStream message."""
    tokens = reply.split(".")
    if len(tokens) == 9:  # $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>
        return int(tokens[5]), int(tokens[6]), int(tokens[8])
    # $JS.ACK.<domain>.<hash>.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>...
    return int(tokens[7]), int(tokens[8]), int(tokens[10])


def _parse_headers(raw: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in raw.decode("utf-8", "replace").split("\r\n")[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip()] = value.strip()
    return headers


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


@dataclass(slots=True)
class _Pending:
    done: asyncio.Event
    messages: list[RawMessage]


class Connection:
    """A nats-py client owned by a bridge loop, and the JetStream calls the backend makes.

    Args:
        bridge: The backend's bridge (the client lives on its loop).
        options: How to connect.
    """

    def __init__(self, bridge: LoopBridge, options: ConnectOptions) -> None:
        self._bridge = bridge
        self.options = options
        self.server = options.describe()
        self._nc: Client | None = None
        self._reconnected: list[Callable[[], None]] = []
        self._acks: dict[str, asyncio.Future[Msg]] = {}
        self._tokens = itertools.count(1)
        self._reply_prefix: str | None = None
        self._reply_client: Client | None = None
        self._closing = False
        self._up = asyncio.Event()
        self._id_prefix = uuid.uuid4().hex[:16] + "."

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def client(self) -> Client:
        """The live client (on the bridge's loop).

        Raises:
            BackendError: The backend is closed.
        """
        if self._nc is None or self._nc.is_closed:
            raise BackendError(f"the NATS backend for {self.server} is closed")
        return self._nc

    def on_reconnect(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (on the bridge's loop) each time the client reconnects."""
        self._reconnected.append(callback)

    async def open(self) -> None:
        """Connect (on the bridge's loop); fail within ``connect_timeout`` seconds.

        Raises:
            BackendError: No server answered, or the credentials were refused; the message
                names the servers and the reason (secrets masked).
        """
        options = self.options
        failures: list[str] = []
        refusals: list[str] = []  # the server's own words (e.g. Authorization Violation)

        async def error_cb(exc: Exception) -> None:
            failures.append(_first_line(exc))
            if not isinstance(exc, OSError | TimeoutError):
                refusals.append(_first_line(exc))
            _log.warning("NATS %s: %s", self.server, options.mask(_first_line(exc)))

        async def disconnected_cb() -> None:
            self._up.clear()
            self._lose_pending()
            if not self._closing:
                _log.warning("NATS %s: disconnected; reconnecting", self.server)

        async def reconnected_cb() -> None:
            self._up.set()
            _log.warning("NATS %s: reconnected", self.server)
            for callback in list(self._reconnected):
                callback()

        nc = Client()
        self._closing = False
        self._up = asyncio.Event()  # of this loop: the bridge's loop is new at each open
        try:
            async with asyncio.timeout(options.connect_timeout + 1.0):
                await nc.connect(
                    servers=list(options.servers),
                    name="omniq",
                    connect_timeout=max(1, round(options.connect_timeout)),
                    allow_reconnect=True,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=options.reconnect_wait,  # type: ignore[arg-type]
                    error_cb=error_cb,
                    disconnected_cb=disconnected_cb,
                    reconnected_cb=reconnected_cb,
                    tls=self._tls(),
                    tls_hostname=options.tls_hostname,
                    **options.credentials(),
                )
        except (TimeoutError, nats.errors.Error, OSError, ssl.SSLError) as exc:
            with contextlib.suppress(Exception):
                await nc.close()
            # A refusal the server stated explains more than the reset that follows it.
            reason = (refusals or failures or [_first_line(exc) or "no answer"])[-1]
            if isinstance(exc, TimeoutError) and not failures:
                reason = "no answer"
            raise BackendError(
                f"cannot connect to NATS at {self.server} within "
                f"{options.connect_timeout:g}s: {options.mask(reason)}"
            ) from None
        self._nc = nc
        self._up.set()

    def _tls(self) -> ssl.SSLContext | None:
        options = self.options
        if not options.tls_enabled:
            return None
        context = ssl.create_default_context(cafile=options.tls_ca_file)
        if options.tls_cert_file:
            context.load_cert_chain(options.tls_cert_file, options.tls_key_file)
        return context

    async def close(self) -> None:
        """Close the client (on the bridge's loop)."""
        nc, self._nc = self._nc, None
        self._closing = True
        if nc is not None and not nc.is_closed:
            with contextlib.suppress(Exception):
                await nc.close()

    # -- running work ---------------------------------------------------------------------

    async def run(self, work: Callable[[], Awaitable[T]]) -> T:
        """Run ``work`` on the bridge's loop and await it from any loop; errors are OmniQ's."""
        return await self._bridge.run(lambda: self.guard(work))

    def call(self, work: Callable[[], Awaitable[T]]) -> T:
        """Blocking twin of :meth:`run`, for threads without a running loop."""
        return self._bridge.call(lambda: self.guard(work))

    async def guard(self, work: Callable[[], Awaitable[T]]) -> T:
        """Run ``work`` here (on the bridge's loop), translating nats-py errors."""
        try:
            async with asyncio.timeout(self.options.operation_timeout):
                return await work()
        except TimeoutError:  # a request (request_timeout) or the whole verb (operation_timeout)
            raise BackendError(
                f"NATS at {self.server} did not answer in time (request_timeout "
                f"{self.options.request_timeout:g}s): the server is down or unreachable"
            ) from None
        except nats.errors.Error as exc:
            raise self.error(exc) from exc

    def error(self, exc: BaseException) -> BackendError:
        """The OmniQ error for a nats-py error (to be raised ``from exc``)."""
        if isinstance(exc, nats.errors.ConnectionClosedError):
            return BackendError(f"the NATS backend for {self.server} is closed")
        detail = self.options.mask(_first_line(exc))
        return BackendError(f"NATS error on {self.server}: {type(exc).__name__}: {detail}")

    # -- JetStream calls (on the bridge's loop) ----------------------------------------

    async def api(self, subject: str, request: dict[str, Any] | None = None) -> dict[str, Any]:
        """One JetStream API request (``$JS.API.<subject>``); its JSON answer.

        A request whose answer was lost with a dropped connection is sent again once the
        client has reconnected (API requests here only read, or create what is created by
        name).

        Raises:
            nats.js.errors.APIError: The server answered with an error.
        """
        payload = b"" if request is None else json.dumps(request).encode()
        for attempt in range(2):
            try:
                [msg] = await self._send([(f"$JS.API.{subject}", payload, None)])
            except _Lost:
                if attempt:
                    raise BackendError(
                        f"lost the connection to NATS at {self.server} twice in one request"
                    ) from None
                await self._reconnection()
                continue
            answer: dict[str, Any] = json.loads(msg.data)
            if "error" in answer:
                raise nats.js.errors.APIError.from_error(answer["error"])
            return answer
        raise AssertionError("unreachable")  # pragma: no cover

    async def _reconnection(self) -> None:
        """Wait (up to ``request_timeout``) until the client is connected again."""
        if self.client.is_connected:
            return
        async with asyncio.timeout(self.options.request_timeout):
            await self._up.wait()

    def _lose_pending(self) -> None:
        """The connection dropped: answers to what was sent before will never come."""
        pending, self._acks = self._acks, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(_Lost())

    async def _send(
        self, messages: Sequence[tuple[str, bytes, dict[str, str] | None]]
    ) -> list[Msg]:
        """Publish each message with a reply subject of ours; the replies, in order.

        Raises:
            _Lost: The connection dropped before every reply came.
            TimeoutError: Replies did not all come within ``request_timeout``.
        """
        nc = self.client
        if self._reply_prefix is None or self._reply_client is not nc:
            await self._listen_for_acks(nc)
        prefix = self._reply_prefix
        assert prefix is not None
        loop = asyncio.get_running_loop()
        tokens: list[str] = []
        futures: list[asyncio.Future[Msg]] = []
        try:
            for subject, data, headers in messages:
                token = str(next(self._tokens))
                future: asyncio.Future[Msg] = loop.create_future()
                self._acks[token] = future
                tokens.append(token)
                futures.append(future)
                await nc.publish(subject, data, reply=prefix + token, headers=headers)
            async with asyncio.timeout(self.options.request_timeout):
                return [await future for future in futures]
        finally:
            for token in tokens:
                self._acks.pop(token, None)

    async def ensure_stream(self, config: dict[str, Any]) -> None:
        """Create a stream unless it exists (with any configuration)."""
        try:
            await self.api(f"STREAM.CREATE.{config['name']}", config)
        except nats.js.errors.APIError as exc:
            if exc.err_code != _STREAM_IN_USE:
                raise

    async def publish(
        self,
        subject: str,
        data: bytes,
        *,
        last: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> int:
        """Store one message; return its sequence.

        Args:
            subject: Where (a stream must capture it).
            data: The payload.
            last: Only store it if the subject's last sequence is this one (0: the subject
                has no message): a compare-and-set.
            headers: More headers.

        Raises:
            Conflict: ``last`` was given and is not the subject's last sequence.
        """
        [outcome] = await self.publish_many([Publish(subject, data, last, headers)])
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    async def publish_many(self, messages: Sequence[Publish]) -> list[int | BaseException]:
        """Store several messages, all sent before any acknowledgement is awaited.

        Messages from one connection reach a stream in the order they were sent.

        Returns:
            Per message, in order: its sequence, or the error that refused it
            (:class:`Conflict` for a lost compare-and-set).

        Raises:
            TimeoutError: Acknowledgements did not all arrive within ``request_timeout``.
        """
        sent = []
        for message in messages:
            headers = dict(message.headers) if message.headers else {}
            if message.last is not None:
                headers["Nats-Expected-Last-Subject-Sequence"] = str(message.last)
            # A message id makes sending again after a dropped connection safe: the
            # server stores a message once per id (within the streams' duplicate window).
            headers["Nats-Msg-Id"] = f"{self._id_prefix}{next(self._tokens)}"
            sent.append((message.subject, message.data, headers))
        for attempt in range(_RESENDS + 1):
            try:
                answers = await self._send(sent)
                break
            except _Lost:
                if attempt == _RESENDS:
                    raise BackendError(
                        f"lost the connection to NATS at {self.server} {attempt + 1} times "
                        "while writing: the write may or may not have been stored"
                    ) from None
                await self._reconnection()
        return [
            _ack(message.subject, answer) for message, answer in zip(messages, answers, strict=True)
        ]

    async def _listen_for_acks(self, nc: Client) -> None:
        """One subscription receives the acknowledgements of every publish."""
        prefix = nc.new_inbox() + "."

        async def receive(msg: Msg) -> None:
            future = self._acks.get(msg.subject[len(prefix) :])
            if future is not None and not future.done():
                future.set_result(msg)

        await nc.subscribe(prefix + "*", cb=receive)
        self._reply_prefix, self._reply_client = prefix, nc

    async def create(self, subject: str, data: bytes) -> int:
        """Store ``data`` on a KV subject that holds no value yet (or a delete marker).

        Raises:
            Conflict: The subject holds a value.
        """
        try:
            return await self.publish(subject, data, last=0)
        except Conflict:
            stream = self._stream_of(subject)
            current = await self.last(stream, subject)
            if current is None or not current.deleted:
                raise
            return await self.publish(subject, data, last=current.seq)

    def _stream_of(self, subject: str) -> str:
        bucket = subject.split(".", 2)[1]
        return f"KV_{bucket}"

    async def delete(self, subject: str, *, last: int | None = None, purge: bool = False) -> int:
        """Put a KV delete marker on a subject (``purge``: and drop its older messages).

        Raises:
            Conflict: ``last`` was given and is not the subject's last sequence.
        """
        headers = {"KV-Operation": "PURGE" if purge else "DEL"}
        if purge:
            headers["Nats-Rollup"] = "sub"
        return await self.publish(subject, b"", last=last, headers=headers)

    async def last(self, stream: str, subject: str) -> RawMessage | None:
        """The last message of ``subject`` (a delete marker included), or ``None``."""
        return await self._get(stream, {"last_by_subj": subject})

    async def by_seq(self, stream: str, seq: int) -> RawMessage | None:
        """The message at ``seq``, or ``None`` if there is none."""
        return await self._get(stream, {"seq": seq})

    async def _get(self, stream: str, request: dict[str, Any]) -> RawMessage | None:
        try:
            answer = await self.api(f"STREAM.MSG.GET.{stream}", request)
        except nats.js.errors.APIError as exc:
            if exc.err_code in _NOT_FOUND:
                return None
            raise
        message = answer["message"]
        raw_headers = message.get("hdrs")
        return RawMessage(
            subject=message["subject"],
            seq=int(message["seq"]),
            data=base64.b64decode(message["data"]) if message.get("data") else b"",
            headers=_parse_headers(base64.b64decode(raw_headers)) if raw_headers else {},
            time=message.get("time", ""),
        )

    async def last_seq(self, stream: str) -> int:
        """The stream's last sequence (0 when it never held a message)."""
        answer = await self.api(f"STREAM.INFO.{stream}")
        return int(answer["state"]["last_seq"])

    async def purge(self, stream: str, subject: str | None = None) -> int:
        """Purge a stream, or one subject of it; return how many messages went."""
        request = {} if subject is None else {"filter": subject}
        answer = await self.api(f"STREAM.PURGE.{stream}", request)
        return int(answer.get("purged", 0))

    async def _until(self, pending: _Pending) -> None:
        """Wait for a scan to end, failing if no message came for ``request_timeout``."""
        while not pending.done.is_set():
            seen = len(pending.messages)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.options.request_timeout):
                    await pending.done.wait()
            if not pending.done.is_set() and len(pending.messages) == seen:
                raise TimeoutError

    async def wake(self, subject: str, payloads: Sequence[str]) -> None:
        """Publish wake-ups (plain NATS: at most once, no acknowledgement)."""
        nc = self.client
        for payload in payloads:
            await nc.publish(subject, payload.encode())

    async def scan(
        self,
        stream: str,
        subject: str,
        *,
        last_per_subject: bool = False,
        headers_only: bool = False,
        start_seq: int | None = None,
        limit: int | None = None,
    ) -> list[RawMessage]:
        """Read the messages of ``subject`` (a filter) in stream order.

        Args:
            stream: The stream.
            subject: The filter subject (wildcards allowed).
            last_per_subject: Only the last message of each subject (a KV's live values,
                delete markers included).
            headers_only: Leave payloads out (``data`` is empty).
            start_seq: Start at this sequence instead of the first.
            limit: Stop after this many messages.
        """
        nc = self.client
        inbox = nc.new_inbox()
        pending = _Pending(asyncio.Event(), [])
        wanted = limit

        async def receive(msg: Msg) -> None:
            if not msg.reply:  # a status message (heartbeat): none are asked for
                return
            seq, _, left = parse_ack_reply(msg.reply)
            headers = dict(msg.headers) if msg.headers else {}
            pending.messages.append(RawMessage(msg.subject, seq, msg.data, headers))
            if left == 0 or (wanted is not None and len(pending.messages) >= wanted):
                pending.done.set()

        # No client-side limit: what arrives is kept anyway (a dropped message would stall).
        sub = await nc.subscribe(inbox, cb=receive, pending_msgs_limit=0, pending_bytes_limit=0)
        config: dict[str, Any] = {
            "deliver_subject": inbox,
            "filter_subject": subject,
            "ack_policy": "none",
            "replay_policy": "instant",
            "headers_only": headers_only,
            "inactive_threshold": 5_000_000_000,
            "num_replicas": 1,
            "mem_storage": True,
        }
        if start_seq is not None:
            config["deliver_policy"] = "by_start_sequence"
            config["opt_start_seq"] = start_seq
        else:
            config["deliver_policy"] = "last_per_subject" if last_per_subject else "all"
        name = ""
        try:
            answer = await self.api(
                f"CONSUMER.CREATE.{stream}", {"stream_name": stream, "config": config}
            )
            name = answer["name"]
            delivered = int(answer.get("delivered", {}).get("consumer_seq", 0))
            if int(answer.get("num_pending", 0)) + delivered > 0:
                await self._until(pending)
        finally:
            await sub.unsubscribe()
            if name:  # no need to wait for the answer: it goes by itself once idle anyway
                with contextlib.suppress(nats.errors.Error):
                    await nc.publish(f"$JS.API.CONSUMER.DELETE.{stream}.{name}", b"")
        messages = pending.messages
        return messages if wanted is None else messages[:wanted]
