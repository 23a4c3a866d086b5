"""`POST /api/v1/runs` (JSON or Server-Sent Events), `GET /api/v1/runs/ws` (WebSocket),
`GET` / `DELETE /api/v1/runs/{run_id}`.

A run answers JSON by default and streams events with ``Accept: text/event-stream``:
each event has an ``id`` (1, 2, ...), a name and a JSON ``data``; a keep-alive comment
is sent every ``DOCCHAT_API_KEEPALIVE_S`` seconds; a client that disconnects cancels
the run (its task is cancelled and awaited: nothing keeps running).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from fastapi import APIRouter, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from chat.api.auth import Caller, Principal, RunCaller, authenticate, rate_limits
from chat.api.errors import ApiError, ApiRoute, error_body
from chat.api.models import (
    ERROR_RESPONSES,
    RunEvent,
    RunRequest,
    RunResponse,
    RunStatus,
)
from chat.api.runs import TERMINAL, RunHandle, registry, start_run

router = APIRouter(prefix="/api/v1/runs", tags=["runs"], route_class=ApiRoute,
                   responses=ERROR_RESPONSES)

SSE_DESCRIPTION = (
    "With `Accept: text/event-stream`: Server-Sent Events `run_started`, `node_started`, "
    "`node_completed`, `token`, `stream_reset`, `usage`, `progress`, then `run_completed` "
    "(data: RunResponse) or `error` (data: ErrorDetail); see the RunEvent schema.")


def wants_sse(request: Request) -> bool:
    """True when the client asked for Server-Sent Events."""
    return "text/event-stream" in request.headers.get("accept", "")


def _json(data: dict) -> str:
    return json.dumps(data, ensure_ascii=False, default=str, separators=(",", ":"))


@router.post(
    "", response_model=RunResponse, summary="Run the flow on a question",
    responses={200: {"description": "the run's result (JSON), or its events (SSE)",
                     "content": {"text/event-stream": {
                         "schema": {"$ref": "#/components/schemas/RunEvent"}}}},
               504: {"model": ERROR_RESPONSES[500]["model"], "description": "run timed out"}},
    description=SSE_DESCRIPTION)
async def create_run(body: RunRequest, request: Request,
                     principal: RunCaller):
    """Answer `question` with the supervisor-agent flow in the caller's documents.

    With a `thread_id` the run appends to that thread (memory, history, steps); else a
    new thread is created. When nothing in scope can answer, `pending_docs` says which
    kind of document would help and `answer` is null.
    """
    handle = await start_run(body, principal)
    if wants_sse(request):
        return sse_response(handle)
    return await json_result(handle)


async def json_result(handle: RunHandle) -> JSONResponse:
    """Wait for the run; its body (200) or its error (500 / 504 with an error id)."""
    try:
        async for _ in handle.events():
            pass
    except asyncio.CancelledError:
        await handle.cancel()
        raise
    if handle.result is not None:
        return JSONResponse(handle.result)
    return JSONResponse({"error": handle.error}, status_code=handle.error_status)


def sse_response(handle: RunHandle):
    """The run's events as Server-Sent Events; a disconnect cancels the run."""
    from sse_starlette.sse import EventSourceResponse

    from chat.api.settings import get_api_settings

    async def stream():
        try:
            async for event in handle.events():
                yield {"id": str(event["id"]), "event": event["event"],
                       "data": _json(event["data"])}
        finally:
            if handle.status == "running":
                await handle.cancel()

    return EventSourceResponse(stream(), ping=get_api_settings().keepalive_s,
                               headers={"Cache-Control": "no-store",
                                        "X-Accel-Buffering": "no"})


@router.get("/{run_id}", response_model=RunStatus, summary="A run's status and result")
async def get_run(run_id: str, principal: Caller) -> dict:
    """Status of one of the caller's recent runs (kept in memory: the last 1000 of the
    process); 404 for unknown runs and other users' runs."""
    handle = registry.get(run_id, principal)
    return {"run_id": handle.run_id, "thread_id": handle.thread_id, "status": handle.status,
            "result": handle.result, "error": handle.error}


@router.delete("/{run_id}", response_model=RunStatus, summary="Cancel a running run")
async def cancel_run(run_id: str, principal: Caller) -> dict:
    """Cancel the run (no-op when it already ended); returns its status."""
    handle = registry.get(run_id, principal)
    await handle.cancel()
    return await get_run(run_id, principal)


# ---- WebSocket ----------------------------------------------------------------------
async def runs_websocket(websocket: WebSocket) -> None:
    """`GET /api/v1/runs/ws`: send a RunRequest as JSON, receive its RunEvents (one JSON
    object per message, the same events as SSE); repeat on the same socket. Send
    `{"type": "cancel"}` during a run to cancel it; closing the socket cancels it too.
    Credentials as for HTTP (Bearer header or login cookie); refused with close code 4401.
    """
    try:
        principal = await authenticate(websocket.headers, websocket.cookies)
    except ApiError:
        await websocket.close(code=4401, reason="unauthorized")
        return
    await websocket.accept()
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            raw = await websocket.receive_text()
            handle = await _ws_start(websocket, principal, raw)
            if handle is not None and not await _ws_stream(websocket, handle):
                return


async def _ws_start(websocket: WebSocket, principal: Principal, raw: str) -> RunHandle | None:
    try:
        rate_limits().check(principal, run=True)
        request = RunRequest.model_validate_json(raw)
        return await start_run(request, principal)
    except ValidationError as exc:
        errors = exc.errors()
        first: dict[str, Any] = dict(errors[0]) if errors else {}
        field = ".".join(str(p) for p in first.get("loc", ())) or None
        body = error_body("validation_error", f"{field}: {first.get('msg', 'invalid')}"
                          if field else "the message is not a RunRequest", field=field)
    except ApiError as exc:
        body = error_body(exc.code, exc.message, field=exc.field)
    await websocket.send_json({"id": 0, "event": "error", "data": body["error"]})
    return None


async def _ws_stream(websocket: WebSocket, handle: RunHandle) -> bool:
    """Send the run's events; False when the client went away (the run is cancelled)."""
    receiver = asyncio.ensure_future(websocket.receive_text())
    getter = asyncio.ensure_future(handle.queue.get())
    try:
        while True:
            done, _ = await asyncio.wait({getter, receiver}, return_when=asyncio.FIRST_COMPLETED)
            if getter in done:
                event = getter.result()
                await websocket.send_json(json.loads(_json(event)))
                if event["event"] in TERMINAL:
                    return True
                getter = asyncio.ensure_future(handle.queue.get())
            if receiver in done:
                if receiver.exception() is not None:
                    await handle.cancel()
                    return False
                if _is_cancel(receiver.result()):
                    await handle.cancel()
                receiver = asyncio.ensure_future(websocket.receive_text())
    except (WebSocketDisconnect, RuntimeError):
        await handle.cancel()
        return False
    finally:
        receiver.cancel()
        getter.cancel()


def _is_cancel(text: str) -> bool:
    with contextlib.suppress(ValueError, AttributeError):
        return json.loads(text).get("type") == "cancel"
    return False


# The RunEvent schema is referenced from the SSE response above.
EXTRA_SCHEMAS = (RunEvent,)
