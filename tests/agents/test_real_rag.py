"""The whole stack without a language model: real store, real embedder, real router.

With no provider configured the router's chain is just the extractive provider, so the
supervisor's heuristic default routes and the answer quotes the retrieved chunks.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys


from agents.runner import ask
from rag.config import RagSettings
from rag.models import Scope
from rag.service import RagService



async def test_an_answer_only_the_document_holds_cites_its_chunk(
        rag, scope, flow, recorder, doc_ids, offline_router):
    result = await ask("How often must the quillon seal of the Zorblat-9 be replaced?",
                       scope=scope, rag=rag, router=offline_router, observer=recorder, flow=flow)
    assert result.route == "retrieve"
    assert result.citations, result.answer
    pump_id = doc_ids["zorblat-9-manual.md"]
    assert any(c.doc_id == pump_id and "900 operating hours" in c.text
               for c in result.citations)
    assert "900" in result.answer
    assert recorder.text() == result.answer


async def test_another_owner_never_sees_the_document(rag, flow, offline_router):
    result = await ask("How often must the quillon seal of the Zorblat-9 be replaced?",
                       scope=Scope(owner="mallory"), rag=rag, router=offline_router, flow=flow)
    assert result.route == "need_docs" and result.citations == []
    assert "quillon" not in result.answer.replace("quillon seal of the Zorblat-9", "")


def test_cli_ask_streams_the_answer_then_trace_and_sources(tmp_path, pump_doc,
                                                          clean_llm_env):
    env = dict(os.environ)  # without the machine's LLM variables (clean_llm_env)
    env["DOCCHAT_DATA_DIR"] = str(tmp_path)

    async def index():
        service = await RagService.open(RagSettings(data_dir=tmp_path))
        try:
            await service.index_texts([pump_doc], Scope(owner="cli"))
        finally:
            await service.close()

    asyncio.run(index())
    done = subprocess.run(
        [sys.executable, "-m", "agents", "ask", "What is the seal kit part number?"],
        capture_output=True, text=True, env=env, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "QS-7731" in out.split("route:")[0]  # the streamed answer comes first
    assert "route: retrieve" in out
    for node in ("Supervisor", "Retrieve", "Answer", "Review", "Finish"):
        assert f"\n{node} " in out
    assert "sources:" in out and "zorblat-9-manual.md" in out
