"""Fixtures: a wire server on 127.0.0.1 and routers pointed at it with fast timeouts."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from llm_wire import WireServer

from agents.llm import LLMRouter, LLMSettings

@pytest.fixture(autouse=True)
def _clean_env(clean_llm_env) -> None:
    """No real key or settings file of the developer leaks into a test (tests/conftest.py)."""


@pytest.fixture
async def wire() -> AsyncIterator[WireServer]:
    server = await WireServer().start()
    yield server
    await server.stop()


@pytest.fixture
async def make_router(wire: WireServer) -> AsyncIterator[Callable[..., LLMRouter]]:
    """``make_router(chain, **settings)``: a router whose three cloud providers talk to
    the wire server with key "test-key", with every task using ``chain``."""
    routers: list[LLMRouter] = []

    def build(chain: list[str], **overrides: object) -> LLMRouter:
        fields: dict[str, object] = {
            "openai_api_key": "test-key", "openai_base_url": f"{wire.url}/v1",
            "anthropic_api_key": "test-key", "anthropic_base_url": wire.url,
            "gemini_api_key": "test-key", "gemini_base_url": f"{wire.url}/",
            "chain_route": chain, "chain_answer": chain, "chain_review": chain,
            "chain_title": chain, "timeout_s": 2.0, "connect_timeout_s": 1.0,
            "max_retries": 2, "backoff_base_s": 0.01, "backoff_max_s": 1.0,
            "local_model_path": "/nonexistent/model.gguf",
        }
        fields.update(overrides)
        router = LLMRouter.from_settings(LLMSettings(**fields))
        routers.append(router)
        return router

    yield build
    for router in routers:
        await router.aclose()
