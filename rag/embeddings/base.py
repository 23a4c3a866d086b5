"""The Embedder protocol every embedding backend implements."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into unit vectors.

    Attributes:
        name: stable id stored with the collection, e.g. "minilm-int8".
        dimensions: vector length d.
        max_tokens: longest input (in the model's tokens) that is not truncated.
    """

    name: str
    dimensions: int
    max_tokens: int

    def embed(self, texts: list[str]) -> np.ndarray:
        """Embed texts synchronously (call it via ``asyncio.to_thread``).

        Returns:
            float32 array of shape (len(texts), dimensions), each row L2-normalised.
        """
        ...


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (float32); zero rows stay zero."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit: np.ndarray = vectors / np.maximum(norms, 1e-12)
    return unit


async def embed_async(embedder: Embedder, texts: list[str]) -> np.ndarray:
    """Embed off the event loop: the embedder's ``aembed`` if it has one, else
    ``embed`` in a worker thread."""
    import asyncio

    aembed = getattr(embedder, "aembed", None)
    if aembed is not None:
        vectors: np.ndarray = await aembed(texts)
        return vectors
    return await asyncio.to_thread(embedder.embed, texts)
