"""The test TCP proxy forwards, cuts, restores and delays (against a local echo server)."""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from collections.abc import Iterator

import pytest

from tcp_proxy import TcpProxy


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(4096):
            self.request.sendall(data)


@pytest.fixture
def echo() -> Iterator[tuple[str, int]]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address  # type: ignore[misc]
    server.shutdown()
    server.server_close()


def roundtrip(sock: socket.socket, payload: bytes) -> bytes:
    sock.sendall(payload)
    return sock.recv(4096)


def is_dead(sock: socket.socket) -> bool:
    """Whether the connection is closed or reset (an EOF or an error, within 50 tries)."""
    try:
        return any(not roundtrip(sock, b"x") for _ in range(50))
    except OSError:
        return True


def test_forwards_cuts_and_restores(echo: tuple[str, int]) -> None:
    with TcpProxy(*echo) as proxy:
        with socket.create_connection(proxy.address, timeout=5) as sock:
            assert roundtrip(sock, b"hello") == b"hello"
            proxy.cut()
            assert is_dead(sock)
        with socket.create_connection(proxy.address, timeout=5) as sock:
            assert is_dead(sock)  # refused while cut
        proxy.restore()
        with socket.create_connection(proxy.address, timeout=5) as sock:
            assert roundtrip(sock, b"back") == b"back"


def test_delay(echo: tuple[str, int]) -> None:
    with TcpProxy(*echo) as proxy, socket.create_connection(proxy.address, timeout=5) as sock:
        proxy.set_delay(0.1)
        started = time.monotonic()
        assert roundtrip(sock, b"slow") == b"slow"
        assert time.monotonic() - started >= 0.2  # one delay each way
