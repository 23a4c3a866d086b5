"""Our embedders as a registered Chroma embedding function ("docchat").

Chroma 1.x stores the embedding function's name and config with a collection
and rebuilds it on ``get_collection``; registering ours (at import of this
module, which ``rag.store.chroma`` imports before opening any collection)
means Chroma never falls back to its default function, which downloads a
model. The config holds only the embedder spec ("minilm",
"openai:text-embedding-3-small", ...), never a key.
"""

from __future__ import annotations

from typing import Any

from chromadb.api.types import Documents, EmbeddingFunction, Embeddings, Space
from chromadb.utils.embedding_functions import register_embedding_function

from rag.embeddings.base import Embedder

#: spec -> live embedder, so rebuilding from config reuses the loaded model.
_LIVE: dict[str, Embedder] = {}


@register_embedding_function
class DocChatEmbeddingFunction(EmbeddingFunction[Documents]):
    """Adapter from an ``Embedder`` to Chroma's EmbeddingFunction protocol."""

    def __init__(self, embedder: Embedder, spec: str | None = None) -> None:
        self.embedder = embedder
        self.spec = spec or getattr(embedder, "spec", None) or embedder.name
        _LIVE.setdefault(self.spec, embedder)

    def __call__(self, input: Documents) -> Embeddings:
        return list(self.embedder.embed(list(input)))

    @staticmethod
    def name() -> str:
        return "docchat"

    def default_space(self) -> Space:
        return "cosine"

    def supported_spaces(self) -> list[Space]:
        return ["cosine", "ip", "l2"]

    def get_config(self) -> dict[str, Any]:
        return {"embedder": self.spec, "dimensions": self.embedder.dimensions}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> DocChatEmbeddingFunction:
        spec = str(config.get("embedder", "minilm"))
        embedder = _LIVE.get(spec)
        if embedder is None:
            from rag.config import RagSettings
            from rag.embeddings import make_embedder

            embedder = make_embedder(RagSettings(embedder=spec))
        return DocChatEmbeddingFunction(embedder, spec)

    @staticmethod
    def validate_config(config: dict[str, Any]) -> None:
        if not isinstance(config.get("embedder", ""), str):
            raise TypeError("docchat embedding function config needs an 'embedder' string")
