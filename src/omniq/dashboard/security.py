"""Signing in with the token, and refusing forged actions (CSRF).

A person signs in by typing the token once; the dashboard then sets a session cookie holding
an HMAC of the token (``HttpOnly``, ``SameSite=Strict``), so the token itself is never stored
in the browser and changing it signs everyone out. Scripts may send
``Authorization: Bearer TOKEN`` instead.

Every action is a POST that must carry the CSRF token of the page it came from (a random
value in a ``SameSite=Strict`` cookie, repeated in a hidden form field: double submit), and,
when the browser sends an ``Origin`` header, it must be the dashboard's own.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import urlsplit

from starlette.requests import Request

__all__ = [
    "CSRF_COOKIE",
    "CSRF_FIELD",
    "SESSION_COOKIE",
    "csrf_token",
    "local_path",
    "origin_ok",
    "session_value",
    "signed_in",
]

SESSION_COOKIE = "omniq_session"
CSRF_COOKIE = "omniq_csrf"
CSRF_FIELD = "csrf"


def session_value(token: str) -> str:
    """The session cookie's value for ``token`` (an HMAC: the token is not in it)."""
    return hmac.new(token.encode(), b"omniq-dashboard-session", hashlib.sha256).hexdigest()


def signed_in(request: Request, token: str | None) -> bool:
    """Whether the request may see the dashboard: no token set, or a valid session/bearer."""
    if token is None:
        return True
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer ") and hmac.compare_digest(
        header[7:].strip().encode(), token.encode()
    ):
        return True
    cookie = request.cookies.get(SESSION_COOKIE, "")
    return hmac.compare_digest(cookie.encode(), session_value(token).encode())


def bearer(request: Request) -> bool:
    """Whether the request authenticates with a header (a script: CSRF does not apply)."""
    return request.headers.get("authorization", "").lower().startswith("bearer ")


def csrf_token(request: Request) -> str:
    """The CSRF token of this browser (its cookie's), or a new one to set."""
    current = request.cookies.get(CSRF_COOKIE, "")
    return current if len(current) >= 32 else secrets.token_urlsafe(32)


def csrf_ok(request: Request, submitted: str | None) -> bool:
    """Whether a form's CSRF field matches the browser's CSRF cookie."""
    cookie = request.cookies.get(CSRF_COOKIE, "")
    return (
        bool(cookie)
        and submitted is not None
        and hmac.compare_digest(cookie.encode(), submitted.encode())
    )


def origin_ok(request: Request) -> bool:
    """Whether the request's ``Origin`` (or else ``Referer``) is the dashboard's own host.

    A request with neither header passes this check (some clients send none); the CSRF token
    still has to match.
    """
    source = request.headers.get("origin") or request.headers.get("referer")
    if not source or source == "null":
        return source != "null"
    parts = urlsplit(source)
    return parts.netloc.lower() == request.headers.get("host", "").lower()


def token_matches(given: str, token: str) -> bool:
    """Whether a typed token is the dashboard's (in constant time)."""
    return hmac.compare_digest(given.strip().encode(), token.encode())


def local_path(target: str, fallback: str) -> str:
    r"""``target`` if it is a path of this site (``/tasks?x=1``), else ``fallback``.

    Redirects after sign-in and after actions go only there: never to another site
    (``//evil.test``, ``/\\evil.test``, ``https://...``).
    """
    if target.startswith("/") and not target.startswith(("//", "/\\")) and "\\" not in target:
        return target
    return fallback
