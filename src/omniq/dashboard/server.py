"""Serving the dashboard with uvicorn: in the foreground, or in a thread (tests, scripts)."""

from __future__ import annotations

import threading
import time
from types import TracebackType

import uvicorn

from omniq.api import OmniQ
from omniq.dashboard.app import create_app
from omniq.dashboard.settings import DashboardSettings
from omniq.exceptions import ConfigurationError

__all__ = ["BackgroundServer", "serve"]


def serve(
    oq: OmniQ,
    settings: DashboardSettings,
    log_level: str = "warning",
    counter: OmniQ | None = None,
) -> None:
    """Serve the dashboard over ``oq`` until interrupted (Ctrl-C).

    Args:
        oq: An open OmniQ reading the store for display (see
            :func:`omniq.cli.connect.open_omniq`).
        settings: Address, token and mode.
        log_level: uvicorn's log level (``"info"`` logs each request).
        counter: A second open OmniQ on the store for the overview's counts (see
            :func:`omniq.dashboard.app.create_app`).

    Raises:
        ConfigurationError: Bad settings.
        UnsafeBindError: A non-loopback host without a token.
    """
    app = create_app(oq, settings, counter=counter)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=log_level,
                server_header=False)  # fmt: skip


class BackgroundServer:
    """The dashboard served by uvicorn in a daemon thread (``with`` starts and stops it).

    ``settings.port`` 0 picks a free port; :attr:`url` says which.

    Args:
        oq: An open OmniQ reading the store for display.
        settings: Address, token and mode.
        startup_timeout: Seconds to wait for the server to listen.
    """

    def __init__(
        self, oq: OmniQ, settings: DashboardSettings, startup_timeout: float = 10.0
    ) -> None:
        app = create_app(oq, settings)
        config = uvicorn.Config(app, host=settings.host, port=settings.port,
                                log_level="warning", server_header=False)  # fmt: skip
        self._server = uvicorn.Server(config)
        self._timeout = startup_timeout
        self._thread = threading.Thread(target=self._server.run, name="omniq-dashboard",
                                        daemon=True)  # fmt: skip
        self.url = ""

    def start(self) -> str:
        """Start serving; return the base URL (``http://127.0.0.1:PORT``).

        Raises:
            ConfigurationError: The server did not start (e.g. the port is taken).
        """
        self._thread.start()
        deadline = time.monotonic() + self._timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise ConfigurationError("the dashboard server did not start (port taken?)")
            time.sleep(0.01)
        host, port = self._server.servers[0].sockets[0].getsockname()[:2]
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{port}"
        return self.url

    def stop(self) -> None:
        """Stop serving and wait for the thread."""
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def __enter__(self) -> BackgroundServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
