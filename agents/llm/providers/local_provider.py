"""The local provider: a GGUF model served by a supervised child process.

llama.cpp never runs inside the chat server: ``LocalModelSupervisor`` runs
``llama_cpp.server`` in one child process per instance (started on first use, or by
``LLMRouter.start()`` at app start-up) and this provider talks to it through the
OpenAI-compatible provider, one request at a time, with a bounded queue. A crash or a
hang of the child fails the current call only (the router falls back to the next link);
the child is restarted with backoff.

Prompts are budgeted (``agents.llm.budget``): passages are trimmed so that prompt
processing fits ``local_ttft_target_s`` at the prompt speed measured on this machine
(tokens/s of earlier calls, a running mean; before the first call ``INITIAL_PROMPT_RATE``
per thread, what one EPYC thread measured), or to a fixed ``local_prompt_budget_tokens``.

Available when ``llama_cpp`` is installed (the ``[local]`` extra, built by
``scripts/install-local-llm.sh``) and the model file exists
(``python -m agents.llm install-local-model``); turns unavailable when the child refuses
the build (``agents.llm.cpu_check``).
"""

from __future__ import annotations

import importlib.util
import os
import time
from collections.abc import AsyncGenerator
from typing import Any

import httpx

from agents.llm.budget import fit_messages
from agents.llm.errors import LLMError, TransientError
from agents.llm.local_supervisor import LocalModelConfig, LocalModelSupervisor, choose_threads
from agents.llm.providers.base import CallOptions, Provider, StreamItem, TokenCount
from agents.llm.providers.openai_provider import OpenAIProvider
from agents.llm.settings import LOCAL_MODEL_NAME, LLMSettings
from agents.llm.types import Message

INITIAL_PROMPT_RATE = 60.0  # prompt tokens/s per thread, Qwen2.5 0.5B Q4_K_M (README)
MIN_BUDGET = 512  # below this, 5 passages no longer carry an answer (~80 tokens each)


class LocalProvider(Provider):
    """The supervisor's client.

    Args:
        settings: timeouts (``local_timeout_s`` is the read timeout: no token for that
            long means a hang, and the child is killed and restarted).
        config: how to run the child.
        prompt_budget_tokens: a fixed prompt budget; None: from ``local_ttft_target_s``
            and the measured prompt speed.
    """

    name = "local"

    def __init__(self, settings: LLMSettings, config: LocalModelConfig,
                 prompt_budget_tokens: int | None = None) -> None:
        self.settings = settings
        self.config = config
        self.fixed_budget = prompt_budget_tokens
        self.prompt_rate = INITIAL_PROMPT_RATE * config.threads  # prompt tokens/s
        self.model_path = config.model_path
        self.supervisor = LocalModelSupervisor(config)
        self._client: OpenAIProvider | None = None
        self._client_url = ""
        self._stale: list[OpenAIProvider] = []
        has_lib = importlib.util.find_spec("llama_cpp") is not None
        self.available = has_lib and config.model_path.is_file()
        if not has_lib:
            self.unavailable_reason = ("llama-cpp-python not installed "
                                       "(scripts/install-local-llm.sh)")
        elif not self.available:
            self.unavailable_reason = (
                f"no model at {config.model_path} (python -m agents.llm install-local-model)")

    @classmethod
    def from_settings(cls, settings: LLMSettings) -> LocalProvider:
        state_dir = settings.local_state_dir or settings.data_dir / "run"
        config = LocalModelConfig(
            model_path=settings.resolved_local_model_path(), model_name=LOCAL_MODEL_NAME,
            threads=settings.local_threads or choose_threads(), n_ctx=settings.local_n_ctx,
            queue_max=settings.local_queue_max, queue_timeout_s=settings.local_queue_timeout_s,
            start_timeout_s=settings.local_start_timeout_s,
            state_file=state_dir / f"local-model-{os.getpid()}.json")
        return cls(settings, config, settings.local_prompt_budget_tokens)

    def models(self) -> list[str]:
        return [LOCAL_MODEL_NAME]

    async def start(self) -> None:
        if self.available:
            self.supervisor.start()

    def status(self) -> dict[str, Any] | None:
        if not self.available and self.supervisor.state != "refused":
            return {"state": "unavailable", "reason": self.unavailable_reason}
        return self.supervisor.status()

    def prompt_budget(self, max_tokens: int) -> int:
        """Prompt tokens a call may use: the fixed budget, else what the measured prompt
        speed processes in ``local_ttft_target_s``; never more than the context leaves."""
        budget = self.fixed_budget or int(self.settings.local_ttft_target_s * self.prompt_rate)
        return max(MIN_BUDGET, min(budget, self.config.n_ctx - max_tokens - 64))

    def _measured(self, counts: TokenCount, ttft_s: float) -> None:
        if counts.input_tokens and counts.input_tokens >= 64 and ttft_s > 0:
            rate = counts.input_tokens / ttft_s
            self.prompt_rate = 0.5 * self.prompt_rate + 0.5 * rate

    async def _count_prompt(self, base_url: str, prompt: list[Message]) -> int | None:
        """Prompt tokens as the model's tokenizer counts the ChatML rendering of ``prompt``
        (Qwen2.5's chat template), from the server's ``/extras/tokenize/count``."""
        text = "".join(f"<|im_start|>{m.role}\n{m.content}<|im_end|>\n" for m in prompt)
        text += "<|im_start|>assistant\n"
        url = base_url.removesuffix("/v1") + "/extras/tokenize/count"
        try:
            async with httpx.AsyncClient(timeout=10.0) as client:
                resp = await client.post(url, json={"input": text})
                return int(resp.json()["count"])
        except (httpx.HTTPError, ValueError, KeyError, TypeError):
            return None  # the router then estimates

    def _http(self, base_url: str) -> OpenAIProvider:
        """The OpenAI-compatible client of the current child (a new one after a restart:
        the port changes)."""
        if self._client is None or self._client_url != base_url:
            if self._client is not None:  # closed at aclose: a stream may still unwind
                self._stale.append(self._client)
            timeouts = self.settings.model_copy(
                update={"timeout_s": self.settings.local_timeout_s, "connect_timeout_s": 5.0})
            self._client = OpenAIProvider("local", timeouts, "no-key", base_url,
                                          [LOCAL_MODEL_NAME], "max_tokens",
                                          json_mode="json_object")
            self._client_url = base_url
        return self._client

    def _refused(self) -> None:
        if self.supervisor.state == "refused":
            self.available = False
            self.unavailable_reason = self.supervisor.last_error

    def _hang(self, exc: LLMError) -> None:
        if isinstance(exc, TransientError) and "timed out" in str(exc):
            self.supervisor.kill(f"no reply for {self.settings.local_timeout_s:.0f} s")

    async def _died_before(self, exc: LLMError, produced: int, attempt: int) -> bool:
        """Whether to try once more: the connection failed before any token because the
        process had just died (a crash the supervisor had not seen yet); the next attempt
        waits for the restarted process."""
        return (attempt == 1 and produced == 0 and "connection failed" in str(exc)
                and await self.supervisor.died())

    async def stream(self, model: str, messages: list[Message], opts: CallOptions
                     ) -> AsyncGenerator[StreamItem, None]:
        link = f"local:{model}"
        prompt = fit_messages(messages, self.prompt_budget(opts.max_tokens))
        try:
            for attempt in (1, 2):
                async with self.supervisor.slot(link) as base_url:
                    start, ttft, produced = time.perf_counter(), 0.0, 0
                    try:
                        async for item in self._http(base_url).stream(model, prompt, opts):
                            if isinstance(item, TokenCount):
                                break
                            ttft = ttft or time.perf_counter() - start
                            produced += 1  # llama_cpp.server streams one token per chunk
                            yield item
                        # llama_cpp.server reports no usage when streaming: count the prompt
                        counts = TokenCount(await self._count_prompt(base_url, prompt), produced)
                        self._measured(counts, ttft)
                        yield counts
                        return
                    except LLMError as exc:
                        self._hang(exc)
                        if await self._died_before(exc, produced, attempt):
                            continue
                        raise _relabel(exc, link) from exc
        finally:
            self._refused()

    async def structured(self, model: str, messages: list[Message], schema: dict[str, Any],
                         schema_name: str, opts: CallOptions) -> tuple[str, TokenCount]:
        link = f"local:{model}"
        prompt = fit_messages(messages, self.prompt_budget(opts.max_tokens))
        try:
            for attempt in (1, 2):
                async with self.supervisor.slot(link) as base_url:
                    try:
                        return await self._http(base_url).structured(model, prompt, schema,
                                                                     schema_name, opts)
                    except LLMError as exc:
                        self._hang(exc)
                        if await self._died_before(exc, 0, attempt):
                            continue
                        raise _relabel(exc, link) from exc
            raise LLMError("unreachable", provider=link)  # pragma: no cover
        finally:
            self._refused()

    async def aclose(self) -> None:
        clients = [*self._stale, *([self._client] if self._client else [])]
        self._client, self._stale = None, []
        for client in clients:
            await client.aclose()
        await self.supervisor.aclose()


def _relabel(exc: LLMError, link: str) -> LLMError:
    exc.provider = link
    return exc
