"""POST /login with throttling and honest errors, in place of Chainlit's own route.

Failed logins are counted per user name and per client address with the `limits`
library (moving windows in memory: one worker per instance, as Chainlit needs anyway).
Past a limit the route answers 429 with Retry-After, before checking the password, so
guessing costs nothing more than waiting. Every failure writes one log line (name,
address, reason). A database that does not answer gives 503 "service unavailable",
not the "wrong password" Chainlit reported.

Defaults (DOCCHAT_LOGIN_LIMIT_USER / _ADDRESS): 5 failures a minute per name, 20 per
address; the "backoff" is the window: a name that keeps failing keeps being refused
until a minute passes without its failures filling the window. Sources: OWASP
Authentication Cheat Sheet ("Login Throttling"); NIST SP 800-63B 5.2.2 (at most 100
consecutive failures per account).
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from limits import parse
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter

from chat.persistence.db import unavailable_errors
from chat.config import AppSettings, get_settings

log = logging.getLogger(__name__)
UNAVAILABLE = "The service is unavailable (database not reachable); try again shortly."


class LoginThrottle:
    """Failure counters per user name and per address.

    Args:
        per_user, per_address: limits in the `limits` notation, e.g. "5/minute".
    """

    def __init__(self, per_user: str, per_address: str) -> None:
        self.storage = MemoryStorage()
        self.limiter = MovingWindowRateLimiter(self.storage)
        self.per_user, self.per_address = parse(per_user), parse(per_address)

    def _keys(self, name: str, address: str) -> list[tuple[Any, str]]:
        return [(self.per_user, f"user:{name.lower()[:64]}"), (self.per_address, f"addr:{address}")]

    async def retry_after(self, name: str, address: str) -> int:
        """Seconds until the next attempt is allowed (0: allowed now)."""
        wait = 0.0
        for limit, key in self._keys(name, address):
            if not await self.limiter.test(limit, key):
                reset_at, _ = await self.limiter.get_window_stats(limit, key)
                wait = max(wait, reset_at - time.time(), 1.0)
        return math.ceil(wait)

    async def failed(self, name: str, address: str) -> None:
        """Count one failed attempt against the name and the address."""
        for limit, key in self._keys(name, address):
            await self.limiter.hit(limit, key)

    async def succeeded(self, name: str) -> None:
        """A correct password clears the name's failures (not the address's)."""
        await self.limiter.clear(self.per_user, f"user:{name.lower()[:64]}")


_throttle: LoginThrottle | None = None


def get_throttle(settings: AppSettings | None = None) -> LoginThrottle:
    """The process-wide throttle (built from settings on first use)."""
    global _throttle
    if _throttle is None:
        settings = settings or get_settings()
        _throttle = LoginThrottle(settings.login_limit_user, settings.login_limit_address)
    return _throttle


def client_address(request: Request) -> str:
    """The client's address as uvicorn saw it (proxy headers only from trusted proxies)."""
    return request.client.host if request.client else "unknown"


async def login(request: Request):
    """POST /login (form: username, password): Chainlit's login with throttling.

    200 + auth cookie on success; 401 "credentialssignin" for a wrong name or password;
    429 with Retry-After past the limits; 503 when the database is unavailable.
    """
    from chainlit.server import _authenticate_user

    from chat.auth import authenticate

    form = await request.form()
    name, password = str(form.get("username") or ""), str(form.get("password") or "")
    address = client_address(request)
    throttle = get_throttle()
    if wait := await throttle.retry_after(name, address):
        log.warning("login throttled for %r from %s: retry in %d s", name[:64], address, wait)
        return JSONResponse({"detail": f"Too many failed logins; try again in {wait} s."},
                            status_code=429, headers={"Retry-After": str(wait)})
    try:  # our callback itself: Chainlit's wrapper turns every error into "wrong password"
        user = await authenticate(name, password)
    except unavailable_errors() as error:
        log.error("login for %r from %s failed: database unavailable (%s)", name[:64],
                  address, type(error).__name__)
        return JSONResponse({"detail": UNAVAILABLE}, status_code=503)
    if user is None:
        await throttle.failed(name, address)
        log.warning("login failed for %r from %s: wrong name or password", name[:64], address)
    else:
        await throttle.succeeded(name)
    return await _authenticate_user(request, user)
