"""The provider interface every backend implements, and helpers they share.

A provider turns messages into text deltas for one model. It knows nothing about
chains, retries or usage accounting: the router does that. A provider raises only
``agents.llm.errors`` errors: ``TransientError`` for what is worth retrying (timeouts,
connection errors, 429, 5xx), ``AuthenticationError`` / ``BadRequestError`` with the
provider's own message, ``LLMError`` for anything else.
"""

from __future__ import annotations

import email.utils
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass, field
from typing import Any

from agents.llm.errors import AuthenticationError, BadRequestError, LLMError, TransientError
from agents.llm.prices import ANSWER_MODELS
from agents.llm.types import Message, Passage


@dataclass
class CallOptions:
    """Per-call knobs the router passes to a provider.

    Args:
        task: "route", "answer", "review" or "title".
        max_tokens: output-token cap.
        temperature: sampling temperature (ignored by models that refuse one).
        context: retrieved passages (only the extractive provider reads them).
    """

    task: str
    max_tokens: int
    temperature: float
    context: list[Passage] | None = field(default=None)


@dataclass
class TokenCount:
    """Token counts a provider reports at the end of a call (None: not reported)."""

    input_tokens: int | None = None
    output_tokens: int | None = None


StreamItem = str | TokenCount


class Provider(ABC):
    """One backend (OpenAI, Anthropic, Gemini, local, extractive).

    Attributes:
        name: the provider part of "provider:model".
        available: False when it cannot be used (no key, no model file); never raises.
        unavailable_reason: why not, for ``LLMRouter.unavailable()``.
    """

    name: str = ""
    available: bool = True
    unavailable_reason: str = ""

    def requires(self, value: object, reason: str) -> bool:
        """Mark the provider available iff ``value`` (a key, a URL) is non-empty; never raises."""
        self.available = bool(value)  # an empty variable counts as missing
        self.unavailable_reason = "" if self.available else reason
        return self.available

    @classmethod
    def from_settings(cls, settings: Any) -> Provider:
        """Build the provider from ``LLMSettings`` (keyed providers take only those)."""
        return cls(settings)  # type: ignore[call-arg]

    def models(self) -> list[str]:
        """Model names this provider offers for the ``answer`` task (for a picker)."""
        return list(ANSWER_MODELS.get(self.name, []))

    @abstractmethod
    def stream(
        self, model: str, messages: list[Message], opts: CallOptions
    ) -> AsyncGenerator[StreamItem, None]:
        """Stream non-empty text deltas, then at most one ``TokenCount``."""

    @abstractmethod
    async def structured(
        self,
        model: str,
        messages: list[Message],
        schema: dict[str, Any],
        schema_name: str,
        opts: CallOptions,
    ) -> tuple[str, TokenCount]:
        """Ask for JSON matching ``schema`` (a JSON Schema dict); return the raw text."""

    async def start(self) -> None:
        """Start what the provider runs itself (the local model's process); default none."""

    def status(self) -> dict[str, Any] | None:
        """The state of what the provider runs itself, JSON-ready; None when stateless."""
        return None

    async def aclose(self) -> None:
        """Release clients and connection pools."""


def split_system(messages: list[Message]) -> tuple[str, list[Message]]:
    """Join the system messages into one string; return it and the other messages."""
    system = "\n\n".join(m.content for m in messages if m.role == "system")
    return system, [m for m in messages if m.role != "system"]


def parse_retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or HTTP date)."""
    if not headers:
        return None
    value = headers.get("retry-after-ms")
    if value:
        try:
            return max(0.0, float(value) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


def error_for_status(
    status: int, message: str, link: str, headers: Mapping[str, str] | None = None
) -> LLMError:
    """Map an HTTP status and the provider's message to the router's error class."""
    if status in (401, 403):
        return AuthenticationError(message, provider=link)
    if status in (408, 409, 429) or status >= 500:
        return TransientError(
            message, provider=link, retry_after=parse_retry_after(headers), status=status
        )
    if 400 <= status < 500:
        return BadRequestError(message, provider=link)
    return LLMError(message, provider=link)


def estimate_tokens(text: str) -> int:
    """A rough token count (4 characters a token) for servers that report none."""
    return max(1, (len(text) + 3) // 4) if text else 0


def _network_errors() -> tuple[type[BaseException], ...]:
    """Exception types that mean "the network or server failed", from every HTTP stack
    the SDKs use (httpx, httpx2, aiohttp) plus the standard library's."""
    import asyncio

    found: list[type[BaseException]] = [asyncio.TimeoutError, TimeoutError, ConnectionError]
    for module, names in (("httpx", ("TransportError", "TimeoutException", "StreamError")),
                          ("httpx2", ("TransportError", "TimeoutException", "StreamError")),
                          ("aiohttp", ("ClientError",))):
        try:
            mod = __import__(module)
        except ImportError:
            continue
        found += [getattr(mod, n) for n in names if hasattr(mod, n)]
    return tuple(found)


NETWORK_ERRORS = _network_errors()


def classify_network(exc: BaseException, link: str) -> LLMError:
    """Map a non-API exception: network failures are transient, the rest plain errors."""
    if isinstance(exc, LLMError):
        return exc
    if isinstance(exc, NETWORK_ERRORS):
        kind = "timed out" if isinstance(exc, TimeoutError) or "Timeout" in type(exc).__name__ \
            else "connection failed"
        return TransientError(f"{kind}: {type(exc).__name__}: {exc}".rstrip(": "), provider=link)
    return LLMError(f"{type(exc).__name__}: {exc}", provider=link)


def body_message(body: object, fallback: str) -> str:
    """The provider's own error message from a JSON error body, else ``fallback``."""
    if isinstance(body, dict):
        err = body.get("error", body)
        message = err.get("message") if isinstance(err, dict) else None
        if not isinstance(message, str):
            message = body.get("message")
        if isinstance(message, str):
            return message
    return fallback
