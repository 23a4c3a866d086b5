"""Bad input at the door: empty or oddly named uploads and oversized socket messages.

- ``POST /project/file``: Chainlit's handler answers 500 to a 0-byte file (its
  ``persist_file`` raises) and uvicorn then drops the connection, so the next upload on
  it failed too; a name like ``../x.md`` was indexed but its attachment could not be
  stored. :func:`install_upload_guard` puts a route in front that answers 400 with a
  clear message for an empty file and gives every file a safe name, then hands over to
  Chainlit's own handler (which checks the session and its owner).
- Socket messages: engine.io closed the socket without a word or a log line on a
  message over its 1,000,000-byte buffer. :func:`install_message_limit` raises that
  transport cap (``DOCCHAT_SOCKET_MAX_MB``) and refuses a message longer than
  ``DOCCHAT_MAX_MESSAGE_CHARS`` with a reply saying so and a log line; the socket stays
  open.
"""

# No ``from __future__ import annotations``: FastAPI reads the upload route's parameter
# types at definition time, and they are imported inside install_upload_guard.
import logging
import re
import unicodedata
from pathlib import PurePosixPath
from typing import Any

log = logging.getLogger(__name__)

MAX_NAME_CHARS = 150
_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]+")


def safe_upload_name(name: str | None) -> str:
    """A file name safe to store and show: the last path part, no control or path
    characters, no leading dots, at most 150 characters with the extension kept.

    ``"../../etc/notes.md"`` -> ``"notes.md"``; ``".."`` or ``""`` -> ``"upload"``.
    """
    text = unicodedata.normalize("NFC", name or "").replace("\\", "/")
    last = PurePosixPath(text).name if "/" in text else text
    cleaned = _UNSAFE.sub("_", last).strip().lstrip(".").strip()
    if not cleaned.strip("._ "):
        return "upload"
    if len(cleaned) > MAX_NAME_CHARS:
        stem, dot, ext = cleaned.rpartition(".")
        ext = ext[:16] if dot else ""
        cleaned = (stem if dot else cleaned)[:MAX_NAME_CHARS - len(ext) - 1] + (
            f".{ext}" if ext else "")
    return cleaned


def install_upload_guard(app: Any = None) -> None:
    """Route ``POST <root>/project/file`` through :func:`safe_upload_name` and the
    empty-file check before Chainlit's own handler."""
    from chainlit.config import config
    from chainlit.server import UserParam
    from chainlit.server import upload_file as chainlit_upload_file
    from fastapi import UploadFile
    from fastapi.responses import JSONResponse

    if app is None:
        from chainlit.server import app
    path = (config.run.root_path or "").rstrip("/") + "/project/file"

    async def guarded_upload(current_user: UserParam, session_id: str, file: UploadFile,
                             ask_parent_id: str | None = None):
        original = file.filename
        file.filename = safe_upload_name(original)
        if not file.content_type:
            file.content_type = "application/octet-stream"
        if file.size == 0:
            log.info("refused empty upload %r (session %s)", original, session_id)
            await file.close()
            return JSONResponse(status_code=400, content={
                "detail": f"{file.filename} is empty (0 bytes): there is nothing to index. "
                          "Choose a file with content."})
        return await chainlit_upload_file(current_user, session_id, file, ask_parent_id)

    app.router.routes[:] = [r for r in app.router.routes
                            if getattr(r, "name", None) != "docchat_upload"]
    app.add_api_route(path, guarded_upload, methods=["POST"], name="docchat_upload",
                      include_in_schema=False)
    ours = app.router.routes.pop()
    app.router.routes.insert(0, ours)
    mark_changed = getattr(app.router, "_mark_routes_changed", None)
    if callable(mark_changed):
        mark_changed()


def message_too_long(text: str, limit: int) -> str:
    """The reply to a message of more than ``limit`` characters."""
    return (f"Your message is {len(text):,} characters long, over the limit of {limit:,} "
            "(DOCCHAT_MAX_MESSAGE_CHARS), so it was not processed. Ask a shorter question, "
            "or attach long text as a file (e.g. a .txt or .md) and ask about it.")


def install_message_limit(max_chars: int, socket_max_bytes: int) -> None:
    """Raise engine.io's buffer to ``socket_max_bytes`` and refuse client messages longer
    than ``max_chars`` with a reply and a log line (the socket stays open)."""
    from chainlit.server import sio

    sio.eio.max_http_buffer_size = socket_max_bytes
    handlers = sio.handlers.setdefault("/", {})
    original = handlers.get("client_message")
    if original is None or getattr(original, "docchat_guard", False):
        return

    async def client_message(sid: str, payload: Any) -> Any:
        message = (payload or {}).get("message") or {} if isinstance(payload, dict) else {}
        text = message.get("output") if isinstance(message, dict) else None
        if isinstance(text, str) and len(text) > max_chars:
            await _refuse(sid, text, max_chars)
            return None
        return await original(sid, payload)

    client_message.docchat_guard = True  # type: ignore[attr-defined]
    handlers["client_message"] = client_message


async def _refuse(sid: str, text: str, max_chars: int) -> None:
    import chainlit as cl
    from chainlit.context import init_ws_context
    from chainlit.session import WebsocketSession

    session = WebsocketSession.get(sid)
    user = getattr(getattr(session, "user", None), "identifier", None)
    log.warning("refused a message of %d characters from %s (limit %d, session %s)",
                len(text), user, max_chars, getattr(session, "id", sid))
    if session is None:
        return
    init_ws_context(session)
    await cl.Message(content=message_too_long(text, max_chars), author="DocChat").send()
