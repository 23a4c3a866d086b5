"""LLMRouter: one async interface over every provider, with routing and fallback.

A task ("route", "answer", "review", "title") maps to an ordered chain of
"provider:model" links (``LLMSettings.chain_*``). A call walks its chain: links whose
provider is unavailable (no key, no model file) are skipped; a link is retried on
timeouts, connection errors, 429 and 5xx (``retry.RetryPolicy``), then the next link is
tried. The extractive provider closes every chain, so a call always answers.
Authentication errors and bad requests are raised at once with the provider's message.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any, TypeVar

from pydantic import BaseModel

from agents.llm import structured as st
from agents.llm.errors import (
    AllProvidersFailedError,
    AuthenticationError,
    BadRequestError,
    LLMError,
)
from agents.llm.prices import estimate_cost
from agents.llm.providers import build_providers
from agents.llm.providers.base import (
    CallOptions,
    Provider,
    StreamItem,
    TokenCount,
    estimate_tokens,
)
from agents.llm.retry import RetryPolicy, with_retries
from agents.llm.settings import LLMSettings
from agents.llm.types import Completion, Message, Passage, StreamEvent, Usage

TASKS = ("route", "answer", "review", "title")
EXTRACTIVE = "extractive"
T = TypeVar("T", bound=BaseModel)
_FATAL = (AuthenticationError, BadRequestError)
log = logging.getLogger("agents.llm")


def split_link(link: str) -> tuple[str, str]:
    """"openai:gpt-4.1-mini" -> ("openai", "gpt-4.1-mini"); "extractive" -> ("extractive", "")."""
    provider, _, model = link.partition(":")
    return provider, model


async def _open(provider: Provider, model: str, messages: list[Message], opts: CallOptions
                ) -> tuple[AsyncGenerator[StreamItem, None], StreamItem | None]:
    """Start a provider's stream and wait for its first item (None: empty stream)."""
    agen = provider.stream(model, messages, opts)
    try:
        return agen, await anext(agen, None)
    except BaseException:
        await agen.aclose()
        raise


class _Meter:
    """Times one call and turns token counts into ``Usage``."""

    __slots__ = ("first", "start")

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.first: float | None = None

    def token(self) -> None:
        if self.first is None:
            self.first = time.perf_counter()

    def usage(self, link: str, counts: TokenCount, prompt: list[Message], text: str) -> Usage:
        provider, model = split_link(link)
        inp = counts.input_tokens
        if inp is None:
            inp = estimate_tokens("".join(m.content for m in prompt))
        out = counts.output_tokens if counts.output_tokens is not None else estimate_tokens(text)
        now = time.perf_counter()
        return Usage(
            provider=provider,
            model=model,
            input_tokens=inp,
            output_tokens=out,
            latency_ms=(now - self.start) * 1000,
            ttft_ms=(self.first - self.start) * 1000 if self.first is not None else None,
            cost_usd=estimate_cost(provider, model, inp, out),
        )


class LLMRouter:
    """Routes calls by task to chains of providers, with retries and fallback.

    Build it once per process with ``from_settings`` and share it: its SDK clients (and
    their connection pools) are created once. ``aclose()`` releases them.
    """

    def __init__(self, settings: LLMSettings, providers: dict[str, Provider]) -> None:
        self.settings = settings
        self.providers = providers
        self.policy = RetryPolicy(settings.max_retries, settings.backoff_base_s,
                                  settings.backoff_max_s)

    @classmethod
    def from_settings(cls, settings: LLMSettings | None = None) -> LLMRouter:
        """Build the router and its providers; missing keys never raise."""
        settings = settings or LLMSettings()
        return cls(settings, build_providers(settings))

    # -- configuration -------------------------------------------------------------

    def chain(self, task: str, model: str | None = None) -> list[str]:
        """The links a call of ``task`` will try, in order, available ones only.

        Args:
            task: one of ``TASKS``.
            model: a "provider:model" link to put first (the user's pick).

        Raises:
            ValueError: unknown task.
        """
        if task not in TASKS:
            raise ValueError(f"unknown task {task!r}; expected one of {TASKS}")
        links = ([model] if model else []) + self.settings.chain_for(task) + [EXTRACTIVE]
        seen: list[str] = []
        for link in links:
            provider = self.providers.get(split_link(link)[0])
            if provider is not None and provider.available and link not in seen:
                seen.append(link)
        return seen[: seen.index(EXTRACTIVE) + 1]

    def available_models(self) -> list[str]:
        """Every "provider:model" usable for ``answer``, the configured chain first."""
        out = self.chain("answer")
        for name, provider in self.providers.items():
            if provider.available:
                for model in provider.models():
                    link = f"{name}:{model}" if model else name
                    if link not in out:
                        out.append(link)
        return out

    def unavailable(self) -> dict[str, str]:
        """Providers that cannot be used, with the reason (e.g. "no OPENAI_API_KEY")."""
        return {n: p.unavailable_reason for n, p in self.providers.items() if not p.available}

    def _options(self, task: str, context: list[Passage] | None) -> CallOptions:
        return CallOptions(task, self.settings.max_tokens_for(task),
                           self.settings.temperature, context)

    # -- calls -----------------------------------------------------------------------

    async def stream(
        self,
        task: str,
        messages: list[Message],
        *,
        model: str | None = None,
        context: list[Passage] | None = None,
    ) -> AsyncGenerator[StreamEvent, None]:
        """Stream an answer: "token" events, "reset" on a failed link, then one "usage".

        Args:
            task: one of ``TASKS``.
            messages: the conversation, system messages first.
            model: "provider:model" to try first.
            context: passages for the extractive provider (LLM providers read only
                ``messages``; put the passages in the prompt for them).

        Raises:
            AuthenticationError, BadRequestError: at once, with the provider's message.
            AllProvidersFailedError: every link failed (cannot happen while the
                extractive provider closes the chain, unless it is misused).
        """
        opts = self._options(task, context)
        meter = _Meter()
        errors: list[LLMError] = []
        for link in self.chain(task, model):
            name, model_name = split_link(link)
            provider = self.providers[name]
            parts: list[str] = []
            counts = TokenCount()
            try:
                agen, item = await with_retries(
                    self.policy, functools.partial(_open, provider, model_name, messages, opts))
                try:
                    while item is not None:
                        if isinstance(item, str):
                            meter.token()
                            parts.append(item)
                            yield StreamEvent("token", text=item, provider=link)
                        else:
                            counts = item
                        item = await anext(agen, None)
                finally:
                    await agen.aclose()
            except _FATAL:
                raise
            except LLMError as exc:
                log.warning("link failed, trying the next: %s", exc)
                errors.append(exc)
                if parts:
                    meter.first = None  # time to first token counts the kept answer only
                    yield StreamEvent("reset", reason=str(exc), provider=link)
                continue
            usage = meter.usage(link, counts, messages, "".join(parts))
            yield StreamEvent("usage", usage=usage, provider=link)
            return
        raise AllProvidersFailedError(task, errors)

    async def complete(
        self,
        task: str,
        messages: list[Message],
        *,
        model: str | None = None,
        context: list[Passage] | None = None,
    ) -> Completion:
        """The whole answer at once (``stream`` collected; text before a reset dropped).

        Raises: as ``stream``.
        """
        parts: list[str] = []
        usage: Usage | None = None
        async for event in self.stream(task, messages, model=model, context=context):
            if event.kind == "token":
                parts.append(event.text)
            elif event.kind == "reset":
                parts.clear()
            else:
                usage = event.usage
        assert usage is not None
        return Completion("".join(parts), usage)

    async def structured(
        self,
        task: str,
        messages: list[Message],
        schema: type[T],
        *,
        model: str | None = None,
        context: list[Passage] | None = None,
        default: T | None = None,
    ) -> tuple[T, Usage]:
        """A validated ``schema`` instance from the first link that produces one.

        Each link gets one repair attempt when its output fails validation. When the
        chain reaches the extractive provider, ``default`` is returned (with zero usage).

        Raises:
            AuthenticationError, BadRequestError: at once, with the provider's message.
            AllProvidersFailedError: no link produced valid output and ``default`` is None.
        """
        opts = self._options(task, context)
        json_schema, name = st.schema_of(schema)
        prompt = st.with_instruction(messages, json_schema)
        meter = _Meter()
        errors: list[LLMError] = []
        for link in self.chain(task, model):
            provider_name, model_name = split_link(link)
            if provider_name == EXTRACTIVE:
                if default is None:
                    break
                return default, meter.usage(link, TokenCount(0, 0), [], "")
            provider = self.providers[provider_name]

            async def ask(msgs: list[Message], p: Provider = provider, m: str = model_name
                          ) -> tuple[str, TokenCount]:
                return await with_retries(
                    self.policy, lambda: p.structured(m, msgs, json_schema, name, opts)
                )

            try:
                obj, counts = await self._ask_and_repair(ask, schema, prompt, link)
            except _FATAL:
                raise
            except LLMError as exc:
                log.warning("link failed, trying the next: %s", exc)
                errors.append(exc)
                continue
            meter.token()
            return obj, meter.usage(link, counts, prompt, "")
        raise AllProvidersFailedError(task, errors)

    @staticmethod
    async def _ask_and_repair(ask: Callable[[list[Message]], Awaitable[tuple[str, TokenCount]]],
                              schema: type[T], prompt: list[Message], link: str
                              ) -> tuple[T, TokenCount]:
        raw, counts = await ask(prompt)
        try:
            return st.validate(schema, raw, link), counts
        except st.InvalidOutputError as exc:
            raw2, counts2 = await ask(st.repair_messages(prompt, raw, exc))
            total = TokenCount(
                (counts.input_tokens or 0) + (counts2.input_tokens or 0),
                (counts.output_tokens or 0) + (counts2.output_tokens or 0),
            )
            return st.validate(schema, raw2, link), total

    async def start(self) -> None:
        """Start the providers that run something themselves (the local model's child
        process), so the first question does not wait for it; never raises."""
        for provider in self.providers.values():
            if provider.available:
                await provider.start()

    def status(self) -> dict[str, dict[str, Any]]:
        """Provider name -> the state of what it runs (only providers that run something)."""
        return {n: s for n, p in self.providers.items() if (s := p.status()) is not None}

    async def aclose(self) -> None:
        """Close every provider's clients."""
        for provider in self.providers.values():
            await provider.aclose()
