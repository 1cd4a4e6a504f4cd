"""How the dashboard is served: address, token, read-only; and the bind check."""

from __future__ import annotations

import ipaddress
import os

import msgspec

from omniq.exceptions import ConfigurationError

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "TOKEN_ENV",
    "DashboardSettings",
    "UnsafeBindError",
    "is_loopback",
]

#: Where the dashboard listens unless told otherwise: this machine only.
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
#: The environment variable read for the token when none is passed.
TOKEN_ENV = "OMNIQ_DASHBOARD_TOKEN"
#: Shortest token accepted (a guessable token is no protection).
MIN_TOKEN_LENGTH = 16


class UnsafeBindError(ConfigurationError):
    """The dashboard was asked to listen beyond this machine without a token."""


class DashboardSettings(msgspec.Struct, frozen=True, kw_only=True):
    """How the dashboard is served.

    Attributes:
        host: Address to listen on (default: loopback only).
        port: TCP port.
        token: Secret that signs a person in and allows actions; ``None``: no sign-in,
            and actions are off (the dashboard only shows the store).
        read_only: Hide and refuse every action, even with a token.
    """

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    token: str | None = None
    read_only: bool = False

    @property
    def actions_enabled(self) -> bool:
        """Whether Retry, Cancel, pause... are offered (a token is set, not read-only)."""
        return self.token is not None and not self.read_only

    def check(self) -> None:
        """Refuse settings that would expose the store.

        Raises:
            ConfigurationError: A bad port or a short token.
            UnsafeBindError: A non-loopback ``host`` without a token.
        """
        if not isinstance(self.host, str) or not self.host:
            raise ConfigurationError(f"host {self.host!r} is not an address or host name")
        if (
            not isinstance(self.port, int)
            or isinstance(self.port, bool)
            or not (0 <= self.port <= 65535)
        ):
            raise ConfigurationError(f"port {self.port!r} is not a TCP port (0 to 65535)")
        if self.token is not None and len(self.token) < MIN_TOKEN_LENGTH:
            raise ConfigurationError(
                f"the dashboard token is {len(self.token)} characters long: use at least "
                f"{MIN_TOKEN_LENGTH} (e.g. python -c "
                "'import secrets; print(secrets.token_urlsafe())')"
            )
        if self.token is None and not is_loopback(self.host):
            raise UnsafeBindError(
                f"refusing to serve the dashboard on {self.host!r} without a token: anyone who "
                "can reach that address would see every task's arguments, results and errors. "
                f"Pass --token (or set {TOKEN_ENV}) so that visitors must sign in, or listen "
                f"on {DEFAULT_HOST} (the default) and reach it through an SSH tunnel"
            )


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (``127.0.0.0/8``, ``::1``, ``localhost``)."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def token_from_env(given: str | None) -> str | None:
    """``given``, else the token in :data:`TOKEN_ENV` (an empty variable counts as unset)."""
    if given:
        return given
    return os.environ.get(TOKEN_ENV) or None
