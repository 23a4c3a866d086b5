"""The process-wide services the handlers share: the RAG service and the LLM router.

Both are opened once per process on first use (they hold a Chroma client, the
embedder and HTTP connection pools) and are safe to share between sessions: every call
takes the user's scope explicitly. Tests inject their own with :func:`use`.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

_rag: Any = None
_router: Any = None
_lock: asyncio.Lock | None = None


async def get_rag() -> Any:
    """The shared ``rag.service.RagService`` (opened on first call)."""
    global _rag, _lock
    if _rag is None:
        _lock = _lock or asyncio.Lock()
        async with _lock:
            if _rag is None:
                from rag.service import RagService

                _rag = await RagService.open()
    return _rag


def get_router() -> Any:
    """The shared ``agents.llm.router.LLMRouter`` (built from the environment)."""
    global _router
    if _router is None:
        from agents.llm.router import LLMRouter

        _router = LLMRouter.from_settings()
    return _router


async def warm_up() -> None:
    """Open everything a first request would, at start-up instead of on the event loop
    of a live request: the RAG service (embedder, Chroma), the router and its provider
    SDKs, and the flow's modules (importing them took up to 0.5 s of blocked loop)."""
    import agents.runner  # noqa: F401  (the flow, its nodes and their pydantic models)

    rag = await get_rag()
    await rag.check()
    get_router().available_models()


def use(*, rag: Any = None, router: Any = None) -> None:
    """Replace the shared services (tests; a second app in one process)."""
    global _rag, _router
    _rag, _router = rag, router


async def close() -> None:
    """Close both services (app shutdown)."""
    global _rag, _router
    rag, router, _rag, _router = _rag, _router, None, None
    if rag is not None:
        await rag.close()
    if router is not None:
        await router.aclose()


def uploads_dir() -> Path:
    """Where private copies of uploads wait to be indexed (<data_dir>/uploads)."""
    from chat.config import get_settings

    return get_settings().data_dir / "uploads"
