"""Routing, settings, the extractive fallback, retry policy and router overhead."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from pydantic import BaseModel

from agents.llm import (
    AllProvidersFailedError,
    LLMError,
    LLMRouter,
    LLMSettings,
    Message,
    Passage,
)
from agents.llm.errors import TransientError
from agents.llm.providers.base import parse_retry_after
from agents.llm.providers.extractive import NOTICE, ExtractiveProvider
from agents.llm.retry import RetryPolicy, with_retries
from bench.llm_bench import InstantProvider, router_overhead

CONTEXT = [
    Passage(1, "Invoices are due within 30 days. Late fees are 2% per month.", "terms.pdf", 3),
    Passage(2, "# Opening hours\nThe office is closed on public holidays.", "faq.md"),
    Passage(3, "Refunds are issued within 14 days of a returned item.", "refunds.txt"),
]


class Route(BaseModel):
    action: str


def test_no_keys_at_all_leaves_only_extractive_and_lists_why() -> None:
    router = LLMRouter.from_settings(LLMSettings(local_model_path="/nonexistent.gguf"))
    for task in ("route", "answer", "review", "title"):
        assert router.chain(task) == ["extractive"]
    assert router.available_models() == ["extractive"]
    reasons = router.unavailable()
    assert reasons["openai"] == "no OPENAI_API_KEY"
    assert reasons["anthropic"] == "no ANTHROPIC_API_KEY"
    assert reasons["gemini"] == "no GEMINI_API_KEY"
    assert "local" in reasons


def test_empty_key_variables_count_as_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-x")
    router = LLMRouter.from_settings(LLMSettings(local_model_path="/nonexistent.gguf"))
    assert "openai" in router.unavailable() and "anthropic" not in router.unavailable()
    assert router.chain("answer") == ["anthropic:claude-sonnet-4-5", "extractive"]


async def test_no_keys_extractive_quotes_best_passages_with_citations() -> None:
    router = LLMRouter.from_settings(LLMSettings(local_model_path="/nonexistent.gguf"))
    question = [Message("user", "When are invoices due and what are the late fees?")]
    events = [e async for e in router.stream("answer", question, context=CONTEXT)]
    text = "".join(e.text for e in events if e.kind == "token")
    assert text.startswith(NOTICE)
    assert "Invoices are due within 30 days. Late fees are 2% per month. [1]" in text
    assert "terms.pdf, page 3" in text
    assert "[2]" not in text and "[3]" not in text  # passages sharing no word are left out
    assert events[-1].kind == "usage" and events[-1].usage.provider == "extractive"
    assert events[-1].usage.cost_usd == 0.0


async def test_extractive_drops_markdown_headings_from_quotes() -> None:
    router = LLMRouter.from_settings(LLMSettings(local_model_path="/nonexistent.gguf"))
    done = await router.complete("answer", [Message("user", "Is the office open on "
                                                            "public holidays?")],
                                 context=CONTEXT)
    assert "> The office is closed on public holidays. [2]" in done.text
    assert "Opening hours" not in done.text


async def test_extractive_without_context_says_it_cannot_answer() -> None:
    router = LLMRouter.from_settings(LLMSettings(local_model_path="/nonexistent.gguf"))
    done = await router.complete("answer", [Message("user", "What is love?")])
    assert "No language model is configured" in done.text
    assert "cannot answer" in done.text


async def test_extractive_title_is_the_first_words() -> None:
    router = LLMRouter.from_settings(LLMSettings(local_model_path="/nonexistent.gguf"))
    done = await router.complete("title", [Message("user", "how do refunds work for "
                                                           "returned items in spring")])
    assert done.text == "how do refunds work for returned…"


async def test_structured_without_model_returns_default_or_raises() -> None:
    router = LLMRouter.from_settings(LLMSettings(local_model_path="/nonexistent.gguf"))
    default = Route(action="retrieve")
    obj, usage = await router.structured("route", [Message("user", "hi")], Route,
                                         default=default)
    assert obj is default and usage.provider == "extractive"
    with pytest.raises(AllProvidersFailedError):
        await router.structured("route", [Message("user", "hi")], Route)


def _router(chain: list[str], **providers) -> LLMRouter:
    settings = LLMSettings(chain_answer=chain, chain_route=chain)
    return LLMRouter(settings, {**providers, "extractive": ExtractiveProvider()})


def test_model_override_goes_first_and_unavailable_links_are_skipped() -> None:
    down = InstantProvider()
    down.available = False
    router = _router(["a:small", "b:big"], a=InstantProvider(), b=InstantProvider(), c=down)
    assert router.chain("answer") == ["a:small", "b:big", "extractive"]
    assert router.chain("answer", model="b:big") == ["b:big", "a:small", "extractive"]
    assert router.chain("answer", model="b:other") == ["b:other", "a:small", "b:big",
                                                       "extractive"]
    assert router.chain("answer", model="c:x") == ["a:small", "b:big", "extractive"]
    with pytest.raises(ValueError, match="unknown task"):
        router.chain("summarise")


def test_settings_from_env_and_toml_file(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    toml = tmp_path / "llm.toml"
    toml.write_text('chain_review = ["gemini:gemini-2.5-flash-lite"]\ntimeout_s = 7.5\n'
                    'local_threads = 3\n')
    monkeypatch.setenv("DOCCHAT_LLM_SETTINGS_FILE", str(toml))
    monkeypatch.setenv("DOCCHAT_LLM_CHAIN_ANSWER", "anthropic:claude-sonnet-4-5, openai:gpt-4.1")
    monkeypatch.setenv("DOCCHAT_LLM_LOCAL_THREADS", "2")
    monkeypatch.setenv("GOOGLE_API_KEY", "g-key")
    s = LLMSettings()
    assert s.chain_answer == ["anthropic:claude-sonnet-4-5", "openai:gpt-4.1"]
    assert s.chain_review == ["gemini:gemini-2.5-flash-lite"]
    assert s.timeout_s == 7.5
    assert s.local_threads == 2  # the environment wins over the file
    assert s.gemini_api_key == "g-key"
    assert s.chain_route[0].startswith("openai:")  # untouched default


def test_default_chains_use_small_models_for_cheap_tasks() -> None:
    s = LLMSettings()
    for task in ("route", "review", "title"):
        assert s.chain_for(task)[0] == "openai:gpt-4.1-nano"
    assert s.chain_answer[0] == "openai:gpt-4.1-mini"
    assert s.local_threads is None  # chosen from the cores this process may use


def test_local_model_only_answers_by_default() -> None:
    """With only the local model, a question costs one model call: route, review and
    title fall to the heuristics (extractive), the answer goes to the local model."""
    s = LLMSettings()
    for task in ("route", "review", "title"):
        assert not any(link.startswith("local:") for link in s.chain_for(task)), task
    assert any(link.startswith("local:") for link in s.chain_answer)


def test_retry_after_parsing() -> None:
    assert parse_retry_after({"retry-after": "3"}) == 3.0
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0
    assert parse_retry_after({}) is None


def test_retry_policy_is_bounded_and_honours_retry_after() -> None:
    p = RetryPolicy(max_retries=3, base_s=1.0, max_s=5.0)
    assert 0.5 <= p.delay(0, None) <= 1.0
    assert 2.0 <= p.delay(2, None) <= 4.0
    assert p.delay(3, None) is None  # retries spent
    assert p.delay(0, 4.0) == 4.0
    assert p.delay(0, 6.0) is None  # longer than the cap: give the link up


async def test_with_retries_retries_only_transient_errors() -> None:
    calls = []

    async def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise TransientError("503", status=503)
        return "ok"

    assert await with_retries(RetryPolicy(2, 0.001, 0.01), flaky) == "ok"
    assert len(calls) == 3

    async def broken() -> str:
        calls.append(1)
        raise LLMError("bad")

    calls.clear()
    with pytest.raises(LLMError):
        await with_retries(RetryPolicy(2, 0.001, 0.01), broken)
    assert len(calls) == 1


async def test_router_overhead_is_under_a_millisecond() -> None:
    result = await router_overhead(calls=500)
    assert result["stream_overhead_us"] < 1000
    assert result["complete_overhead_us"] < 1000


async def test_stream_consumer_may_stop_early() -> None:
    router = _router(["a:m"], a=InstantProvider(tokens=50))
    start = time.perf_counter()
    async for event in router.stream("answer", [Message("user", "hi")]):
        assert event.kind == "token"
        break
    assert time.perf_counter() - start < 1


def test_example_settings_file_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    import agents.llm

    example = Path(agents.llm.__file__).parent / "docchat-llm.example.toml"
    monkeypatch.setenv("DOCCHAT_LLM_SETTINGS_FILE", str(example))
    s = LLMSettings()
    assert s.chain_answer[0] == "anthropic:claude-sonnet-4-5"
    assert s.chain_title == ["gemini:gemini-2.5-flash-lite"]


async def test_available_models_lists_the_answer_chain_first() -> None:
    router = LLMRouter.from_settings(LLMSettings(
        anthropic_api_key="k", gemini_api_key="k", local_model_path="/nonexistent.gguf",
        chain_answer=["gemini:gemini-2.5-flash", "anthropic:claude-haiku-4-5"]))
    models = router.available_models()
    assert models[:3] == ["gemini:gemini-2.5-flash", "anthropic:claude-haiku-4-5", "extractive"]
    assert "anthropic:claude-sonnet-4-5" in models and "gemini:gemini-2.5-pro" in models
    assert not any(m.startswith(("openai:", "local:")) for m in models)
    await router.aclose()


def test_variables_name_every_router_setting_and_no_shared_one() -> None:
    from agents.llm.settings import variables

    names = variables()
    assert {"OPENAI_API_KEY", "GOOGLE_API_KEY", "GEMINI_BASE_URL", "DOCCHAT_LLM_CHAIN_ANSWER",
            "DOCCHAT_LLM_COMPAT_BASE_URL", "DOCCHAT_LLM_SETTINGS_FILE"} <= set(names)
    assert "DOCCHAT_DATA_DIR" not in names and all(n.isupper() for n in names)
    assert len(names) == len(set(names))
