"""The dashboard's ASGI middleware: security headers on every response, and sign-in."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from omniq.dashboard import security

__all__ = ["SECURITY_HEADERS", "SecurityHeadersMiddleware", "SignInMiddleware"]

#: Sent with every response: no script, style or frame from elsewhere (the dashboard ships its
#: own files), and no framing of the dashboard by another site (clickjacking its buttons).
SECURITY_HEADERS = [
    (b"content-security-policy",
     b"default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
     b"frame-ancestors 'none'; form-action 'self'; base-uri 'none'"),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
]  # fmt: skip


class SecurityHeadersMiddleware:
    """Adds :data:`SECURITY_HEADERS` to every HTTP response."""

    def __init__(self, app: Any) -> None:
        """Wrap ``app``."""
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Pass the request on; add the headers to its response."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)


class SignInMiddleware:
    """Sends visitors without a session to the sign-in page (when a token is set)."""

    #: Paths open without a session: the sign-in page and the static files.
    OPEN_PATHS = ("/login",)
    OPEN_PREFIXES = ("/static/",)
    #: Paths read by programs (scrapers, the charts' fetches): a 401, never a redirect.
    MACHINE_PREFIXES = ("/api/", "/metrics")

    def __init__(self, app: Any, token: str | None) -> None:
        """Wrap ``app``; ``token`` ``None`` lets every request through."""
        self.app = app
        self.token = token

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Pass a signed-in request on; send others to the sign-in page (or a 401)."""
        if scope["type"] != "http" or self.token is None:
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        request = Request(scope)
        if (
            path in self.OPEN_PATHS
            or path.startswith(self.OPEN_PREFIXES)
            or security.signed_in(request, self.token)
        ):
            await self.app(scope, receive, send)
            return
        response: Response
        if scope["method"] == "GET" and not path.startswith(self.MACHINE_PREFIXES):
            response = RedirectResponse(f"/login?{urlencode({'next': path})}", status_code=303)
        else:
            response = PlainTextResponse("sign in first (the dashboard needs its token)", 401)
        await response(scope, receive, send)
