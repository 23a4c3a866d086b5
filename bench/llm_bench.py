"""``python -m agents.llm bench``: the local model as the app runs it, and router overhead.

Runs the local model exactly as the chat does (one supervised ``llama_cpp.server`` child,
the app's prompt builder and prompt budget, the configured threads) and asks ``runs``
different 5-passage questions (passages of ~256-token chunks, the size ``rag`` indexes).
Reports the median time to first token (prompt processing included), generation
tokens/s and prompt tokens as counted by the server, plus the router's own overhead per
call against an instant in-memory provider, the CPU model and the load average.

The model comes from the test-only directory that ``scripts/setup-dev.sh`` fills
(``DOCCHAT_TEST_MODELS_DIR``, default ``~/.cache/docchat/test-models``) unless ``--model``
names another file; the child's state file goes to a temporary directory.
"""

from __future__ import annotations

import os
import platform
import statistics
import tempfile
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agents.llm.install import model_path_for_tests
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
                     ) -> AsyncGenerator[StreamItem, None]:
        for token in self.tokens:
            yield token
        yield TokenCount(10, len(self.tokens))

    async def structured(self, model: str, messages: list[Message], schema: dict[str, Any],
                         schema_name: str, opts: CallOptions) -> tuple[str, TokenCount]:
        return "{}", TokenCount(10, 1)


@dataclass
class BenchChunk:
    """A retrieved chunk as ``agents.prompts`` reads it."""

    text: str
    source: str
    page: int | None = None
    heading: str | None = None


def passages(run: int, count: int = 5, chars: int = 1100) -> list[BenchChunk]:
    """``count`` chunk-sized passages (~``chars`` characters, about 256 tokens each),
    different for every ``run`` so only the fixed instruction is reused from the cache."""
    out = []
    for i in range(count):
        topic = _TOPICS[(run + i) % len(_TOPICS)]
        sentences, n = [], 0
        while sum(len(s) + 1 for s in sentences) < chars:
            n += 1
            sentences.append(
                f"In week {run * 7 + i + n} the {topic} committee met {n % 3 + 1} times, "
                f"reviewed {(i * 7 + n * 3 + run) % 23 + 4} complaints, approved a budget of "
                f"{1000 + i * 137 + n * 11 + run} crowns and asked the harbour master to "
                f"publish revised guidance on {topic} before the spring equinox.")
        out.append(BenchChunk(" ".join(sentences)[:chars], f"report-{run}-{i + 1}.pdf", i + 1))
    return out


def question_messages(run: int, count: int = 5) -> list[Message]:
    """The app's answer prompt (``agents.prompts.answer_messages``) for a 5-passage question."""
    from agents.memory import Memory
    from agents.prompts import answer_messages

    topic = _TOPICS[(run + 2) % len(_TOPICS)]
    question = (f"For the {topic} committee, list each week it met, the number of complaints "
                "and the budget, citing each as [n].")
    return answer_messages(question, Memory(), passages(run, count))


async def measure_stream(router: LLMRouter, link: str, messages: list[Message]
                         ) -> dict[str, Any]:
    """TTFT and generation speed of one streamed answer through ``router``.

    Raises:
        RuntimeError: the link failed or another link answered.
    """
    start = time.perf_counter()
    first = last = None
    usage = None
    async for event in router.stream("answer", messages, model=link):
        if event.kind == "token":
            last = time.perf_counter()
            first = first or last
        elif event.kind == "usage":
            usage = event.usage
        elif event.kind == "reset":
            raise RuntimeError(f"{link} failed: {event.reason}")
    if usage is None or first is None or usage.provider != link.split(":")[0]:
        raise RuntimeError(f"{link} did not answer (fell back to {usage and usage.provider})")
    out = usage.output_tokens
    gen_s = (last - first) if last and out > 1 else 0.0
    return {"prompt_tokens": usage.input_tokens, "output_tokens": out,
            "ttft_s": round(first - start, 3),
            "tokens_per_s": round((out - 1) / gen_s, 2) if gen_s else None,
            "total_s": round(time.perf_counter() - start, 3)}


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


def cpu_model() -> str:
    """``lscpu``'s "Model name" (from /proc/cpuinfo), else ``platform.processor()``."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


async def run_bench(settings: LLMSettings | None = None, model: Path | None = None,
                    runs: int = 5, max_tokens: int = 128) -> dict[str, Any]:
    """Measure what this machine can; says why the local model was skipped otherwise."""
    settings = settings or LLMSettings()
    report: dict[str, Any] = {"cpu": cpu_model(), "cores": len(os.sched_getaffinity(0)),
                              "load_avg_1m_before": round(os.getloadavg()[0], 2),
                              "router_overhead": await router_overhead()}
    link = f"local:{LOCAL_MODEL_NAME}"
    with tempfile.TemporaryDirectory(prefix="docchat-llm-bench-") as state_dir:
        tuned = settings.model_copy(update={
            "local_model_path": model or model_path_for_tests(), "local_state_dir": Path(state_dir),
            "max_tokens_answer": max_tokens, "chain_answer": [link], "temperature": 0.0})
        router = LLMRouter.from_settings(tuned)
        local = router.providers["local"]
        report["model"] = str(tuned.local_model_path)
        report["threads"] = local.config.threads  # type: ignore[attr-defined]
        report["ttft_target_s"] = tuned.local_ttft_target_s
        if not local.available:
            report["local_skipped"] = local.unavailable_reason
            await router.aclose()
            return report
        try:
            start = time.perf_counter()
            await router.complete("answer", [Message("user", "Say hello.")], model=link)
            report["startup_s"] = round(time.perf_counter() - start, 2)
            results = [await measure_stream(router, link, question_messages(run))
                       for run in range(runs)]
        finally:
            report["model_process"] = router.status().get("local")
            await router.aclose()
    report["runs"] = results
    report["prompt_tokens_per_s"] = round(local.prompt_rate, 1)  # type: ignore[attr-defined]
    report["ttft_p50_s"] = round(statistics.median(r["ttft_s"] for r in results), 3)
    speeds = [r["tokens_per_s"] for r in results if r["tokens_per_s"]]
    report["tokens_per_s"] = round(statistics.median(speeds), 2) if speeds else None
    report["prompt_tokens"] = int(statistics.median(r["prompt_tokens"] for r in results))
    report["load_avg_1m_after"] = round(os.getloadavg()[0], 2)  # other work on the CPUs
    return report
