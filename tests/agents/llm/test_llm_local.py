"""The local model for real: in-process (llama-cpp-python) and through its server.

Needs the ``[local]`` extra and ``python -m agents.llm install-local-model``; skipped
with the reason otherwise.
"""

from __future__ import annotations

import asyncio
import importlib.util
import time

import pytest
from pydantic import BaseModel

from agents.llm import LLMRouter, LLMSettings, Message
from agents.llm.local_server import LlamaServer
from agents.llm.settings import LOCAL_MODEL_NAME

MODEL = LLMSettings().resolved_local_model_path()
pytestmark = [
    pytest.mark.local_model,
    pytest.mark.timeout(300),
    pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None,
                       reason="llama-cpp-python missing: pip install -e '.[local]'"),
    pytest.mark.skipif(not MODEL.is_file(),
                       reason=f"no model at {MODEL}: python -m agents.llm install-local-model"),
]
GROUNDED = [
    Message("system", "Answer using only these passages and cite them as [n].\n"
                      "[1] The capital of Zorbania is Quillport, founded in 1721.\n"
                      "[2] Zorbania exports tin and wool."),
    Message("user", "What is the capital of Zorbania?"),
]


class Answer(BaseModel):
    city: str
    passage: int


def settings(**extra: object) -> LLMSettings:
    return LLMSettings(local_model_path=MODEL, local_threads=1, local_n_ctx=2048,
                       max_tokens_answer=48, max_tokens_review=48, temperature=0.0,
                       **extra)


async def stream_text(router: LLMRouter, link: str) -> tuple[str, list]:
    events = [e async for e in router.stream("answer", GROUNDED, model=link)]
    return "".join(e.text for e in events if e.kind == "token"), events


async def test_in_process_stream_and_structured() -> None:
    router = LLMRouter.from_settings(settings())
    link = f"local:{LOCAL_MODEL_NAME}"
    gaps: list[float] = []

    async def ticker() -> None:  # the loop must stay free while llama.cpp computes
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.01)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    tick = asyncio.create_task(ticker())
    try:
        text, events = await stream_text(router, link)
        tick.cancel()
        assert len(gaps) > 20 and max(gaps) < 0.5, f"event loop stalled {max(gaps):.2f} s"
        assert "Quillport" in text
        assert [e.kind for e in events].count("token") > 3  # it streamed, piece by piece
        usage = events[-1].usage
        assert usage.provider == "local" and usage.output_tokens > 3
        assert usage.ttft_ms < usage.latency_ms and usage.cost_usd == 0.0
        obj, _ = await router.structured("review", GROUNDED, Answer, model=link)
        assert "Quillport" in obj.city
    finally:
        tick.cancel()
        await router.aclose()


async def test_llama_cpp_server_through_the_openai_provider_by_base_url() -> None:
    async with LlamaServer(MODEL, threads=1, n_ctx=2048) as server:
        router = LLMRouter.from_settings(settings(compat_base_url=server.base_url))
        link = f"compat:{LOCAL_MODEL_NAME}"
        try:
            text, events = await stream_text(router, link)
            assert "Quillport" in text
            assert events[-1].usage.provider == "compat"
            obj, usage = await router.structured("review", GROUNDED, Answer, model=link)
            assert "Quillport" in obj.city and usage.provider == "compat"
        finally:
            await router.aclose()
