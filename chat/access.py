"""Who the caller is, and what they may touch, on every request and socket connect.

Chainlit 2.12 trusts a signed JWT for its whole lifetime (15 days) and re-creates the
user row of a removed user. Here every request and socket connect also checks, for
password users, that the user still exists under the same stable id and that the
token's version is the current one (``python -m chat users passwd|revoke|remove`` end
every token issued before). The REST routes Chainlit leaves unchecked get owner checks:
feedback (only on steps of the caller's own threads) and the shared-thread view (a
viewer who is not the author sees the messages and the cited passages attached to the
answers, never the steps' inputs and outputs, which hold every retrieved chunk).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, cast

from chainlit.auth import authenticate_user, require_login
from chainlit.auth.cookie import OAuth2PasswordBearerWithCookie, get_token_from_cookies
from chainlit.auth.jwt import decode_jwt
from chainlit.data import get_data_layer
from chainlit.types import DeleteFeedbackRequest, UpdateFeedbackRequest
from chainlit.user import PersistedUser
from fastapi import Depends, HTTPException, Request
from fastapi.responses import JSONResponse

from chat.persistence import ownership
from chat.persistence.db import unavailable_errors
from chat.persistence.users import TokenClaims, UserStore

log = logging.getLogger(__name__)

_bearer_or_cookie = OAuth2PasswordBearerWithCookie(tokenUrl="/login", auto_error=False)
MESSAGE_TYPES = ("user_message", "assistant_message", "system_message")
SHARED_METADATA_KEYS = ("is_shared", "shared_at", "name")


class RevokedTokenError(Exception):
    """The token's user was removed, re-created under the same name, or revoked it."""


def _is_password_user(user: Any) -> bool:
    return (getattr(user, "metadata", None) or {}).get("provider") == "credentials"


def check_claims(user: Any, claims: TokenClaims | None) -> None:
    """Raise RevokedTokenError unless a password user's token matches ``claims`` read
    from the user table (same stable id, same token version; None: no such user).
    Users of other providers (OAuth, header auth) are left to Chainlit."""
    if not _is_password_user(user):
        return
    if claims is None:
        raise RevokedTokenError(f"user {user.identifier!r} no longer exists")
    metadata = user.metadata
    if metadata.get("uid") != claims.user_id or metadata.get("tv") != claims.token_version:
        raise RevokedTokenError(f"token of {user.identifier!r} was revoked")


async def check_token_user(user: Any) -> None:
    """:func:`check_claims` against the user table (one read, for password users only).
    Raises RevokedTokenError, or SQLAlchemyError when the database is down."""
    if not _is_password_user(user):
        return
    from chat.auth import user_store

    check_claims(user, await user_store().token_claims(user.identifier))


def _decoded(token: str | None) -> Any:
    """The user a token names (signature and expiry checked). Raises HTTPException 401."""
    if not token:
        raise HTTPException(status_code=401, detail="Unauthorized")
    try:
        return decode_jwt(token)
    except Exception as error:  # any undecodable token
        raise HTTPException(status_code=401, detail="Invalid authentication token") from error


@contextmanager
def _token_check_errors() -> Iterator[None]:
    """RevokedTokenError -> 401, an unavailable database -> 503 (logged)."""
    try:
        yield
    except RevokedTokenError as error:
        log.info("token refused: %s", error)
        raise HTTPException(status_code=401, detail="Invalid authentication token") from error
    except unavailable_errors() as error:
        log.error("token check failed, database unavailable: %s", type(error).__name__)
        raise HTTPException(status_code=503, detail="Service unavailable") from error


async def checked_token(token: str | None) -> Any:
    """The user a token names (decoded, not read from the data layer) after the checks
    above. Raises HTTPException 401 (bad or revoked token) or 503 (database
    unavailable)."""
    user = _decoded(token)
    with _token_check_errors():
        await check_token_user(user)
    return user


async def verified_user(token: str | None) -> Any:
    """The user of a token after the checks of :func:`checked_token`: Chainlit's
    persisted user (``PersistedUser``, the token's display name copied over), read with
    the token's claims in one query (``UserStore.session_user``). A user of another
    provider who has no row yet is created by Chainlit's ``authenticate_user``.
    Raises HTTPException 401 (bad or revoked token) or 503 (database unavailable)."""
    user = _decoded(token)
    engine = getattr(get_data_layer(), "engine", None)  # the layer authenticate_user reads
    if engine is None:  # no SQL data layer: nothing persisted to load with the claims
        await checked_token(token)
        return await authenticate_user(cast(str, token))
    with _token_check_errors():
        found = await UserStore(engine).session_user(user.identifier)
        check_claims(user, found.claims if found else None)
    if found is None:
        return await authenticate_user(cast(str, token))
    persisted = PersistedUser(id=found.id, identifier=found.identifier,
                              createdAt=found.created_at or "", metadata=found.metadata)
    if user.display_name:
        persisted.display_name = user.display_name
    return persisted


async def current_user(token: str | None = Depends(_bearer_or_cookie)) -> Any:
    """Drop-in for chainlit.auth.get_current_user (None when login is off)."""
    if not require_login():
        return None
    return await verified_user(token)


CurrentUser = Annotated[Any, Depends(current_user)]


async def socket_current_user(token: str | None = None) -> Any:
    """chainlit.socket's get_current_user: raises on a refused token (connect refused)."""
    return await current_user(token)


async def request_user_identifier(request: Request) -> str | None:
    """Identifier of the verified user of a request (cookie or Bearer token), else None."""
    token = get_token_from_cookies(request.cookies)
    if not token:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        token = value.strip() if scheme.lower() == "bearer" else None
    try:
        return (await verified_user(token)).identifier
    except HTTPException:
        return None


# --- feedback ------------------------------------------------------------------------
async def update_feedback(request: Request, update: UpdateFeedbackRequest,
                          current: CurrentUser):
    """PUT /feedback: Chainlit's route, for steps of the caller's own threads only."""
    from chainlit.server import update_feedback as chainlit_update

    await _check_feedback(current, update.feedback.forId, update.feedback.id)
    return await chainlit_update(request, update, current)


async def delete_feedback(request: Request, payload: DeleteFeedbackRequest,
                          current: CurrentUser):
    """DELETE /feedback: only a feedback on the caller's own thread."""
    from chainlit.server import delete_feedback as chainlit_delete

    data_layer = _require_data_layer()
    if await ownership.feedback_author(data_layer, payload.feedbackId) != current.identifier:
        raise HTTPException(status_code=404, detail="Feedback not found")
    return await chainlit_delete(request, payload, current)


async def _check_feedback(current: Any, for_id: str, feedback_id: str | None) -> None:
    try:
        await ownership.check_feedback_write(_require_data_layer(), current.identifier,
                                             for_id, feedback_id)
    except ownership.NotOwnerError as error:
        log.warning("feedback refused for %r: %s", current.identifier, error)
        raise HTTPException(status_code=404, detail="Message not found") from error


def _require_data_layer() -> Any:
    data_layer = get_data_layer()
    if data_layer is None:
        raise HTTPException(status_code=400, detail="Data persistence is not enabled")
    return data_layer


# --- shared threads -------------------------------------------------------------------
def redact_shared_thread(thread: dict) -> dict:
    """What a share link shows to someone who is not the author: every message and the
    elements attached to messages (the cited passages of answers, the files of
    questions), node steps by name only, no private metadata (memory, settings)."""
    steps = thread.get("steps") or []
    message_ids = {s.get("id") for s in steps if s.get("type") in MESSAGE_TYPES}
    shown = []
    for step in steps:
        if step.get("type") not in MESSAGE_TYPES:
            step = {**step, "input": "", "output": "", "metadata": {}, "generation": None}
        shown.append(step)
    metadata = thread.get("metadata") or {}
    return {
        **thread,
        "steps": shown,
        "elements": [e for e in thread.get("elements") or [] if e.get("forId") in message_ids],
        "metadata": {k: v for k, v in metadata.items() if k in SHARED_METADATA_KEYS},
    }


async def get_shared_thread(request: Request, thread_id: str,
                            current: CurrentUser):
    """GET /project/share/{id}: Chainlit's decision, then the redaction above for
    anyone but the author."""
    from chainlit.server import get_shared_thread as chainlit_shared

    response = await chainlit_shared(request, thread_id, current)
    thread = json.loads(bytes(response.body))
    if current is not None and thread.get("userIdentifier") == current.identifier:
        return response
    return JSONResponse(content=redact_shared_thread(thread))


#: socket events that do not act for the user (connection life cycle)
_LIFECYCLE_EVENTS = frozenset({"connect", "disconnect", "connection_successful"})


async def socket_event_allowed(sid: str) -> bool:
    """Whether the session of socket ``sid`` may still act: its login token passes the
    checks of :func:`checked_token` (user not removed, token not revoked). A refused
    session's socket is disconnected. A database outage lets the event through: the
    handler's own writes fail and retry as on any request (a check that cannot run
    must not end every open chat)."""
    from chainlit.server import sio
    from chainlit.session import WebsocketSession

    session = WebsocketSession.get(sid)
    if session is None or not require_login():
        return True
    try:  # the check only: the session already holds its persisted user
        await checked_token(session.token)
    except HTTPException as error:
        if error.status_code == 503:
            return True
        log.info("socket of %s closed: its token was refused",
                 getattr(session.user, "identifier", None))
        await sio.disconnect(sid)
        return False
    return True


def install_socket_checks() -> None:
    """Check the caller's token on every socket event, not only at connect: a user
    removed or revoked while a chat is open can send no further message, edit,
    setting or action on that socket (it is disconnected). Costs one indexed read
    per event (:meth:`chat.persistence.users.UserStore.token_claims`)."""
    from chainlit.server import sio

    handlers = sio.handlers.setdefault("/", {})
    for event, handler in list(handlers.items()):
        if event in _LIFECYCLE_EVENTS or getattr(handler, "docchat_checked", False):
            continue
        handlers[event] = _checked(handler)


def _checked(handler: Any) -> Any:
    async def checked(sid: str, *args: Any) -> Any:
        if not await socket_event_allowed(sid):
            return None
        return await handler(sid, *args)

    checked.docchat_checked = True  # type: ignore[attr-defined]
    return checked


def install_access_checks(app: Any = None) -> list[tuple[str, Any, list[str], str]]:
    """Make Chainlit's routes and socket use the checked user; returns the routes to put
    ahead of Chainlit's own (path, endpoint, methods, name)."""
    import chainlit.auth
    import chainlit.socket

    if app is None:
        from chainlit.server import app
    app.dependency_overrides[chainlit.auth.get_current_user] = current_user
    chainlit.socket.get_current_user = socket_current_user
    return [
        ("/feedback", update_feedback, ["PUT"], "docchat_feedback_put"),
        ("/feedback", delete_feedback, ["DELETE"], "docchat_feedback_delete"),
        ("/project/share/{thread_id}", get_shared_thread, ["GET"], "docchat_shared_thread"),
    ]
