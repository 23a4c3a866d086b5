"""Google Gemini through google-genai: streamGenerateContent and JSON response schema.

google-genai's async client uses aiohttp when it is installed, and applies
``timeout_s`` to the whole request (aiohttp ``total``), streaming included: a Gemini
answer that takes longer than ``timeout_s`` is cut, reset and passed to the next link.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from agents.llm.errors import AuthenticationError, LLMError, TransientError
from agents.llm.providers.base import (
    CallOptions,
    Provider,
    StreamItem,
    TokenCount,
    body_message,
    classify_network,
    error_for_status,
    split_system,
)
from agents.llm.settings import LLMSettings
from agents.llm.types import Message


def _retry_delay(body: object) -> float | None:
    """Gemini's 429 body carries ``RetryInfo.retryDelay`` ("7s") instead of a header."""
    details = body.get("error", {}).get("details", []) if isinstance(body, dict) else []
    for detail in details if isinstance(details, list) else []:
        delay = detail.get("retryDelay") if isinstance(detail, dict) else None
        if isinstance(delay, str) and delay.endswith("s"):
            try:
                return float(delay[:-1])
            except ValueError:
                return None
    return None


def _reasons(body: object) -> set[str]:
    details = body.get("error", {}).get("details", []) if isinstance(body, dict) else []
    return {d.get("reason", "") for d in details if isinstance(d, dict)}


def classify(exc: BaseException, link: str) -> LLMError:
    """Map a google-genai exception to ours.

    Gemini answers a wrong key with 400 INVALID_ARGUMENT and reason API_KEY_INVALID:
    that is reported as an authentication error.
    """
    if isinstance(exc, genai_errors.APIError):
        headers = getattr(getattr(exc, "response", None), "headers", None)
        message = exc.message or body_message(exc.details, str(exc))
        if "API_KEY_INVALID" in _reasons(exc.details):
            return AuthenticationError(message, provider=link)
        err = error_for_status(exc.code or 500, message, link, headers)
        if isinstance(err, TransientError) and err.retry_after is None:
            err.retry_after = _retry_delay(exc.details)
        return err
    return classify_network(exc, link)


class GeminiProvider(Provider):
    """Gemini over one reused ``genai.Client`` (one attempt: the router retries).

    Args:
        settings: key (GEMINI_API_KEY; None makes it unavailable), base URL, timeout.
    """

    name = "gemini"

    def __init__(self, settings: LLMSettings) -> None:
        self.client: genai.Client | None = None
        if self.requires(settings.gemini_api_key, "no GEMINI_API_KEY"):
            self.client = genai.Client(
                api_key=settings.gemini_api_key,
                http_options=types.HttpOptions(
                    base_url=settings.gemini_base_url,
                    timeout=int(settings.timeout_s * 1000),
                    retry_options=types.HttpRetryOptions(attempts=1),
                ),
            )

    @staticmethod
    def _request(model: str, messages: list[Message], opts: CallOptions,
                 **extra: Any) -> dict[str, Any]:
        system, rest = split_system(messages)
        contents = [
            types.Content(role="model" if m.role == "assistant" else "user",
                          parts=[types.Part(text=m.content)])
            for m in rest
        ]
        config = types.GenerateContentConfig(
            system_instruction=system or None,
            max_output_tokens=opts.max_tokens,
            temperature=opts.temperature,
            # 2.5 Flash models think by default and spend the output budget on it.
            thinking_config=types.ThinkingConfig(thinking_budget=0)
            if model.startswith("gemini-2.5-flash") else None,
            **extra,
        )
        return {"model": model, "contents": contents, "config": config}

    @staticmethod
    def _counts(meta: Any, counts: TokenCount) -> TokenCount:
        if meta is None:
            return counts
        return TokenCount(meta.prompt_token_count, meta.candidates_token_count)

    @staticmethod
    def _text(response: Any) -> str:
        parts = []
        for cand in response.candidates or []:
            for part in (cand.content.parts if cand.content else None) or []:
                if part.text and not part.thought:
                    parts.append(part.text)
        return "".join(parts)

    async def stream(
        self, model: str, messages: list[Message], opts: CallOptions
    ) -> AsyncGenerator[StreamItem, None]:
        assert self.client is not None
        link = f"{self.name}:{model}"
        counts = TokenCount()
        try:
            stream = await self.client.aio.models.generate_content_stream(
                **self._request(model, messages, opts)
            )
            async for chunk in stream:
                counts = self._counts(chunk.usage_metadata, counts)
                text = self._text(chunk)
                if text:
                    yield text
        except Exception as exc:
            raise classify(exc, link) from exc
        yield counts

    async def structured(self, model: str, messages: list[Message], schema: dict[str, Any],
                         schema_name: str, opts: CallOptions) -> tuple[str, TokenCount]:
        assert self.client is not None
        link = f"{self.name}:{model}"
        try:
            resp = await self.client.aio.models.generate_content(
                **self._request(model, messages, opts,
                                response_mime_type="application/json",
                                response_json_schema=schema)
            )
        except Exception as exc:
            raise classify(exc, link) from exc
        return self._text(resp), self._counts(resp.usage_metadata, TokenCount())

    async def aclose(self) -> None:
        if self.client is not None:
            await self.client.aio.aclose()
