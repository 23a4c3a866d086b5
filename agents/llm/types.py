"""Plain data shapes shared by the router, its providers and its callers.

These are the public types of ``agents.llm`` (exported by ``agents.llm.__init__``).
They are deliberately dataclasses, not pydantic models: they cross the router on every
token, and constructing a dataclass is the cheapest thing Python offers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Role = Literal["system", "user", "assistant"]


@dataclass
class Message:
    """One chat message.

    Args:
        role: "system", "user" or "assistant".
        content: the message text.
    """

    role: Role
    content: str


@dataclass
class Passage:
    """A retrieved passage given to a call as context (what ``[n]`` cites).

    Args:
        n: the citation number shown to the user, 1-based.
        text: the passage text.
        source: the file name it came from.
        page: 1-based PDF page, or None.
        chunk_id: the store's chunk id, "" when unknown.
    """

    n: int
    text: str
    source: str
    page: int | None = None
    chunk_id: str = ""


@dataclass
class Usage:
    """What one call cost.

    Args:
        provider: provider name, e.g. "openai".
        model: model name, e.g. "gpt-4.1-mini".
        input_tokens: prompt tokens (the provider's count; estimated as chars/4 when
            a server reports none).
        output_tokens: generated tokens (same rule).
        latency_ms: wall time of the whole call in milliseconds, retries included.
        ttft_ms: milliseconds from the call to the first token, None without tokens.
        cost_usd: estimated cost in US dollars from ``agents.llm.prices``; None when the
            model is not in the price table.
    """

    provider: str
    model: str
    input_tokens: int
    output_tokens: int
    latency_ms: float
    ttft_ms: float | None
    cost_usd: float | None


@dataclass
class StreamEvent:
    """One event of ``LLMRouter.stream``.

    kind:
        "token": ``text`` is the next piece of the answer.
        "reset": a provider failed after emitting tokens; discard all text received so
            far, the next provider starts again. ``reason`` says why.
        "usage": sent once, last, at the end of a successful stream; ``usage`` is set.
    ``provider`` is the "provider:model" link that produced the event.
    """

    kind: Literal["token", "reset", "usage"]
    text: str = ""
    usage: Usage | None = None
    reason: str = ""
    provider: str = ""


@dataclass
class Completion:
    """The result of ``LLMRouter.complete``: the full text and its usage."""

    text: str
    usage: Usage
