"""``python -m chat bench-api [--json] [--runs N]``: what the API adds before the first token.

In one process: a real store (MiniLM embedder, Chroma, SQLite keyword index) holding a
few documents, the chat database (SQLite, migrated), an instant scripted LLM
(:class:`bench.fake_llm.ScriptedLLM`), and the API routes on a FastAPI app served by
uvicorn on 127.0.0.1. Each round asks the same question twice, in alternating order:

- in-process: ``agents.runner.ask`` with an observer, time to its first ``token`` event;
- over the API: ``POST /api/v1/runs`` with ``Accept: text/event-stream`` and an API key
  (key lookup, rate limit, validation, a new thread, the saved question, the step
  renderer, SSE framing, HTTP), time until the client has parsed the first ``token``.

The overhead of a round is the difference; the report gives p50 / p95 of it and of both
latencies (milliseconds). Target: overhead p50 <= 20 ms. Everything lives in a temporary
directory (its own data dir and Chainlit app root), removed afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TARGET_P50_MS = 20.0
QUESTION = "How often must the Heliotrope reactor be inspected?"
TEXTS = {
    "heliotrope.md": "# Heliotrope maintenance\n\nThe Heliotrope reactor must be inspected "
                     "every 43 days by a certified engineer. The coolant pump is replaced "
                     "every 4 years.",
    "zorblat.txt": "The Zorblat-9 pump is rated for a maximum pressure of 41 bar. Its seals "
                   "are checked every spring.",
    "budget.txt": "The maintenance budget for next year is forty thousand euros, most of it "
                  "for the cooling plant.",
}


def _percentiles(values: list[float]) -> dict:
    ordered = sorted(values)
    pick = (lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))])
    return {"p50": round(statistics.median(ordered), 2), "p95": round(pick(0.95), 2),
            "max": round(ordered[-1], 2)}


async def _first_token_direct(rag: Any, router: Any, scope: Any) -> float:
    from agents.runner import ask

    started, first = time.perf_counter(), []

    async def observer(event: Any) -> None:
        if event.kind == "token" and not first:
            first.append(time.perf_counter())

    await ask(QUESTION, scope=scope, rag=rag, router=router, observer=observer)
    return (first[0] - started) * 1000.0


async def _first_token_api(client: Any, url: str, key: str) -> float:
    started, first = time.perf_counter(), None
    headers = {"Authorization": f"Bearer {key}", "Accept": "text/event-stream"}
    async with client.stream("POST", f"{url}/api/v1/runs", json={"question": QUESTION},
                             headers=headers) as resp:
        if resp.status_code != 200:
            raise RuntimeError(f"the API answered {resp.status_code}: {await resp.aread()}")
        async for line in resp.aiter_lines():
            if first is None and line == "event: token":
                first = time.perf_counter()
    if first is None:
        raise RuntimeError("the run streamed no token")
    return (first - started) * 1000.0


async def _serve(app: Any) -> tuple[Any, asyncio.Task, str]:
    import socket

    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    for _ in range(600):  # uvicorn sets `started` once it listens (30 s at most)
        if server.started:
            break
        await asyncio.sleep(0.05)
    else:
        raise RuntimeError("uvicorn did not start within 30 s")
    return server, task, f"http://127.0.0.1:{port}"


async def _prepare(root: Path) -> tuple[Any, Any, str, Any]:
    """Database, user and key, services with a small indexed store; returns (rag,
    router, key, the FastAPI app with the API routes)."""
    from chainlit.config import config
    from fastapi import FastAPI

    from bench.fake_llm import ScriptedLLM
    from chat import services
    from chat.api import install_api
    from chat.api.keys import ApiKeyStore
    from chat.auth import get_app_data_layer, prepare_app
    from chat.persistence.users import UserStore
    from rag.config import RagSettings
    from rag.models import Scope, TextDocument
    from rag.service import RagService

    context = await prepare_app()
    config.code.data_layer = get_app_data_layer
    await UserStore(context.data_layer.engine).add("bench", "bench-password-1")
    key, _ = await ApiKeyStore(context.data_layer.engine).create("bench", "bench")
    rag = await RagService.open(RagSettings(data_dir=root / "rag"))
    await rag.index_texts([TextDocument(name=n, text=t) for n, t in TEXTS.items()],
                          Scope(owner="bench"))
    router = ScriptedLLM()
    services.use(rag=rag, router=router)
    app = FastAPI()
    install_api(app)
    return rag, router, key, app


async def run_bench(runs: int, warmup: int = 5) -> dict:
    """Measure ``runs`` paired rounds after ``warmup``; returns the report dict."""
    import httpx

    from chat import services
    from chat.owners import document_owner
    from rag.models import Scope

    root = Path(os.environ["DOCCHAT_DATA_DIR"])
    rag, router, key, app = await _prepare(root)
    server, task, url = await _serve(app)
    scope = Scope(owner=document_owner("bench"))
    direct, api, overhead = [], [], []
    try:
        async with httpx.AsyncClient(timeout=60) as client:
            for i in range(warmup + runs):
                if i % 2:
                    a = await _first_token_api(client, url, key)
                    d = await _first_token_direct(rag, router, scope)
                else:
                    d = await _first_token_direct(rag, router, scope)
                    a = await _first_token_api(client, url, key)
                if i >= warmup:
                    direct.append(d)
                    api.append(a)
                    overhead.append(a - d)
    finally:
        server.should_exit = True
        await task
        await services.close()
        from chat.auth import get_app_data_layer, reset_app_data_layer

        await get_app_data_layer().close()
        reset_app_data_layer()
    report = {"runs": runs, "first_token_direct_ms": _percentiles(direct),
              "first_token_api_ms": _percentiles(api), "overhead_ms": _percentiles(overhead),
              "target_overhead_p50_ms": TARGET_P50_MS}
    report["ok"] = report["overhead_ms"]["p50"] <= TARGET_P50_MS
    return report


def main(args: argparse.Namespace) -> int:
    """Entry point of ``python -m chat bench-api``; exit 0 when the target is met."""
    with tempfile.TemporaryDirectory(prefix="docchat-api-bench-") as tmp:
        os.environ.update({"DOCCHAT_DATA_DIR": tmp, "CHAINLIT_APP_ROOT": tmp,
                           "DOCCHAT_BOOTSTRAP_ADMIN": "false",
                           "DOCCHAT_API_RATE_LIMIT": "100000/minute",
                           "DOCCHAT_API_RUN_RATE_LIMIT": "100000/minute"})
        os.environ.pop("DATABASE_URL", None)
        from chat.api.settings import get_api_settings
        from chat.config import get_settings

        get_settings.cache_clear()
        get_api_settings.cache_clear()
        report = asyncio.run(run_bench(args.runs))
    if args.json:
        print(json.dumps(report))
    else:
        o, d, a = report["overhead_ms"], report["first_token_direct_ms"], \
            report["first_token_api_ms"]
        print(f"first token in-process: p50 {d['p50']} ms  p95 {d['p95']} ms\n"
              f"first token over SSE:   p50 {a['p50']} ms  p95 {a['p95']} ms\n"
              f"API overhead:           p50 {o['p50']} ms  p95 {o['p95']} ms  "
              f"(target p50 <= {TARGET_P50_MS:g} ms: {'ok' if report['ok'] else 'MISSED'})",
              file=sys.stdout)
    return 0 if report["ok"] else 1
