"""Errors of the headless API: one JSON shape, request-size limits, no stack traces.

Every error answers ``{"error": {"code", "message", "field"?, "error_id"?}}``. A
failure inside the app answers 500 with an ``error_id`` that is also written in a JSON
log line (``docchat.events``, ``"event": "api_error"``) next to the traceback, so a user
can quote it and an operator find it; the client never sees the exception text.

:class:`ApiRoute` is the route class of every API router: it enforces the body size
limit (``Content-Length`` and the bytes actually received), turns validation errors
into 422 naming the field, and catches everything else.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fastapi import HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.types import Message

from chat.logging import EVENTS_LOGGER

log = logging.getLogger(__name__)
_events = logging.getLogger(EVENTS_LOGGER)


class ApiError(Exception):
    """An error answered as JSON.

    Args:
        status: HTTP status.
        code: machine-readable code, e.g. ``"not_found"``.
        message: what went wrong and what to do, in plain words.
        field: the request field at fault, if any.
        headers: extra response headers (``Retry-After``, ``WWW-Authenticate``).
    """

    def __init__(self, status: int, code: str, message: str, *, field: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.field, self.headers = field, headers or {}

    def response(self) -> JSONResponse:
        """The JSON response of this error."""
        return JSONResponse(error_body(self.code, self.message, field=self.field),
                            status_code=self.status, headers=self.headers)


class BodyTooLarge(Exception):
    """The request body passed the route's limit while it was being received."""


def error_body(code: str, message: str, *, field: str | None = None,
               error_id: str | None = None) -> dict:
    """``{"error": {...}}`` with the optional keys only when set."""
    error: dict[str, Any] = {"code": code, "message": message}
    if field:
        error["field"] = field
    if error_id:
        error["error_id"] = error_id
    return {"error": error}


def not_found(what: str, ident: str) -> ApiError:
    """404 for a thing that does not exist or is not the caller's (never says which)."""
    return ApiError(404, "not_found", f"no {what} {ident!r} for this user")


def new_error_id() -> str:
    """A short id for one internal error (12 hex digits)."""
    return uuid.uuid4().hex[:12]


def log_internal_error(exc: BaseException, where: str, **context: Any) -> str:
    """Log an internal error (traceback + one JSON line); returns its error id."""
    error_id = new_error_id()
    log.error("API error %s in %s", error_id, where, exc_info=exc)
    _events.error({"ts": datetime.now(UTC).isoformat(timespec="milliseconds"),
                   "event": "api_error", "error_id": error_id, "where": where,
                   "error": f"{type(exc).__name__}: {exc}"[:500], **context})
    return error_id


def internal_error_response(exc: BaseException, where: str) -> JSONResponse:
    """500 with an error id (logged), never the exception text."""
    error_id = log_internal_error(exc, where)
    return JSONResponse(error_body("internal_error", "the server failed to handle this "
                                   f"request; quote error id {error_id} when reporting it",
                                   error_id=error_id), status_code=500)


def validation_response(exc: RequestValidationError) -> JSONResponse:
    """422 naming the first invalid field (and listing every problem in ``detail``)."""
    errors = exc.errors()
    first = errors[0] if errors else {}
    loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")]
    field = ".".join(loc) or None
    message = f"{field}: {first.get('msg', 'invalid value')}" if field else str(
        first.get("msg", "invalid request"))
    body = error_body("validation_error", message, field=field)
    body["detail"] = [{"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")}
                      for e in errors]
    return JSONResponse(body, status_code=422)


def _limit_receive(request: Request, limit: int) -> None:
    receive = request._receive  # Starlette keeps the ASGI receive here
    received = 0

    async def limited() -> Message:
        nonlocal received
        message = await receive()
        received += len(message.get("body", b""))
        if received > limit:
            raise BodyTooLarge
        return message

    request._receive = limited


def too_large(limit: int) -> JSONResponse:
    """413 naming the limit."""
    size = f"{limit // 1024} KiB" if limit < 1024 * 1024 else f"{limit / 1024 / 1024:.0f} MiB"
    return JSONResponse(error_body("request_too_large", f"the request body is larger than "
                                   f"the {size} this endpoint accepts"), status_code=413)


class ApiRoute(APIRoute):
    """Route class of the API: body limit, JSON errors, no stack trace to the client."""

    media_type_name = "application/json"

    def accepts(self, content_type: str) -> bool:
        """True for a request body media type this route reads."""
        return content_type == "application/json" or content_type.endswith("+json")

    def body_limit(self) -> int:
        """Largest request body in bytes (the JSON limit)."""
        from chat.api.settings import get_api_settings

        return get_api_settings().max_body_bytes

    def get_route_handler(self) -> Callable:
        original = super().get_route_handler()

        async def handler(request: Request):
            limit = self.body_limit()
            if request.method in ("POST", "PUT", "PATCH") and self.body_field is not None:
                kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
                if not self.accepts(kind):
                    return JSONResponse(error_body(
                        "unsupported_media_type", f"send the body as {self.media_type_name}"
                        f", not {kind or 'no content type'}"), status_code=415)
            declared = request.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > limit:
                return too_large(limit)
            _limit_receive(request, limit)
            try:
                return await original(request)
            except ApiError as exc:
                return exc.response()
            except RequestValidationError as exc:
                return validation_response(exc)
            except BodyTooLarge:
                return too_large(limit)
            except HTTPException as exc:
                if isinstance(exc.__cause__, BodyTooLarge) or isinstance(
                        exc.__context__, BodyTooLarge):
                    return too_large(limit)
                return JSONResponse(error_body("http_error", str(exc.detail)),
                                    status_code=exc.status_code, headers=exc.headers)
            except Exception as exc:  # noqa: BLE001 - the client never sees a traceback
                return internal_error_response(exc, f"{request.method} {self.path}")

        return handler


class UploadRoute(ApiRoute):
    """Route class of the upload endpoint: the body may hold several files."""

    media_type_name = "multipart/form-data (field `files`)"

    def accepts(self, content_type: str) -> bool:
        return content_type == "multipart/form-data"

    def body_limit(self) -> int:
        from chat.api.settings import get_api_settings
        from chat.config import get_settings

        return get_api_settings().max_files * get_settings().upload_max_bytes + 1024 * 1024
