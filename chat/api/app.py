"""Mount the API routers on Chainlit's FastAPI app, ahead of its UI catch-all route,
and serve their OpenAPI document at ``/api/v1/openapi.json``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from starlette.routing import Route

API_TITLE = "DocChat API"
API_VERSION = "1.0.0"
API_DESCRIPTION = (
    "Run the document-chat flow, stream its events, manage documents and threads, and use "
    "it from OpenAI-compatible clients. Authenticate with `Authorization: Bearer <API key>` "
    "(`python -m chat keys create NAME --user USER`) or the login cookie. Every endpoint "
    "sees only the caller's documents, threads and runs.")


def routers() -> list[APIRouter]:
    """Every API router, in mounting order."""
    from chat.api import routes_documents, routes_openai, routes_runs, routes_threads

    return [routes_runs.router, routes_documents.router, routes_threads.router,
            routes_openai.router]


def openapi_schema(routes: list[Any]) -> dict:
    """The OpenAPI document of the API routes (every model in ``components.schemas``)."""
    from chat.api.models import RunEvent

    schema = get_openapi(title=API_TITLE, version=API_VERSION, description=API_DESCRIPTION,
                         routes=routes)
    schemas = schema.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("RunEvent", RunEvent.model_json_schema(
        ref_template="#/components/schemas/{model}"))
    for name, model in schemas.items():
        if name.startswith("Body_") and "description" not in model:
            model["description"] = "Multipart form: `files` (one or more) and `thread_id`."
    schema["components"]["securitySchemes"] = {
        "bearer": {"type": "http", "scheme": "bearer",
                   "description": "a personal API key (dck_...) or a login JWT"}}
    schema["security"] = [{"bearer": []}]
    return schema


def install(app: Any = None) -> None:
    """Add the API routes to ``app`` (default ``chainlit.server.app``) ahead of the UI
    catch-all; idempotent (routes of an earlier call are replaced).

    Paths are under Chainlit's root path (``CHAINLIT_ROOT_PATH``) when one is set.
    """
    from chainlit.config import config

    if app is None:
        from chainlit.server import app
    root = (config.run.root_path or "").rstrip("/")
    mine = [*routers(), _ws_router()]
    app.router.routes[:] = [r for r in app.router.routes
                            if getattr(r, "original_router", None) not in mine
                            and getattr(r, "name", None) != "docchat_openapi"]
    before = list(app.router.routes)
    for router in mine:
        app.include_router(router, prefix=root)
    ours = [r for r in app.router.routes if r not in before]
    schema_holder: dict = {}

    async def openapi_json(request):
        if "doc" not in schema_holder:
            schema_holder["doc"] = openapi_schema(ours)
        return JSONResponse(schema_holder["doc"])

    ours.append(Route(f"{root}/api/v1/openapi.json", openapi_json, methods=["GET"],
                      name="docchat_openapi", include_in_schema=False))
    kept = [r for r in app.router.routes if r not in ours]
    at = next((i for i, r in enumerate(kept) if _is_catch_all(r)), len(kept))
    app.router.routes[:] = kept[:at] + ours + kept[at:]
    mark_changed = getattr(app.router, "_mark_routes_changed", None)
    if callable(mark_changed):
        mark_changed()


_WS_ROUTER: APIRouter | None = None


def _ws_router() -> APIRouter:
    global _WS_ROUTER
    if _WS_ROUTER is None:
        from chat.api.routes_runs import runs_websocket

        _WS_ROUTER = APIRouter()
        _WS_ROUTER.add_api_websocket_route("/api/v1/runs/ws", runs_websocket,
                                           name="docchat_runs_ws")
    return _WS_ROUTER


def _is_catch_all(route: Any) -> bool:
    """The UI catch-all route, or an included router holding it (FastAPI >= 0.16x keeps
    ``include_router`` routers as one lazy entry of ``app.router.routes``)."""
    if isinstance(route, Route) and route.path.endswith("/{full_path:path}"):
        return True
    included = getattr(route, "original_router", None)
    return included is not None and any(_is_catch_all(r) for r in included.routes)
