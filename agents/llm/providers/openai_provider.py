"""OpenAI chat completions, and any OpenAI-compatible server by base URL.

Two providers share this class: ``openai`` (OPENAI_API_KEY, optional OPENAI_BASE_URL)
and ``compat`` (DOCCHAT_LLM_COMPAT_BASE_URL: Ollama, vLLM, LM Studio, llama.cpp's
server). Streams use ``stream_options.include_usage`` for token counts. Structured
calls use ``response_format`` ``json_schema`` on OpenAI; on compatible servers the
``json_object`` mode with the schema attached (the form llama-cpp-python's server
accepts; Ollama, vLLM and llama.cpp's llama-server accept it too), or ``json_schema``
when DOCCHAT_LLM_COMPAT_JSON_MODE says so.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import openai

from agents.llm.errors import LLMError, TransientError
from agents.llm.prices import ANSWER_MODELS
from agents.llm.providers.base import (
    CallOptions,
    Provider,
    StreamItem,
    TokenCount,
    body_message,
    classify_network,
    error_for_status,
)
from agents.llm.settings import LLMSettings
from agents.llm.types import Message

_NO_TEMPERATURE = ("gpt-5", "o1", "o3", "o4")


def classify_stainless(exc: BaseException, link: str, sdk: Any) -> LLMError:
    """Map an OpenAI or Anthropic SDK exception (both share one shape) to ours."""
    if isinstance(exc, sdk.APIStatusError):
        message = body_message(exc.body, exc.message)
        return error_for_status(exc.status_code, message, link, exc.response.headers)
    if isinstance(exc, sdk.APITimeoutError):
        return TransientError("request timed out", provider=link)
    if isinstance(exc, sdk.APIConnectionError):
        return TransientError(f"connection failed: {exc}", provider=link)
    if isinstance(exc, sdk.APIError):  # an error event inside a stream
        return TransientError(body_message(exc.body, exc.message), provider=link)
    return classify_network(exc, link)


class OpenAIProvider(Provider):
    """Chat completions over one reused ``openai.AsyncOpenAI`` client.

    Args:
        name: "openai" or "compat".
        settings: timeouts; the client is built with ``max_retries=0`` (the router
            retries).
        api_key: the key; None makes the provider unavailable.
        base_url: the server, None for OpenAI itself.
        models: the models to offer in the picker.
        token_param: "max_completion_tokens" (OpenAI) or "max_tokens" (compat servers).
        json_mode: "json_schema" (OpenAI's structured outputs) or "json_object" (JSON mode
            with the schema attached, which llama-cpp-python's server requires).
    """

    def __init__(self, name: str, settings: LLMSettings, api_key: str | None,
                 base_url: str | None, models: list[str], token_param: str,
                 unavailable_reason: str = "", json_mode: str = "json_schema") -> None:
        self.name = name
        self._models = models
        self._token_param = token_param
        self._json_mode = json_mode
        self.client: openai.AsyncOpenAI | None = None
        if self.requires(api_key, unavailable_reason):
            self.client = openai.AsyncOpenAI(
                api_key=api_key,
                base_url=base_url,
                max_retries=0,
                timeout=openai.Timeout(settings.timeout_s, connect=settings.connect_timeout_s),
            )

    @classmethod
    def from_settings(cls, settings: LLMSettings) -> OpenAIProvider:
        """The ``openai`` provider (needs OPENAI_API_KEY)."""
        return cls("openai", settings, settings.openai_api_key, settings.openai_base_url,
                   ANSWER_MODELS["openai"], "max_completion_tokens", "no OPENAI_API_KEY")

    @classmethod
    def compat_from_settings(cls, settings: LLMSettings) -> OpenAIProvider:
        """The ``compat`` provider (needs DOCCHAT_LLM_COMPAT_BASE_URL)."""
        key = settings.compat_api_key if settings.compat_base_url else None
        return cls("compat", settings, key, settings.compat_base_url,
                   settings.compat_models, "max_tokens", "no DOCCHAT_LLM_COMPAT_BASE_URL",
                   settings.compat_json_mode)

    def models(self) -> list[str]:
        return list(self._models)

    def _params(self, model: str, messages: list[Message], opts: CallOptions) -> dict[str, Any]:
        params: dict[str, Any] = {
            "model": model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            self._token_param: opts.max_tokens,
        }
        if not model.startswith(_NO_TEMPERATURE):
            params["temperature"] = opts.temperature
        return params

    async def stream(
        self, model: str, messages: list[Message], opts: CallOptions
    ) -> AsyncGenerator[StreamItem, None]:
        assert self.client is not None
        link = f"{self.name}:{model}"
        counts = TokenCount()
        try:
            stream = await self.client.chat.completions.create(
                **self._params(model, messages, opts),
                stream=True,
                stream_options={"include_usage": True},
            )
            async with stream:
                async for chunk in stream:
                    if chunk.usage is not None:
                        counts = TokenCount(chunk.usage.prompt_tokens,
                                            chunk.usage.completion_tokens)
                    for choice in chunk.choices:
                        if choice.delta is not None and choice.delta.content:
                            yield choice.delta.content
        except Exception as exc:
            raise classify_stainless(exc, link, openai) from exc
        yield counts

    async def structured(self, model: str, messages: list[Message], schema: dict[str, Any],
                         schema_name: str, opts: CallOptions) -> tuple[str, TokenCount]:
        if self._json_mode == "json_schema":
            fmt = {"type": "json_schema",
                   "json_schema": {"name": schema_name, "schema": schema, "strict": False}}
        else:  # JSON mode; servers that can (llama.cpp) constrain it to the schema
            fmt = {"type": "json_object", "schema": schema}
        return await self._structured(f"{self.name}:{model}", model, messages, opts, fmt)

    async def _structured(self, link: str, model: str, messages: list[Message],
                          opts: CallOptions, fmt: dict[str, Any]) -> tuple[str, TokenCount]:
        assert self.client is not None
        try:
            resp = await self.client.chat.completions.create(  # type: ignore[call-overload]
                **self._params(model, messages, opts), response_format=fmt
            )  # (the parameters are assembled in _params: no overload matches a dict)
        except Exception as exc:
            raise classify_stainless(exc, link, openai) from exc
        text = (resp.choices[0].message.content or "") if resp.choices else ""
        usage = resp.usage
        counts = TokenCount(usage.prompt_tokens, usage.completion_tokens) if usage else TokenCount()
        return text, counts

    async def aclose(self) -> None:
        if self.client is not None:
            await self.client.close()
