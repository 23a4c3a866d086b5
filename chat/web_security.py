"""Browser-facing protections of the whole app: CSP, nosniff, Secure cookies, origins.

`install_web_security(app, sio)` runs at import of chat.handlers (before uvicorn builds
the middleware stack) and:
- replaces Chainlit's CORS middleware (``allow_origins = ["*"]`` with credentials) by one
  that allows only DOCCHAT_ALLOWED_ORIGINS (same-origin requests need no CORS at all);
- makes socket.io accept only the page's own origin plus those extra origins (Chainlit's
  ``cors_allowed_origins=[]`` turned the origin check off: any page could open a socket
  with the user's cookie);
- adds one ASGI middleware that sets a Content-Security-Policy on every HTTP response
  (scripts only from the app itself plus the hashes of the two inline scripts Chainlit's
  index page carries, images only from the app and ``data:``/``blob:``), plus
  ``X-Content-Type-Options: nosniff`` and ``Referrer-Policy``, and marks cookies
  ``Secure`` when the request came over https (DOCCHAT_COOKIE_SECURE).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
from collections.abc import Iterable
from typing import Any

from chat.config import AppSettings, get_settings

log = logging.getLogger(__name__)

_INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.DOTALL)


def inline_script_hashes(html: str) -> list[str]:
    """CSP source expressions ``'sha256-…'`` of every inline ``<script>`` in ``html``."""
    hashes = []
    for body in _INLINE_SCRIPT.findall(html):
        digest = hashlib.sha256(body.encode("utf-8")).digest()
        hashes.append(f"'sha256-{base64.b64encode(digest).decode()}'")
    return hashes


def content_security_policy(script_hashes: Iterable[str] = ()) -> str:
    """The app's CSP: no inline script but the listed hashes, no remote images.

    Styles keep 'unsafe-inline' (the React UI sets style attributes); remote fonts and
    stylesheets the stock index page links (Google Fonts, KaTeX CSS) are not loaded,
    so the UI falls back to local fonts and makes no third-party request.
    """
    scripts = " ".join(["'self'", *script_hashes])
    return "; ".join([
        "default-src 'self'",
        f"script-src {scripts}",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "media-src 'self' blob:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "frame-src 'self'",
        "worker-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'self'",
    ])


def _index_script_hashes() -> list[str]:
    """Hashes of the inline scripts of the index page Chainlit serves."""
    try:
        from chainlit.config import config
        from chainlit.server import get_html_template

        return inline_script_hashes(get_html_template(config.run.root_path or ""))
    except Exception as error:  # noqa: BLE001 - a missing build only loses the hashes
        log.warning("could not read the index page's inline scripts: %s", error)
        return []


def _is_https(scope: dict) -> bool:
    return scope.get("scheme") in ("https", "wss")


def secure_cookie(header: bytes) -> bytes:
    """A ``Set-Cookie`` value with the ``Secure`` attribute (unchanged if it has one)."""
    if re.search(rb";\s*secure\s*(;|$)", header, re.IGNORECASE):
        return header
    return header + b"; Secure"


class SecurityHeadersMiddleware:
    """ASGI middleware: CSP, nosniff and Referrer-Policy on every HTTP response (a route's
    own CSP wins, e.g. the file route's sandbox), and Secure cookies per ``cookie_secure``.

    Args:
        app: the ASGI app.
        csp: the Content-Security-Policy value.
        cookie_secure: "auto" (Secure over https), "always" or "never".
    """

    def __init__(self, app: Any, csp: str, cookie_secure: str = "auto") -> None:
        self.app, self.csp, self.cookie_secure = app, csp.encode(), cookie_secure

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        secure = self.cookie_secure == "always" or (
            self.cookie_secure == "auto" and _is_https(scope))

        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = self._headers(list(message.get("headers") or []), secure)
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _headers(self, headers: list, secure: bool) -> list:
        names = {k.lower() for k, _ in headers}
        if b"content-security-policy" not in names:
            headers.append((b"content-security-policy", self.csp))
        if b"x-content-type-options" not in names:
            headers.append((b"x-content-type-options", b"nosniff"))
        if b"referrer-policy" not in names:
            headers.append((b"referrer-policy", b"same-origin"))
        if secure:
            headers = [(k, secure_cookie(v) if k.lower() == b"set-cookie" else v)
                       for k, v in headers]
        return headers


def socket_origin_check(extra_origins: list[str]):
    """An engine.io ``cors_allowed_origins`` callable: the page's own origin (as the
    request's Host, or X-Forwarded-Host/Proto, names it) or one of ``extra_origins``."""
    allowed = set(extra_origins)

    def check(origin: str | None, environ: dict) -> bool:
        if not origin:
            return True  # not a browser: no cookie was sent cross-site
        if origin in allowed:
            return True
        host = environ.get("HTTP_HOST", "")
        scheme = environ.get("wsgi.url_scheme", "http")
        own = {f"{scheme}://{host}", f"{'https' if scheme == 'http' else 'http'}://{host}"}
        fwd_host = environ.get("HTTP_X_FORWARDED_HOST", "").split(",")[0].strip()
        if fwd_host:
            own |= {f"http://{fwd_host}", f"https://{fwd_host}"}
        own |= {o.replace("http://", "ws://").replace("https://", "wss://") for o in own}
        return origin in own

    return check


def install_web_security(app: Any = None, sio: Any = None,
                         settings: AppSettings | None = None) -> None:
    """Apply the protections above to Chainlit's FastAPI app and socket.io server.

    Must run before the app serves its first request (Starlette builds the middleware
    stack then). Idempotent.
    """
    from starlette.middleware import Middleware
    from starlette.middleware.cors import CORSMiddleware

    if app is None or sio is None:
        from chainlit import server

        app, sio = app or server.app, sio or server.sio
    settings = settings or get_settings()
    origins = settings.extra_origins
    kept = [m for m in app.user_middleware
            if m.cls not in (CORSMiddleware, SecurityHeadersMiddleware)]
    cors = Middleware(CORSMiddleware, allow_origins=origins, allow_credentials=True,
                      allow_methods=["*"], allow_headers=["*"])
    headers = Middleware(SecurityHeadersMiddleware,
                         csp=content_security_policy(_index_script_hashes()),
                         cookie_secure=settings.cookie_secure)
    app.user_middleware[:] = [headers, cors, *kept]
    sio.eio.cors_allowed_origins = socket_origin_check(origins)
    from chainlit.config import config

    config.project.allow_origins = origins  # Chainlit's own copy, kept truthful
