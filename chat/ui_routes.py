"""HTTP routes behind the browser touches of ``public/docchat.js``, and the not-shared page.

- ``GET /docchat/passages/<message id>``: the passages an answer cited (its
  ``docchat_citations`` metadata, :mod:`chat.citations`), each marked ``deleted`` when
  its document is gone from the author's index since. Only for the thread's author, or
  for anyone logged in while the author shares the thread (the rule of
  :func:`chat.sharing.may_view_shared`); 404 otherwise, so ids reveal nothing.
- ``GET /docchat/share-info/<thread id>``: who shared a thread and when (the read-only
  banner of the shared view), under the same rule.
- ``GET /share/<thread id>``: Chainlit's UI when the viewer may see the thread; else a
  plain page saying the link is not (or no longer) shared, status 404 (Chainlit's own
  page silently sent the viewer home).
"""

from __future__ import annotations

import html
import logging
from pathlib import Path
from typing import Any, NamedTuple

from chainlit.data import get_data_layer
from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse

from chat.citations import METADATA_KEY
from chat.access import request_user_identifier
from chat.routes import _move_ahead_of_catch_all as move_ahead_of_catch_all

log = logging.getLogger(__name__)
NOT_SHARED_PAGE = Path(__file__).with_name("not_shared.html")
NOT_FOUND = {"detail": "Not found"}


class VisibleThread(NamedTuple):
    """A thread the viewer may read: its author's login name and stable id, and its
    metadata."""

    author: str
    author_id: str | None
    metadata: dict


async def _visible_thread(thread_id: str, viewer: str | None) -> VisibleThread | None:
    """The thread when ``viewer`` (a login name) may read it, else None."""
    from chat.sharing import is_shared

    data_layer = get_data_layer()
    if data_layer is None or not thread_id:
        return None
    thread = await data_layer.get_thread(thread_id)
    if not thread:
        return None
    author = thread.get("userIdentifier") or ""
    if not (is_shared(thread) or (viewer is not None and viewer == author)):
        return None
    from chat.session_state import thread_metadata

    return VisibleThread(author, thread.get("userId"), thread_metadata(thread))


async def _existing_doc_ids(owner: str) -> set[str] | None:
    """The author's indexed document ids (None when the index cannot be asked)."""
    from chat import services
    from rag.models import Scope

    try:
        rag = await services.get_rag()
        return {d.doc_id for d in await rag.list_documents(Scope(owner=owner))}
    except Exception as exc:  # noqa: BLE001 - the passages still show, undated
        log.warning("could not list documents for the passage panel: %s", exc)
        return None


async def passages(request: Request, message_id: str) -> JSONResponse:
    """``{"message_id", "citations": [{n, label, source, page, heading, text, highlight,
    deleted}]}`` of an answer; 401 when not logged in, 404 when not visible."""
    viewer = await request_user_identifier(request)
    if viewer is None:
        return JSONResponse({"detail": "Unauthorized"}, status_code=401)
    data_layer = get_data_layer()
    step = await data_layer.get_step(message_id) if data_layer is not None else None
    if not step or step.get("type") != "assistant_message":
        return JSONResponse(NOT_FOUND, status_code=404)
    visible = await _visible_thread(step.get("threadId") or "", viewer)
    if visible is None:
        return JSONResponse(NOT_FOUND, status_code=404)
    metadata = step.get("metadata") or {}
    records = list(metadata.get(METADATA_KEY) or []) if isinstance(metadata, dict) else []
    from chat.owners import document_owner

    # documents are keyed by the author's stable id, not the login name (chat.owners)
    existing = await _existing_doc_ids(document_owner(visible.author_id)) \
        if records and visible.author_id else set()
    for record in records:
        doc_id = record.pop("doc_id", None)
        record["deleted"] = bool(existing is not None and doc_id and doc_id not in existing)
    return JSONResponse({"message_id": message_id, "citations": records},
                        headers={"Cache-Control": "no-store"})


async def share_info(request: Request, thread_id: str) -> JSONResponse:
    """``{"author", "shared_at", "name", "is_shared", "viewer_is_author"}``; 404 when
    the viewer may not read the thread."""
    viewer = await request_user_identifier(request)
    visible = await _visible_thread(thread_id, viewer)
    if visible is None:
        return JSONResponse(NOT_FOUND, status_code=404)
    author, metadata = visible.author, visible.metadata
    return JSONResponse({"author": author, "shared_at": metadata.get("shared_at"),
                         "is_shared": metadata.get("is_shared") is True,
                         "viewer_is_author": viewer == author},
                        headers={"Cache-Control": "no-store"})


def not_shared_page() -> str:
    """The HTML of the not-shared page (static: no script, no remote resources)."""
    return NOT_SHARED_PAGE.read_text(encoding="utf-8")


async def share_page(request: Request, thread_id: str):
    """Chainlit's UI for a visible shared thread, else the not-shared page (404)."""
    viewer = await request_user_identifier(request)
    if await _visible_thread(thread_id, viewer) is None:
        log.info("share link refused: thread %s is not shared with this viewer",
                 html.escape(thread_id)[:64])
        return HTMLResponse(not_shared_page(), status_code=404,
                            headers={"Cache-Control": "no-store"})
    from chainlit.server import serve

    return await serve(request)


def install_ui_routes(app: Any = None) -> None:
    """Add the routes above to Chainlit's app, ahead of its UI catch-all. Idempotent."""
    from chainlit.config import config

    if app is None:
        from chainlit.server import app
    root = (config.run.root_path or "").rstrip("/")
    routes = {
        f"{root}/docchat/passages/{{message_id}}": (passages, "docchat_passages"),
        f"{root}/docchat/share-info/{{thread_id}}": (share_info, "docchat_share_info"),
        f"{root}/share/{{thread_id}}": (share_page, "docchat_share_page"),
    }
    app.router.routes[:] = [r for r in app.router.routes if getattr(r, "path", None) not in routes]
    for path, (endpoint, name) in routes.items():
        app.add_api_route(path, endpoint, methods=["GET"], name=name, include_in_schema=False)
    move_ahead_of_catch_all(app, set(routes))
