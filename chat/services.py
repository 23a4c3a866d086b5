"""The process-wide services the handlers share: the RAG service and the LLM router.

Both are opened once per process on first use (they hold a Chroma client, the
embedder and HTTP connection pools) and are safe to share between sessions: every call
takes the user's scope explicitly. Tests inject their own with :func:`use`.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported lazily at run time (heavy: Chroma, onnxruntime, SDKs)
    from agents.llm.router import LLMRouter
    from rag.queue.client import QueuedIndexer
    from rag.service import RagService

#: what Chainlit's CI mode writes into OPENAI_API_KEY (chainlit/cli/__init__.py: the
#: ``--ci`` flag, which a ``CI`` environment variable also turns on, as CI machines set)
CHAINLIT_CI_PLACEHOLDER_KEY = "sk-FAKE-OPENAI-API-KEY"

_rag: RagService | None = None
_queue: QueuedIndexer | None = None
_router: LLMRouter | None = None
_lock: asyncio.Lock | None = None


async def get_rag() -> RagService:
    """The shared ``rag.service.RagService`` (opened on first call).

    chat passes it to the flow as an ``agents.protocols.Retriever`` (chat.asking), and
    mypy checks there that it satisfies that protocol."""
    global _rag, _lock
    if _rag is None:
        _lock = _lock or asyncio.Lock()
        async with _lock:
            if _rag is None:
                from rag.service import RagService

                _rag = await RagService.open()
    assert _rag is not None
    return _rag


async def get_indexer() -> Any:
    """What indexes uploads: a ``rag.queue.client.QueuedIndexer`` when
    ``DOCCHAT_QUEUE_URL`` is set (a ``python -m rag worker`` does the work), else the
    ``RagService`` itself (in process). Both have ``index_files(paths, scope,
    on_progress=, filenames=)``."""
    global _queue, _lock
    rag = await get_rag()
    if not getattr(getattr(rag, "settings", None), "queue_url", None):
        return rag
    if _queue is None:
        _lock = _lock or asyncio.Lock()
        async with _lock:
            if _queue is None:
                from rag.queue.client import QueuedIndexer

                _queue = await QueuedIndexer.open(rag)
    return _queue


def reconcile_stale_after_s(rag: RagService) -> float | None:
    """How old an unfinished document must be for this instance's start-up reconcile to
    sweep it: with a queue, one job try (timeout + 15 s: no try runs longer, and workers
    may be indexing now); without one, None lets ``RagService.reconcile`` choose (0 on
    the private SQLite store, an hour on a shared PostgreSQL one)."""
    settings = rag.settings
    return settings.queue_job_timeout_s + 15.0 if settings.queue_url else None


def drop_chainlit_ci_key() -> bool:
    """Remove the placeholder OpenAI key Chainlit's CI mode puts in the environment;
    called first at start-up, before anything (the router, an OpenAI embedder) reads it.

    ``chainlit run`` with ``CI`` set (or ``--ci``) overwrites ``OPENAI_API_KEY`` with
    ``CHAINLIT_CI_PLACEHOLDER_KEY``; kept, every answer would first go to OpenAI with a key
    no server accepts (or, offline, hang on the connection) before the chain fell back.
    Logs a warning naming the cause. Returns whether the key was removed; a real key
    from ``.env`` or the settings file is still read by ``LLMSettings`` afterwards.
    """
    if os.environ.get("OPENAI_API_KEY") != CHAINLIT_CI_PLACEHOLDER_KEY:
        return False
    del os.environ["OPENAI_API_KEY"]
    logging.getLogger("chat").warning(
        "CI is set in the environment: Chainlit's CI mode replaced OPENAI_API_KEY with a "
        "placeholder, which is ignored; unset CI to use the key from the environment")
    return True


def get_router() -> LLMRouter:
    """The shared ``agents.llm.router.LLMRouter`` (built from the environment); the
    flow receives it as an ``agents.protocols.Router``."""
    global _router
    if _router is None:
        from agents.llm.router import LLMRouter

        _router = LLMRouter.from_settings()
    return _router


async def warm_up() -> None:
    """Open everything a first request would, at start-up instead of on the event loop
    of a live request: the RAG service (embedder, Chroma, the parsers' fork server),
    the router and its provider SDKs, and the flow's modules (importing them took up to
    0.5 s of blocked loop). Moves documents still keyed by a login name to the user's
    stable id (``chat.owners.migrate_name_owners``) and sweeps the chunks of documents a killed process left
    unfinished (``RagService.reconcile``)."""
    import agents.runner  # noqa: F401  (the flow, its nodes and their pydantic models)

    from chat.auth import get_app_data_layer
    from chat.owners import migrate_name_owners

    rag = await get_rag()
    await migrate_name_owners(rag, get_app_data_layer().engine)  # name-keyed -> user id
    await rag.reconcile(reconcile_stale_after_s(rag))  # sweep what a killed process left
    await rag.check()
    await get_indexer()  # with a queue: Redis reachable now, not at the first upload
    router = get_router()
    log_language_models(router)
    await router.start()  # the local model's process, if there is one: loads meanwhile
    freeze_startup_heap()


def log_language_models(router: LLMRouter) -> None:
    """Log, once at start-up, the answer chain this instance will use and why each other
    provider is out (e.g. "openai: no OPENAI_API_KEY"): an operator, and a failed test's
    server log, can tell which model answered without a question being asked."""
    out = "; ".join(f"{name}: {why}" for name, why in sorted(router.unavailable().items()))
    logging.getLogger("chat").info("language models for answers: %s (unavailable: %s)",
                                   ", ".join(router.chain("answer")), out or "none")


def freeze_startup_heap() -> int:
    """Collect once, then move every object alive now (modules, the frameworks' and
    models' state: long-lived by nature) to the collector's permanent generation
    (``gc.freeze``, Python >= 3.7), so later collections never walk them again.

    A full collection walks every tracked object while every thread of the process,
    the event loop's included, waits: with Chainlit, SQLAlchemy, Chroma's client and
    the embedder loaded that pause measured 599-789 ms on the two web instances of
    ``scripts/bench_load.py --instances 2 --worker``, the whole of their worst event-loop
    lag (README, "The app under load"). Returns how many objects were frozen.
    """
    import gc

    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def models_status() -> dict:
    """Readiness detail of what the router runs itself (the local model's process).

    Never raises: a crashed or refused local model does not make the instance unready,
    since every answer falls back to the next link of its chain.
    """
    router = _router
    return router.status() if router is not None and hasattr(router, "status") else {}


def use(*, rag: RagService | None = None, router: LLMRouter | None = None) -> None:
    """Replace the shared services (tests; a second app in one process)."""
    global _rag, _router, _queue
    _rag, _router, _queue = rag, router, None


async def close() -> None:
    """Close the services (app shutdown)."""
    global _rag, _router, _queue
    rag, router, queue, _rag, _router, _queue = _rag, _router, _queue, None, None, None
    if queue is not None:
        await queue.close()
    if rag is not None:
        await rag.close()
    if router is not None:
        await router.aclose()


def uploads_dir() -> Path:
    """Where private copies of uploads wait to be indexed (<data_dir>/uploads)."""
    from chat.config import get_settings

    return get_settings().data_dir / "uploads"
