"""Who is calling: an API key or the login JWT, and how often they may call.

``Authorization: Bearer dck_...`` is a personal API key (:mod:`chat.api.keys`); any
other bearer token, or Chainlit's ``access_token`` cookie, is a login JWT checked with
Chainlit's own ``decode_jwt``. Either way the caller must still exist as a Chainlit
user. The :class:`Principal` is the user the request acts as: every endpoint reads and
writes only that user's documents, threads and runs.

Rate limits use the `limits` library (moving window) per caller: the API key, or the
user for a login token. A refused request gets 429 with ``Retry-After`` in seconds.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from chat.api.errors import ApiError
from chat.owners import document_owner

TOUCH_EVERY_S = 60.0
_touched: dict[str, float] = {}


@dataclass(frozen=True)
class Principal:
    """The user a request acts as.

    Attributes:
        identifier: Chainlit user identifier (login name).
        user_id: Chainlit ``users.id`` (threads are stored under it).
        key_id: the API key used, None for a login token.
    """

    identifier: str
    user_id: str
    key_id: str | None = None

    @property
    def owner(self) -> str:
        """The rag ``Scope.owner`` of this user's documents (same helper as the UI)."""
        return document_owner(self.user_id)

    @property
    def rate_key(self) -> str:
        """What the rate limit counts: the key, or the user for login tokens."""
        return f"key:{self.key_id}" if self.key_id else f"user:{self.identifier}"


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": "Bearer"})


def _bearer(headers: Mapping[str, str]) -> str | None:
    scheme, _, value = (headers.get("authorization") or "").partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


async def authenticate(headers: Mapping[str, str], cookies: Mapping[str, str]) -> Principal:
    """The caller of a request (HTTP or WebSocket).

    Raises:
        ApiError: 401 without credentials, with an unknown or revoked key, an invalid or
            expired token, or for a user that no longer exists.
    """
    from chainlit.auth.cookie import get_token_from_cookies

    from chat.api.keys import ApiKeyStore, looks_like_key
    from chat.auth import get_app_data_layer

    token = _bearer(headers)
    if token and looks_like_key(token):
        found = await ApiKeyStore(get_app_data_layer().engine).verify(token)
        if found is None:
            raise _unauthorized("this API key is not valid (unknown, revoked, or its user "
                                "was removed): create one with `python -m chat keys create`")
        key_id, identifier, user_id = found
        await _touch(key_id)
        return Principal(identifier=identifier, user_id=user_id, key_id=key_id)
    token = token or get_token_from_cookies(dict(cookies))
    if not token:
        raise _unauthorized("send `Authorization: Bearer <API key>` (or log in)")
    return await _from_jwt(token)


async def _from_jwt(token: str) -> Principal:
    from chainlit.auth.jwt import decode_jwt

    from chat.auth import get_app_data_layer

    try:
        user = decode_jwt(token)
    except Exception:  # noqa: BLE001 - any bad token is "not logged in"
        raise _unauthorized("the login token is invalid or expired: log in again") from None
    from chat.access import RevokedTokenError, check_token_user

    try:  # removed user, name reused, or `users passwd|revoke` since the token was issued
        await check_token_user(user)
    except RevokedTokenError:
        raise _unauthorized("this login token was revoked: log in again") from None
    persisted = await get_app_data_layer().get_user(user.identifier)
    if persisted is None:
        raise _unauthorized("the user of this login token no longer exists")
    return Principal(identifier=persisted.identifier, user_id=str(persisted.id))


async def _touch(key_id: str) -> None:
    """Write ``last_used_at`` at most once a minute per key (a write per request would
    cost more than the lookup)."""
    now = time.monotonic()
    if now - _touched.get(key_id, -TOUCH_EVERY_S) < TOUCH_EVERY_S:
        return
    _touched[key_id] = now
    from chat.api.keys import ApiKeyStore
    from chat.auth import get_app_data_layer

    await ApiKeyStore(get_app_data_layer().engine).touch(key_id)


class RateLimits:
    """Per-caller limits over a `limits` storage (memory by default).

    Args:
        general: limit on every request, `limits` notation (``"120/minute"``).
        runs: extra limit on requests that run the flow (``"30/minute"``).
        storage: a `limits` storage URI (``"memory://"``, ``"redis://host:6379"``).
    """

    def __init__(self, general: str, runs: str, storage: str = "memory://") -> None:
        from limits import parse_many
        from limits.storage import storage_from_string
        from limits.strategies import MovingWindowRateLimiter

        self.general, self.runs = parse_many(general), parse_many(runs)
        self.limiter = MovingWindowRateLimiter(storage_from_string(storage))

    def check(self, principal: Principal, *, run: bool = False) -> None:
        """Count one request; raise 429 (with ``Retry-After``) when over a limit."""
        items = list(self.general) + (list(self.runs) if run else [])
        kind = "run" if run else "request"
        for item in items:
            if not self.limiter.hit(item, kind if item in self.runs else "all",
                                    principal.rate_key):
                stats = self.limiter.get_window_stats(
                    item, kind if item in self.runs else "all", principal.rate_key)
                retry = max(1, math.ceil(stats.reset_time - time.time()))
                raise ApiError(429, "rate_limited", f"too many requests: the limit is {item}; "
                               f"retry in {retry} s", headers={"Retry-After": str(retry)})


_limits: RateLimits | None = None


def rate_limits() -> RateLimits:
    """The process-wide limits, from :mod:`chat.api.settings`."""
    global _limits
    if _limits is None:
        from chat.api.settings import get_api_settings

        s = get_api_settings()
        _limits = RateLimits(s.rate_limit, s.run_rate_limit, s.rate_limit_storage)
    return _limits


def reset_rate_limits(limits: RateLimits | None = None) -> None:
    """Replace the process-wide limits (tests; after changing the settings)."""
    global _limits
    _limits = limits


async def caller(request: Request) -> Principal:
    """FastAPI dependency: the authenticated caller, counted against the general limit."""
    principal = await authenticate(request.headers, request.cookies)
    rate_limits().check(principal)
    return principal


async def run_caller(request: Request) -> Principal:
    """FastAPI dependency for endpoints that run the flow: also counts the run limit."""
    principal = await authenticate(request.headers, request.cookies)
    rate_limits().check(principal, run=True)
    return principal


Caller = Annotated[Principal, Depends(caller)]
"""An endpoint parameter: the authenticated caller (general rate limit)."""
RunCaller = Annotated[Principal, Depends(run_caller)]
"""An endpoint parameter: the authenticated caller of a flow run (both rate limits)."""
