"""Embedders: the offline MiniLM default and OpenAI / Gemini options.

``make_embedder(settings)`` reads ``settings.embedder``:
"minilm" | "openai:<model>" | "gemini:<model>".
"""

from __future__ import annotations

from rag.config import RagSettings
from rag.embeddings.base import Embedder, l2_normalise

__all__ = ["Embedder", "l2_normalise", "make_embedder"]


def make_embedder(settings: RagSettings) -> Embedder:
    """Build the configured embedder.

    Raises:
        ValueError: unknown embedder spec or missing API key.
    """
    spec = settings.embedder.strip()
    provider, _, model = spec.partition(":")
    provider = provider.lower()
    if provider == "minilm":
        from rag.embeddings.minilm import MiniLMEmbedder

        embedder: Embedder = MiniLMEmbedder()
    elif provider == "openai":
        from rag.embeddings.remote import OpenAIEmbedder

        embedder = OpenAIEmbedder(model or "text-embedding-3-small",
                                  api_key=settings.openai_api_key,
                                  base_url=settings.openai_base_url)
    elif provider == "gemini":
        from rag.embeddings.remote import GeminiEmbedder

        embedder = GeminiEmbedder(model or "text-embedding-004",
                                  api_key=settings.gemini_api_key,
                                  base_url=settings.gemini_base_url)
    else:
        raise ValueError(
            f"unknown embedder {spec!r}: use 'minilm', 'openai:<model>' or 'gemini:<model>'"
        )
    embedder.spec = spec  # type: ignore[attr-defined]
    return embedder
