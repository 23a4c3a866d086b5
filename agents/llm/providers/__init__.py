"""Provider backends of the router and the factory that builds them from settings."""

from __future__ import annotations

from collections.abc import Callable

from agents.llm.providers.base import Provider
from agents.llm.providers.extractive import ExtractiveProvider
from agents.llm.settings import LLMSettings


def build_providers(settings: LLMSettings) -> dict[str, Provider]:
    """Every provider by name; those without a key or model are marked unavailable.

    Never raises for missing keys, missing SDK extras or a missing model file.
    """
    providers: dict[str, Provider] = {}
    for factory in _factories():
        provider = factory(settings)
        providers[provider.name] = provider
    providers["extractive"] = ExtractiveProvider()
    return providers


def _factories() -> tuple[Callable[[LLMSettings], Provider], ...]:
    from agents.llm.providers.anthropic_provider import AnthropicProvider
    from agents.llm.providers.gemini_provider import GeminiProvider
    from agents.llm.providers.local_provider import LocalProvider
    from agents.llm.providers.openai_provider import OpenAIProvider

    return (
        OpenAIProvider.from_settings,
        OpenAIProvider.compat_from_settings,
        AnthropicProvider.from_settings,
        GeminiProvider.from_settings,
        LocalProvider.from_settings,
    )


__all__ = ["Provider", "build_providers"]
