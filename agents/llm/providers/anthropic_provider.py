"""Anthropic Messages API: streamed text, and structured output by forced tool use.

No temperature is sent: the SDK in use (anthropic 2.x) no longer accepts sampling
parameters on ``messages.create``; the models' defaults apply.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from typing import Any

import anthropic

from agents.llm.providers.base import (
    CallOptions,
    Provider,
    StreamItem,
    TokenCount,
    split_system,
)
from agents.llm.providers.openai_provider import classify_stainless
from agents.llm.settings import LLMSettings
from agents.llm.types import Message


class AnthropicProvider(Provider):
    """Messages over one reused ``anthropic.AsyncAnthropic`` client (``max_retries=0``).

    Args:
        settings: key (ANTHROPIC_API_KEY; None makes it unavailable), base URL, timeouts.
    """

    name = "anthropic"

    def __init__(self, settings: LLMSettings) -> None:
        self.client: anthropic.AsyncAnthropic | None = None
        if self.requires(settings.anthropic_api_key, "no ANTHROPIC_API_KEY"):
            self.client = anthropic.AsyncAnthropic(
                api_key=settings.anthropic_api_key,
                base_url=settings.anthropic_base_url,
                max_retries=0,
                timeout=anthropic.Timeout(settings.timeout_s,
                                          connect=settings.connect_timeout_s),
            )

    @staticmethod
    def _params(model: str, messages: list[Message], opts: CallOptions) -> dict[str, Any]:
        system, rest = split_system(messages)
        params: dict[str, Any] = {
            "model": model,
            "max_tokens": opts.max_tokens,
            "messages": [{"role": m.role, "content": m.content} for m in rest],
        }
        if system:
            params["system"] = system
        return params

    async def stream(
        self, model: str, messages: list[Message], opts: CallOptions
    ) -> AsyncGenerator[StreamItem, None]:
        assert self.client is not None
        link = f"{self.name}:{model}"
        counts = TokenCount()
        try:
            stream = await self.client.messages.create(
                **self._params(model, messages, opts), stream=True
            )
            async with stream:
                async for event in stream:
                    if event.type == "content_block_delta" and event.delta.type == "text_delta":
                        if event.delta.text:
                            yield event.delta.text
                    elif event.type == "message_start":
                        counts.input_tokens = event.message.usage.input_tokens
                    elif event.type == "message_delta" and event.usage is not None:
                        counts.output_tokens = event.usage.output_tokens
        except Exception as exc:
            raise classify_stainless(exc, link, anthropic) from exc
        yield counts

    async def structured(self, model: str, messages: list[Message], schema: dict[str, Any],
                         schema_name: str, opts: CallOptions) -> tuple[str, TokenCount]:
        assert self.client is not None
        link = f"{self.name}:{model}"
        tool = {"name": schema_name, "description": "Record the answer as structured data.",
                "input_schema": schema}
        try:
            # the parameters are assembled in _params: no overload matches a dict
            resp = await self.client.messages.create(  # type: ignore[call-overload]
                **self._params(model, messages, opts),
                tools=[tool],
                tool_choice={"type": "tool", "name": schema_name},
            )
        except Exception as exc:
            raise classify_stainless(exc, link, anthropic) from exc
        counts = TokenCount(resp.usage.input_tokens, resp.usage.output_tokens)
        for block in resp.content:
            if block.type == "tool_use":
                return json.dumps(block.input), counts
        text = "".join(getattr(b, "text", "") for b in resp.content)
        return text, counts

    async def aclose(self) -> None:
        if self.client is not None:
            await self.client.close()
