"""Bounded exponential backoff that honours Retry-After.

Why our own loop and not the SDKs' retries or tenacity: the SDKs are built with
``max_retries=0`` (google-genai with one attempt) so that one policy, set in
``LLMSettings``, governs all three providers and the tests can shrink it; and what is
retried is "open the stream and receive its first item", after which a failure must not
be retried on the same link but reported as a ``reset`` and passed to the next link.
That boundary is a dozen lines here; expressed with tenacity it needs the same code plus
a custom wait strategy for Retry-After. A Retry-After longer than ``backoff_max_s`` is
not slept through: the link is given up so the next provider can answer now.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from agents.llm.errors import TransientError

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How a link is retried.

    Args:
        max_retries: retries after the first attempt (0 = one attempt).
        base_s: first backoff in seconds; doubled each retry; jitter in [50%, 100%].
        max_s: cap of one backoff; a longer Retry-After gives the link up.
    """

    max_retries: int = 2
    base_s: float = 0.5
    max_s: float = 20.0

    def delay(self, attempt: int, retry_after: float | None) -> float | None:
        """Seconds to sleep before retry ``attempt`` (0-based), or None to give up."""
        if attempt >= self.max_retries:
            return None
        if retry_after is not None:
            return retry_after if retry_after <= self.max_s else None
        backoff: float = min(self.max_s, self.base_s * (2**attempt))
        return backoff * random.uniform(0.5, 1.0)


async def with_retries(policy: RetryPolicy, call: Callable[[], Awaitable[T]]) -> T:
    """Await ``call()``; on ``TransientError`` sleep per ``policy`` and call again.

    Raises:
        TransientError: the last one, when the retries are spent or Retry-After is
            longer than the policy's cap. Other errors propagate at once.
    """
    attempt = 0
    while True:
        try:
            return await call()
        except TransientError as exc:
            delay = policy.delay(attempt, exc.retry_after)
            if delay is None:
                raise
            attempt += 1
            await asyncio.sleep(delay)
