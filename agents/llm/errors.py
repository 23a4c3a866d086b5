"""Errors raised by ``agents.llm``.

Callers only need ``LLMError`` (catch-all), ``AuthenticationError`` and
``BadRequestError`` (raised at once, never retried, carrying the provider's own message)
and ``AllProvidersFailedError`` (every link of a chain failed; ``errors`` lists why).
``TransientError`` is internal: a provider raises it for timeouts, connection errors,
429 and 5xx; the router retries it with backoff and then moves to the next link.
"""

from __future__ import annotations


class LLMError(Exception):
    """Base of every error raised by the router.

    Attributes:
        provider: the "provider:model" link that failed, "" when not tied to one.
    """

    def __init__(self, message: str, *, provider: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider

    def __str__(self) -> str:
        return f"{self.provider}: {self.message}" if self.provider else self.message


class AuthenticationError(LLMError):
    """The provider refused the credentials (HTTP 401/403). Not retried."""


class BadRequestError(LLMError):
    """The provider refused the request itself (HTTP 400/404/422). Not retried."""


class TransientError(LLMError):
    """Timeout, connection error, 429 or 5xx: worth retrying.

    Attributes:
        retry_after: seconds the provider asked us to wait (Retry-After), or None.
        status: the HTTP status, or None for timeouts and connection errors.
    """

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        retry_after: float | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message, provider=provider)
        self.retry_after = retry_after
        self.status = status


class InvalidOutputError(LLMError):
    """A structured call returned output that failed validation, even after repair."""


class AllProvidersFailedError(LLMError):
    """Every link of the chain failed.

    Attributes:
        errors: one ``LLMError`` per link tried, in chain order.
    """

    def __init__(self, task: str, errors: list[LLMError]) -> None:
        lines = "; ".join(str(e) for e in errors) or "no provider available"
        super().__init__(f"all providers failed for task {task!r}: {lines}")
        self.errors = errors
