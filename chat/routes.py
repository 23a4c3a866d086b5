"""HTTP routes added to Chainlit's FastAPI app: element files, readiness, and the
checked versions of Chainlit's login, feedback and shared-thread routes.

Chainlit's UI catch-all `GET /{full_path:path}` answers every path registered after it,
and the first route matching a path wins, so `install_routes` puts ours first in
`app.router.routes`.
Chainlit's own `/health` (liveness) stays as it is.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from chainlit.data import get_data_layer
from fastapi import Request
from fastapi.responses import FileResponse, JSONResponse
from starlette.routing import Route

from chat.access import install_access_checks, request_user_identifier
from chat.login import login
from chat.persistence.storage import LocalStorageClient, UnsafeKeyError, safe_key

log = logging.getLogger(__name__)

ReadinessCheck = Callable[[], Awaitable[Any] | Any]
CHECK_TIMEOUT_S = 5.0
# An uploaded file is the uploader's content on our origin: always a download, never
# sniffed into HTML, and sandboxed should a browser render it anyway.
FILE_HEADERS = {
    "Cache-Control": "private, max-age=300",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
}


async def serve_element_file(request: Request, object_key: str):
    """GET <root>/files/<object key>: the element's bytes if the viewer may see its thread.

    401 without a valid login; 404 for unknown keys, unsafe keys and threads the viewer
    may not see (the author, or anyone logged in when the author shared the thread).
    Always served as an attachment with ``nosniff`` and a sandboxing CSP: an uploaded
    ``.html`` never runs on the app's origin.
    """
    viewer = await request_user_identifier(request)
    if viewer is None:
        return JSONResponse({"detail": "Unauthorized"}, status_code=401)
    data_layer = get_data_layer()
    storage = getattr(data_layer, "storage_provider", None)
    if not isinstance(storage, LocalStorageClient) or not hasattr(
        data_layer, "get_element_by_object_key"
    ):
        return JSONResponse({"detail": "Not found"}, status_code=404)
    try:
        key = safe_key(object_key)
    except UnsafeKeyError:
        return JSONResponse({"detail": "Not found"}, status_code=404)
    element = await data_layer.get_element_by_object_key(key)
    visibility = await data_layer.thread_visibility(element["threadId"]) if element else None
    if visibility is None or not (visibility[0] == viewer or visibility[1]):
        return JSONResponse({"detail": "Not found"}, status_code=404)
    info = await asyncio.to_thread(storage.read_info, key)
    if info is None:
        return JSONResponse({"detail": "Not found"}, status_code=404)
    path, mime, _disposition = info
    return FileResponse(path, media_type=mime, headers=FILE_HEADERS,
                        content_disposition_type="attachment", filename=path.name)


async def _run_check(check: ReadinessCheck) -> Any:
    result = check()
    if inspect.isawaitable(result):
        result = await asyncio.wait_for(result, CHECK_TIMEOUT_S)
    return result


async def readiness(checks: Mapping[str, ReadinessCheck]) -> tuple[int, dict]:
    """Run every check; (200, report) when all pass, else (503, report naming the failures).

    Report: {"status": "ready"|"unavailable", "failed": [names],
             "checks": {name: {"ok": bool, "ms": float, "detail": result or error}}}.
    """
    names = list(checks)
    started = time.perf_counter()
    results = await asyncio.gather(*(_run_check(checks[n]) for n in names), return_exceptions=True)
    report: dict[str, Any] = {"checks": {}, "failed": []}
    for name, result in zip(names, results):
        ok = not isinstance(result, BaseException)
        detail = result if ok else f"{type(result).__name__}: {result}"
        if not ok:
            report["failed"].append(name)
            log.warning("readiness check %s failed: %s", name, detail)
        report["checks"][name] = {"ok": ok, "detail": _jsonable(detail)}
    report["ms"] = round((time.perf_counter() - started) * 1000, 1)
    report["status"] = "unavailable" if report["failed"] else "ready"
    return (503 if report["failed"] else 200), report


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return str(value)


async def _database_check() -> Any:
    data_layer = get_data_layer()
    if data_layer is None:
        raise RuntimeError("no data layer configured")
    return await data_layer.ping()


def install_routes(
    readiness_checks: Mapping[str, ReadinessCheck] | None = None, app: Any = None
) -> None:
    """Add `GET <root>/ready` and `GET <root>/files/{key}` to Chainlit's app, ahead of the UI.

    Args:
        readiness_checks: name -> callable (sync or async) that raises when not ready, e.g.
            {"rag": rag_service.check}. A "database" check (SELECT 1 through the Chainlit
            data layer) is added unless one is given.
        app: the FastAPI app (default `chainlit.server.app`).
    Idempotent: calling again replaces the routes.
    """
    from chainlit.config import config

    if app is None:
        from chainlit.server import app
    checks = {"database": _database_check, **dict(readiness_checks or {})}

    async def ready(request: Request):
        status, report = await readiness(checks)
        return JSONResponse(report, status_code=status)

    root = (config.run.root_path or "").rstrip("/")
    routes = [
        ("/ready", ready, ["GET"], "docchat_ready"),
        ("/files/{object_key:path}", serve_element_file, ["GET"], "docchat_files"),
        ("/login", login, ["POST"], "docchat_login"),
        *install_access_checks(app),
    ]
    names = {name for *_, name in routes}
    app.router.routes[:] = [r for r in app.router.routes if getattr(r, "name", None) not in names]
    for path, endpoint, methods, name in routes:
        app.add_api_route(root + path, endpoint, methods=methods, name=name,
                          include_in_schema=False)
    _move_to_front(app, names)


def _is_catch_all(route: Any) -> bool:
    """The UI catch-all route, or an included router holding it (FastAPI >= 0.16x keeps
    `include_router` routers as one lazy entry of `app.router.routes`)."""
    if isinstance(route, Route) and route.path.endswith("/{full_path:path}"):
        return True
    included = getattr(route, "original_router", None)
    return included is not None and any(_is_catch_all(r) for r in included.routes)


def _move_to_front(app: Any, names: set[str]) -> None:
    """Put our routes first: ahead of the UI catch-all and of the Chainlit routes they
    replace (/login, /feedback, /project/share/{id})."""
    ours = [r for r in app.router.routes if getattr(r, "name", None) in names]
    rest = [r for r in app.router.routes if r not in ours]
    app.router.routes[:] = ours + rest
    mark_changed = getattr(app.router, "_mark_routes_changed", None)
    if callable(mark_changed):
        mark_changed()


def _move_ahead_of_catch_all(app: Any, paths: set[str]) -> None:
    """Put the routes at ``paths`` just ahead of the UI catch-all (used by
    bench.loop_probe for its debug routes)."""
    ours = [r for r in app.router.routes if getattr(r, "path", None) in paths]
    rest = [r for r in app.router.routes if r not in ours]
    at = next((i for i, r in enumerate(rest) if _is_catch_all(r)), len(rest))
    app.router.routes[:] = rest[:at] + ours + rest[at:]
    mark_changed = getattr(app.router, "_mark_routes_changed", None)
    if callable(mark_changed):
        mark_changed()
