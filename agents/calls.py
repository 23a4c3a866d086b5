"""Router calls that report to the run's observer (tokens, resets, usage).

Plain functions used by the nodes' ``exec``; ``router`` is an
:class:`agents.protocols.Router` (an ``agents.llm.LLMRouter`` in the app).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import NamedTuple, TypeVar

from pydantic import BaseModel

from agents.llm.router import EXTRACTIVE
from agents.llm.types import Message, Passage
from agents.observer import emit_reset, emit_token, emit_usage
from agents.protocols import Router

T = TypeVar("T", bound=BaseModel)


class Streamed(NamedTuple):
    """What :func:`stream_text` returns: the reply and the link that produced it
    (``None`` when the stream stopped at the extractive link, see ``stop_at_extractive``)."""

    text: str
    provider: str | None


async def stream_text(router: Router, task: str, messages: list[Message], *,
                      model: str | None = None,
                      context: Sequence[Passage] | None = None,
                      stop_at_extractive: bool = False) -> Streamed:
    """Stream a reply, forwarding each token, reset and usage to the observer.

    Args:
        router: the LLM router.
        task: router task, e.g. "answer".
        messages: the prompt.
        model: "provider:model" to try first, or None for the task's chain.
        context: passages for the extractive provider.
        stop_at_extractive: when every language model of the chain failed and the
            extractive provider (``agents.llm.router.EXTRACTIVE``) would answer, stop
            before any of its text reaches the observer and return ``Streamed("", None)``
            (the caller answers from retrieval evidence instead).
    Returns:
        the reply text after the last reset (what the user ends up seeing) and its link.
    Raises:
        agents.llm.errors.LLMError: the whole chain failed.
    """
    parts: list[str] = []
    provider: str | None = None
    stream = router.stream(task, messages, model=model,
                           context=list(context) if context is not None else None)
    async with contextlib.aclosing(stream):
        async for event in stream:
            if stop_at_extractive and event.provider == EXTRACTIVE:
                return Streamed("", None)
            if event.kind == "token":
                parts.append(event.text)
                await emit_token(event.text)
            elif event.kind == "reset":
                parts.clear()
                await emit_reset(event.reason or f"{event.provider} failed mid-stream")
            elif event.kind == "usage" and event.usage is not None:
                await emit_usage(event.usage)
                provider = event.provider
    return Streamed("".join(parts), provider)


async def structured_call(router: Router, task: str, messages: list[Message], schema: type[T],
                          *, default: T, context: Sequence[Passage] | None = None) -> T:
    """A structured decision; ``default`` is what the extractive provider returns.

    Returns:
        an instance of ``schema``.
    Raises:
        agents.llm.errors.LLMError: the whole chain failed.
    """
    value, usage = await router.structured(task, messages, schema, default=default,
                                           context=list(context) if context else None)
    if usage is not None:
        await emit_usage(usage)
    # a scripted fake may answer with a plain dict: validate it into the schema
    return value if isinstance(value, schema) else schema.model_validate(value)


async def emit_text(text: str) -> str:
    """Show a fixed reply as answer text (one token event); returns ``text``."""
    if text:
        await emit_token(text)
    return text


def answers_extractively(router: Router, model: str | None = None) -> bool:
    """True when the first link of the router's ``answer`` chain is the extractive
    provider (no language model configured, or none picked). A router without a
    ``chain`` method (a test double speaking the wire protocol) counts as a model."""
    chain = getattr(router, "chain", None)
    if chain is None:
        return False
    try:
        links = chain("answer", model)
    except ValueError:
        return False
    return bool(links) and links[0] == "extractive"
