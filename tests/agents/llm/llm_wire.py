"""A scripted HTTP server on 127.0.0.1 that speaks the providers' real wire formats.

Each test queues responses per path; the server answers requests in order with them and
records what it received. The SDKs under test talk to it through their base URL, so
their real request building, SSE parsing and error mapping run.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Reply:
    """One scripted answer.

    status/body/headers: a plain JSON reply. events: SSE (``(event_name|None, data)``
    pairs, data dict or str) streamed instead. disconnect_after: drop the connection
    after that many events. delay: seconds to wait before answering.
    """

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    events: list[tuple[str | None, Any]] | None = None
    disconnect_after: int | None = None
    delay: float = 0.0


@dataclass
class Seen:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    peer: tuple | None = None  # the client's (host, port): same port = reused connection


class WireServer:
    """Start with ``await WireServer().start()``; ``url`` is its base URL."""

    def __init__(self) -> None:
        self.replies: dict[str, deque[Reply]] = defaultdict(deque)
        self.seen: list[Seen] = []
        self._runner: web.AppRunner | None = None
        self.url = ""

    def add(self, path: str, *replies: Reply) -> None:
        """Queue replies for requests whose path ends with ``path``."""
        self.replies[path].extend(replies)

    def requests(self, path: str) -> list[Seen]:
        return [s for s in self.seen if s.path.endswith(path)]

    async def start(self) -> WireServer:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        body = json.loads(raw) if raw else None
        peer = request.transport.get_extra_info("peername") if request.transport else None
        self.seen.append(Seen(request.path, dict(request.query), dict(request.headers), body,
                              peer))
        key = next((k for k in self.replies if request.path.endswith(k)), None)
        if key is None or not self.replies[key]:
            return web.json_response({"error": {"message": f"unscripted {request.path}"}},
                                     status=599)
        reply = self.replies[key].popleft()
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.events is None:
            return web.json_response(reply.body, status=reply.status, headers=reply.headers)
        return await self._sse(request, reply)

    @staticmethod
    async def _sse(request: web.Request, reply: Reply) -> web.StreamResponse:
        resp = web.StreamResponse(status=reply.status,
                                  headers={"Content-Type": "text/event-stream", **reply.headers})
        await resp.prepare(request)
        for i, (name, data) in enumerate(reply.events or []):
            if reply.disconnect_after is not None and i >= reply.disconnect_after:
                await asyncio.sleep(0.02)
                assert request.transport is not None
                request.transport.abort()
                return resp
            payload = data if isinstance(data, str) else json.dumps(data)
            head = f"event: {name}\n" if name else ""
            await resp.write(f"{head}data: {payload}\n\n".encode())
        await resp.write_eof()
        return resp
