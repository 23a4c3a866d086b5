"""API failure paths in process: a run over its time limit (504) and a failure inside the
flow (500 with an error id that is also in the JSON log line, never the exception text).

Real components: the migrated SQLite chat database and data layer, a real RagService
(MiniLM, Chroma) with one indexed document, the API routes on a FastAPI app called
through httpx's ASGI transport. Only the LLM is scripted (``bench.fake_llm``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid

import httpx
import pytest
from fastapi import FastAPI

from bench.fake_llm import ScriptedLLM

MANUAL = ("The Zorblat-9 pump is rated for a maximum pressure of 41 bar. Its seals are "
          "checked every spring.")
QUESTION = "What pressure is the Zorblat-9 pump rated for?"


@pytest.fixture
async def api(sqlite_session_url, tmp_path, monkeypatch):
    import chainlit.data as cl_data

    import chat.auth
    from chat import services
    from chat.api import install_api
    from chat.api.auth import reset_rate_limits
    from chat.api.keys import ApiKeyStore
    from chat.api.settings import get_api_settings
    from chat.persistence.data_layer import DocChatDataLayer
    from chat.persistence.storage import LocalStorageClient
    from chat.persistence.users import UserStore
    from rag.config import RagSettings
    from rag.models import Scope, TextDocument
    from rag.service import RagService

    layer = DocChatDataLayer(sqlite_session_url,
                             storage_provider=LocalStorageClient(tmp_path / "files"))
    monkeypatch.setattr(cl_data, "_data_layer", layer)
    monkeypatch.setattr(cl_data, "_data_layer_initialized", True)
    monkeypatch.setattr(chat.auth, "_data_layer", layer)
    monkeypatch.setenv("DOCCHAT_API_RUN_TIMEOUT_S", "0.5")
    get_api_settings.cache_clear()
    reset_rate_limits(None)
    name = f"u{uuid.uuid4().hex[:8]}"
    await UserStore(layer.engine).add(name, "a-long-password")
    key, _ = await ApiKeyStore(layer.engine).create("tests", name)
    rag = await RagService.open(RagSettings(data_dir=tmp_path / "rag"))
    await rag.index_texts([TextDocument(name="zorblat.txt", text=MANUAL)], Scope(owner=name))
    services.use(rag=rag, router=ScriptedLLM(delay=0.3))
    app = FastAPI()
    install_api(app)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api", timeout=60,
                                 headers={"Authorization": f"Bearer {key}"}) as client:
        yield client
    services.use()
    await rag.close()
    await layer.close()
    get_api_settings.cache_clear()
    reset_rate_limits(None)


async def _messages(client: httpx.AsyncClient, thread_id: str, count: int) -> list[dict]:
    for _ in range(50):  # Chainlit writes steps in tasks of their own
        messages = (await client.get(f"/api/v1/threads/{thread_id}")).json()["messages"]
        if len(messages) >= count:
            return messages
        await asyncio.sleep(0.1)
    raise AssertionError(f"thread {thread_id} has {messages}")


async def test_a_run_over_its_time_limit_answers_504_and_the_thread_says_so(api):
    resp = await api.post("/api/v1/runs", json={"question": QUESTION})
    assert resp.status_code == 504, resp.text
    error = resp.json()["error"]
    assert error["code"] == "timeout" and "longer than 0.5 s" in error["message"]
    assert error["error_id"]
    threads = (await api.get("/api/v1/threads")).json()["data"]
    messages = await _messages(api, threads[0]["id"], 2)
    assert messages[0]["content"] == QUESTION
    assert "Timed out" in messages[-1]["content"]


async def test_a_failure_inside_the_flow_answers_500_with_a_logged_error_id(api, monkeypatch):
    import agents.runner

    async def broken(*args, **kwargs):
        raise RuntimeError("connection to db at password=hunter2 refused")

    monkeypatch.setattr(agents.runner, "ask", broken)
    lines: list[dict] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if isinstance(record.msg, dict):
                lines.append(record.msg)

    handler = Capture()
    logging.getLogger("docchat.events").addHandler(handler)
    try:
        resp = await api.post("/api/v1/runs", json={"question": QUESTION})
        stream = await api.post("/api/v1/runs", json={"question": QUESTION},
                                headers={"Accept": "text/event-stream"})
    finally:
        logging.getLogger("docchat.events").removeHandler(handler)
    assert resp.status_code == 500
    error = resp.json()["error"]
    assert error["code"] == "internal_error" and error["error_id"] in error["message"]
    assert "hunter2" not in resp.text and "Traceback" not in resp.text
    logged = [line for line in lines if line.get("event") == "api_error"]
    assert any(line["error_id"] == error["error_id"] and "hunter2" in line["error"]
               for line in logged)
    events = [json.loads(line[5:]) for line in stream.text.splitlines()
              if line.startswith("data:")]
    assert "event: error" in stream.text and events[-1]["error_id"]
    assert "hunter2" not in stream.text
