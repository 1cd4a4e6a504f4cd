"""A TCP proxy the test controls: put it between OmniQ and a shared server, then cut it.

Fault tests must never stop the machine's shared services; they break the path instead.
``TcpProxy(host, port)`` listens on a free loopback port and forwards every connection to
``host:port``. The test then:

* ``cut()``: closes every open connection and refuses new ones (a network outage, or a
  server restart as the client sees it);
* ``restore()``: accepts connections again;
* ``drop_connections()``: closes the open connections once, keeps accepting (a restart
  that comes straight back);
* ``set_delay(seconds)``: delays every chunk forwarded in either direction (a slow link).

It runs its own event loop in a daemon thread, so it works under sync and async tests alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from types import TracebackType
from typing import Self

__all__ = ["TcpProxy", "proxy_to"]


class TcpProxy:
    """Forwards ``127.0.0.1:<port>`` to ``host:port`` until cut.

    Args:
        host: The server's host.
        port: The server's port.
    """

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = 0
        self.accepting = True
        self.delay = 0.0
        self.connections = 0  # accepted so far
        self._writers: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name="test-tcp-proxy")  # fmt: skip
        self._thread.start()
        self._call(self._start())

    # -- control (from the test's thread) -------------------------------------------------

    @property
    def address(self) -> tuple[str, int]:
        """Where clients connect: ``("127.0.0.1", port)``."""
        return "127.0.0.1", self.port

    def cut(self) -> None:
        """Close every connection and refuse new ones until :meth:`restore`."""
        self.accepting = False
        self._call(self._close_all())

    def restore(self) -> None:
        """Accept connections again."""
        self.accepting = True

    def drop_connections(self) -> None:
        """Close the open connections once; new ones are accepted."""
        self._call(self._close_all())

    def set_delay(self, seconds: float) -> None:
        """Delay each forwarded chunk by ``seconds`` (0: none)."""
        self.delay = seconds

    def close(self) -> None:
        """Stop the proxy and its thread."""
        if self._loop.is_closed():
            return
        self._call(self._stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- the loop -------------------------------------------------------------------------

    def _call(self, coro: object) -> None:
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)  # type: ignore[arg-type]

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        await self._close_all()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _close_all(self) -> None:
        writers, self._writers = list(self._writers), set()
        for writer in writers:
            with contextlib.suppress(Exception):
                transport = writer.transport
                transport.abort()  # a reset, as when a host or server goes away

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.accepting:
            writer.transport.abort()
            return
        self.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))
        await asyncio.gather(
            self._pump(reader, up_writer), self._pump(up_reader, writer), return_exceptions=True
        )
        for side in (writer, up_writer):
            self._writers.discard(side)
            side.transport.abort()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            if self.delay:
                await asyncio.sleep(self.delay)
            writer.write(data)
            await writer.drain()
        with contextlib.suppress(Exception):
            writer.write_eof()


@contextlib.contextmanager
def proxy_to(host: str, port: int) -> Iterator[TcpProxy]:
    """A :class:`TcpProxy` to ``host:port``, closed on exit."""
    proxy = TcpProxy(host, port)
    try:
        yield proxy
    finally:
        proxy.close()
