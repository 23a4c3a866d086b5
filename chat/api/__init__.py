"""The headless API: runs (JSON, SSE, WebSocket), documents, threads, API keys and an
OpenAI-compatible chat endpoint, on Chainlit's own FastAPI app (same process, same
services, same data layer as the UI).

``install_api()`` is called once at start-up (``chat.handlers.on_app_startup``);
this package's modules import FastAPI and Chainlit only when it runs, so the key
commands of ``python -m chat`` stay light.
"""

from __future__ import annotations

from typing import Any


def install_api(app: Any = None) -> None:
    """Mount every API route on ``app`` (default ``chainlit.server.app``) ahead of the
    UI catch-all; idempotent. See :func:`chat.api.app.install`."""
    from chat.api.app import install

    install(app)
