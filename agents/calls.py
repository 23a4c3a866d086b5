"""Router calls that report to the run's observer (tokens, resets, usage).

Plain functions used by the nodes' ``exec``; ``router`` is an ``agents.llm.LLMRouter``
or anything with the same ``stream`` / ``structured`` methods.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any, TypeVar

from agents.llm.types import Message, Passage
from agents.observer import emit_reset, emit_token, emit_usage

T = TypeVar("T")


async def stream_text(router: Any, task: str, messages: list[Message], *,
                      model: str | None = None,
                      context: Sequence[Passage] | None = None) -> str:
    """Stream a reply, forwarding each token, reset and usage to the observer.

    Args:
        router: the LLM router.
        task: router task, e.g. "answer".
        messages: the prompt.
        model: "provider:model" to try first, or None for the task's chain.
        context: passages for the extractive provider.
    Returns:
        the reply text after the last reset (what the user ends up seeing).
    Raises:
        agents.llm.errors.LLMError: the whole chain failed.
    """
    parts: list[str] = []
    stream = router.stream(task, messages, model=model,
                           context=list(context) if context is not None else None)
    async with contextlib.aclosing(stream):
        async for event in stream:
            if event.kind == "token":
                parts.append(event.text)
                await emit_token(event.text)
            elif event.kind == "reset":
                parts.clear()
                await emit_reset(event.reason or f"{event.provider} failed mid-stream")
            elif event.kind == "usage" and event.usage is not None:
                await emit_usage(event.usage)
    return "".join(parts)


async def structured_call(router: Any, task: str, messages: list[Message], schema: type[T],
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
    return value if isinstance(value, schema) else schema.model_validate(value)  # type: ignore


async def emit_text(text: str) -> str:
    """Show a fixed reply as answer text (one token event); returns ``text``."""
    if text:
        await emit_token(text)
    return text
