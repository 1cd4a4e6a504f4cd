"""How the NATS backend connects: servers, credentials, TLS and timeouts, checked up front.

Secrets (passwords and tokens, in URLs or as options) never reach a message or a log line:
:meth:`ConnectOptions.describe` names the servers without them and :meth:`ConnectOptions.mask`
blanks them out of any text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from omniq.exceptions import ConfigurationError

__all__ = ["ConnectOptions", "mask_url"]

_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^@/\s]*)@")


def mask_url(url: str) -> str:
    """``url`` with its user info replaced (``nats://***@host`` or ``nats://user:***@host``)."""

    def hide(match: re.Match[str]) -> str:
        user, sep, _ = match["userinfo"].partition(":")
        shown = f"{user}:***" if sep else "***"  # a lone user part is a token
        return f"{match['scheme']}{shown}@"

    return _USERINFO.sub(hide, url)


def _positive(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ConfigurationError(f"{name} {value!r} is not a positive number of seconds")
    return float(value)


def _optional_text(name: str, value: object) -> str | None:
    if value is not None and (not isinstance(value, str) or not value):
        raise ConfigurationError(f"{name} {value!r} is not a non-empty string")
    return value


def _servers(servers: object) -> tuple[str, ...]:
    listed = [servers] if isinstance(servers, str) else servers
    if not isinstance(listed, Sequence) or isinstance(listed, bytes) or not listed:
        raise ConfigurationError(
            f"servers {servers!r} is not a NATS URL or a list of them (nats://host:4222)"
        )
    found: list[str] = []
    for url in listed:
        if not isinstance(url, str) or not url.strip():
            raise ConfigurationError(f"servers entry {url!r} is not a NATS URL (nats://host:4222)")
        parts = urlsplit(url if "://" in url else f"nats://{url}")
        if parts.scheme not in ("nats", "tls", "ws", "wss") or not parts.hostname:
            raise ConfigurationError(
                f"servers entry {mask_url(url)!r} is not a NATS URL (nats://host:4222)"
            )
        try:
            parts.port  # noqa: B018 - raises on a bad port
        except ValueError:
            raise ConfigurationError(
                f"servers entry {mask_url(url)!r} has a bad port (nats://host:4222)"
            ) from None
        found.append(url if "://" in url else f"nats://{url}")
    return tuple(found)


@dataclass(frozen=True, slots=True)
class ConnectOptions:
    """Checked connection settings.

    Attributes:
        servers: NATS URLs (credentials may be in them).
        user: User name, or ``None``.
        password: Password, or ``None``.
        token: Authentication token, or ``None``.
        creds_file: A ``.creds`` file (JWT and NKey seed), or ``None``.
        nkeys_seed: An NKey seed file, or ``None``.
        tls_ca_file: CA bundle to verify the server (turns TLS on), or ``None``.
        tls_cert_file: Client certificate (turns TLS on), or ``None``.
        tls_key_file: Its private key, or ``None``.
        tls_hostname: Name to verify the server certificate against, or ``None``.
        tls: Use TLS with the system's CA bundle.
        connect_timeout: Seconds to reach a server when opening.
        request_timeout: Seconds to wait for each request's answer.
        operation_timeout: Seconds one verb may take in all.
        reconnect_wait: Seconds between reconnection attempts.
    """

    servers: tuple[str, ...]
    user: str | None = None
    password: str | None = None
    token: str | None = None
    creds_file: str | None = None
    nkeys_seed: str | None = None
    tls_ca_file: str | None = None
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    tls_hostname: str | None = None
    tls: bool = False
    connect_timeout: float = 5.0
    request_timeout: float = 5.0
    operation_timeout: float = 30.0
    reconnect_wait: float = 0.5

    @classmethod
    def check(cls, servers: object, **options: Any) -> ConnectOptions:
        """Build options from the backend's arguments, refusing bad values.

        Raises:
            ConfigurationError: A value is not usable; the message names it (secrets
                masked).
        """
        checked: dict[str, Any] = {"servers": _servers(servers)}
        for name in ("user", "password", "token", "tls_hostname"):
            checked[name] = _optional_text(name, options.get(name))
        for name in ("creds_file", "nkeys_seed", "tls_ca_file", "tls_cert_file", "tls_key_file"):
            value = options.get(name)
            if value is not None:
                if not isinstance(value, str | Path) or not str(value):
                    raise ConfigurationError(f"{name} {value!r} is not a file path")
                if not Path(value).is_file():
                    raise ConfigurationError(f"{name} {str(value)!r} is not a readable file")
                value = str(value)
            checked[name] = value
        tls = options.get("tls", False)
        if not isinstance(tls, bool):
            raise ConfigurationError(f"tls {tls!r} is not true or false")
        checked["tls"] = tls
        if checked["password"] is not None and checked["user"] is None:
            raise ConfigurationError("password was given without user")
        if checked["tls_key_file"] is not None and checked["tls_cert_file"] is None:
            raise ConfigurationError("tls_key_file was given without tls_cert_file")
        for name in ("connect_timeout", "request_timeout", "operation_timeout", "reconnect_wait"):
            if options.get(name) is not None:
                checked[name] = _positive(name, options[name])
        return cls(**checked)

    @property
    def tls_enabled(self) -> bool:
        """Whether the client must speak TLS."""
        return (
            self.tls
            or bool(self.tls_ca_file or self.tls_cert_file)
            or any(url.startswith(("tls://", "wss://")) for url in self.servers)
        )

    def credentials(self) -> dict[str, Any]:
        """The credential keyword arguments of ``nats.connect``."""
        found: dict[str, Any] = {}
        if self.user is not None:
            found["user"] = self.user
        if self.password is not None:
            found["password"] = self.password
        if self.token is not None:
            found["token"] = self.token
        if self.creds_file is not None:
            found["user_credentials"] = self.creds_file
        if self.nkeys_seed is not None:
            found["nkeys_seed"] = self.nkeys_seed
        return found

    def describe(self) -> str:
        """The servers, without credentials (``host:port,host:port``)."""
        shown = []
        for url in self.servers:
            parts = urlsplit(url)
            shown.append(f"{parts.hostname}:{parts.port or 4222}")
        return ",".join(shown)

    def mask(self, text: str) -> str:
        """``text`` with every secret of these options (and any URL's user info) blanked."""
        masked = mask_url(text)
        for secret in (self.password, self.token, *self._url_secrets()):
            if secret:
                masked = masked.replace(secret, "***")
        return masked

    def _url_secrets(self) -> list[str]:
        found = []
        for url in self.servers:
            parts = urlsplit(url)
            if parts.password:
                found.append(parts.password)
            elif parts.username:
                found.append(parts.username)
        return found

    def masked_servers(self) -> list[str]:
        """The server URLs with their secrets masked."""
        return [mask_url(url) for url in self.servers]
