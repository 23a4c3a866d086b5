"""``python -m agents.llm bench``: local-model speed and the router's own overhead.

Measures, on a prompt of about 1,500 tokens (counted by the model's tokenizer):
time to first token (prompt processing included) and generation tokens/s of the local
model in-process (``local:`` link) and through ``python -m llama_cpp.server`` by base
URL (``compat:`` link), with the configured llama.cpp threads; and the router's
overhead per call against an instant in-memory provider.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from typing import Any

from agents.llm.providers.base import CallOptions, Provider, StreamItem, TokenCount
from agents.llm.providers.extractive import ExtractiveProvider
from agents.llm.router import LLMRouter
from agents.llm.settings import LOCAL_MODEL_NAME, LLMSettings
from agents.llm.types import Message

_TOPICS = ["harbour tides", "lighthouse keepers", "salt marsh birds", "ferry timetables",
           "fishing quotas", "storm warnings", "dune erosion", "ship registries"]


class InstantProvider(Provider):
    """An in-memory provider that answers at once: ``tokens`` fixed deltas."""

    name = "instant"

    def __init__(self, tokens: int = 20) -> None:
        self.tokens = [f"t{i} " for i in range(tokens)]

    async def stream(self, model: str, messages: list[Message], opts: CallOptions
                     ) -> AsyncIterator[StreamItem]:
        for token in self.tokens:
            yield token
        yield TokenCount(10, len(self.tokens))

    async def structured(self, model: str, messages: list[Message], schema: dict[str, Any],
                         schema_name: str, opts: CallOptions) -> tuple[str, TokenCount]:
        return "{}", TokenCount(10, 1)


def grounded_prompt(passages: int) -> list[Message]:
    """A retrieval-style prompt: ``passages`` numbered passages and a question."""
    lines = []
    for i in range(passages):
        topic = _TOPICS[i % len(_TOPICS)]
        lines.append(
            f"[{i + 1}] Report {i + 1} on {topic}: the council recorded that during week "
            f"{i + 3} the {topic} committee met twice, reviewed {i * 7 % 23 + 4} complaints, "
            f"approved a budget of {1000 + i * 137} crowns and asked the harbour master to "
            f"publish revised guidance before the spring equinox."
        )
    system = ("Answer the question using only the numbered passages. Cite passages as [n]. "
              "Passages:\n" + "\n".join(lines))
    return [Message("system", system),
            Message("user", "For every report on storm warnings, list its week, number of "
                            "complaints and budget, citing each as [n].")]


def prompt_of_tokens(target: int, count: Any) -> list[Message]:
    """The smallest ``grounded_prompt`` whose text has at least ``target`` tokens."""
    n = 4
    while True:
        messages = grounded_prompt(n)
        if count(" ".join(m.content for m in messages)) >= target:
            return messages
        n += 2


async def measure_stream(router: LLMRouter, link: str, messages: list[Message]
                         ) -> dict[str, Any]:
    """TTFT and generation speed of one streamed answer through ``router``."""
    start = time.perf_counter()
    first = last = None
    pieces = 0
    usage = None
    async for event in router.stream("answer", messages, model=link):
        if event.kind == "token":
            last = time.perf_counter()
            first = first or last
            pieces += 1
        elif event.kind == "usage":
            usage = event.usage
        elif event.kind == "reset":
            raise RuntimeError(f"{link} failed: {event.reason}")
    if usage is None or first is None or usage.provider != link.split(":")[0]:
        raise RuntimeError(f"{link} did not answer (fell back to {usage and usage.provider})")
    out = usage.output_tokens
    gen_s = (last - first) if last and out > 1 else 0.0
    return {
        "link": link,
        "prompt_tokens": usage.input_tokens,
        "output_tokens": out,
        "ttft_s": round(first - start, 3),
        "tokens_per_s": round((out - 1) / gen_s, 2) if gen_s else None,
        "total_s": round(time.perf_counter() - start, 3),
    }


async def router_overhead(calls: int = 2000, tokens: int = 20) -> dict[str, float]:
    """Microseconds the router adds to one streamed call and to one ``complete``."""
    provider = InstantProvider(tokens)
    settings = LLMSettings(chain_answer=["instant:m"])
    router = LLMRouter(settings, {"instant": provider, "extractive": ExtractiveProvider()})
    messages = [Message("user", "hi")]
    opts = CallOptions("answer", 100, 0.0)

    async def direct() -> None:
        async for _ in provider.stream("m", messages, opts):
            pass

    async def routed() -> None:
        async for _ in router.stream("answer", messages):
            pass

    async def completed() -> None:
        await router.complete("answer", messages)

    async def timed(fn: Any) -> float:
        for _ in range(200):
            await fn()
        start = time.perf_counter()
        for _ in range(calls):
            await fn()
        return (time.perf_counter() - start) / calls * 1e6

    base = await timed(direct)
    result = {"calls": calls, "tokens_per_call": tokens,
              "provider_alone_us": round(base, 1),
              "stream_overhead_us": round(await timed(routed) - base, 1),
              "complete_overhead_us": round(await timed(completed) - base, 1)}
    await router.aclose()
    return result


async def run_bench(settings: LLMSettings | None = None, prompt_tokens: int = 1500,
                    max_tokens: int = 128, server: bool = True) -> dict[str, Any]:
    """Run every measurement that this machine can; report why others were skipped."""
    from agents.llm.local_server import LlamaServer
    from agents.llm.providers.local_provider import LocalProvider

    settings = settings or LLMSettings()
    report: dict[str, Any] = {"load_avg_1m_before": round(os.getloadavg()[0], 2),
                              "router_overhead": await router_overhead()}
    local = LocalProvider.from_settings(settings)
    report["threads"] = settings.local_threads
    if not local.available:
        report["local_skipped"] = local.unavailable_reason
        return report
    from llama_cpp import Llama

    tok = Llama(model_path=str(local.model_path), vocab_only=True, verbose=False)
    messages = prompt_of_tokens(prompt_tokens, lambda t: len(tok.tokenize(t.encode())))
    warm = [Message("user", "Say hello.")]
    link = f"local:{LOCAL_MODEL_NAME}"
    tuned = settings.model_copy(update={"max_tokens_answer": max_tokens,
                                        "chain_answer": [link], "temperature": 0.0})
    router = LLMRouter.from_settings(tuned)
    await router.complete("answer", warm, model=link)  # loads the model
    report["in_process"] = await measure_stream(router, link, messages)
    await router.aclose()
    if server:
        async with LlamaServer(local.model_path, settings.local_threads,
                               settings.local_n_ctx) as srv:
            compat = tuned.model_copy(update={"compat_base_url": srv.base_url})
            router = LLMRouter.from_settings(compat)
            link = f"compat:{LOCAL_MODEL_NAME}"
            await router.complete("answer", warm, model=link)
            report["server"] = await measure_stream(router, link, messages)
            report["server"]["startup_s"] = round(srv.startup_s, 2)
            await router.aclose()
    report["load_avg_1m_after"] = round(os.getloadavg()[0], 2)  # other work on the CPUs
    return report
