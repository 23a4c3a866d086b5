"""Chroma vector store: one collection per embedder, cosine space.

``make_client`` picks a PersistentClient under data_dir/chroma or, with
CHROMA_HOST set, an HttpClient to a Chroma server. The collection is always
opened with our registered embedding function, so Chroma's default one (which
downloads a model) is never used; vectors are computed by us and passed in.
All methods are synchronous: call them in a worker thread.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rag.config import RagSettings
from rag.embeddings.base import Embedder
from rag.embeddings.chroma_ef import DocChatEmbeddingFunction


@dataclass
class DenseHit:
    """One vector match: score = 1 - cosine distance (cosine similarity)."""

    chunk_id: str
    score: float
    text: str
    metadata: dict


def make_client(settings: RagSettings) -> Any:
    """A Chroma client for the settings (telemetry off)."""
    import chromadb
    from chromadb.config import Settings

    chroma_settings = Settings(anonymized_telemetry=False, allow_reset=False)
    if settings.chroma_host:
        return chromadb.HttpClient(
            host=settings.chroma_host, port=settings.chroma_port, settings=chroma_settings
        )
    path = settings.data_dir / "chroma"
    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=chroma_settings)


def collection_name(base: str, embedder: Embedder) -> str:
    """"<base>_<embedder name>" reduced to Chroma's allowed characters."""
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", f"{base}_{embedder.name}").strip("-_")
    return name[:60] or "docchat"


def scope_where(owner: str, thread_id: str | None, doc_id: str | None = None) -> dict:
    """A Chroma ``where`` filter for a scope (and optionally one document)."""
    clauses: list[dict] = [{"owner": owner}]
    if thread_id is not None:
        clauses.append({"thread_id": thread_id})
    if doc_id is not None:
        clauses.append({"doc_id": doc_id})
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


class ChromaStore:
    """Chunk vectors with their text and metadata in one Chroma collection."""

    def __init__(self, client: Any, name: str, embedder: Embedder) -> None:
        self.client = client
        self.collection = client.get_or_create_collection(
            name=name,
            embedding_function=DocChatEmbeddingFunction(embedder),
            configuration={"hnsw": {"space": "cosine"}},
        )
        try:
            self.max_batch = int(client.get_max_batch_size())
        except (AttributeError, NotImplementedError, ValueError, OSError):  # older servers
            self.max_batch = 1000

    def add(self, ids: Sequence[str], embeddings: np.ndarray, texts: Sequence[str],
            metadatas: Sequence[dict]) -> None:
        """Upsert chunks in batches of the client's max batch size."""
        for start in range(0, len(ids), self.max_batch):
            end = start + self.max_batch
            self.collection.upsert(
                ids=list(ids[start:end]), embeddings=embeddings[start:end],
                documents=list(texts[start:end]), metadatas=list(metadatas[start:end]),
            )

    def delete_ids(self, ids: Sequence[str]) -> None:
        """Delete chunks by id (missing ids are ignored)."""
        for start in range(0, len(ids), self.max_batch):
            self.collection.delete(ids=list(ids[start:start + self.max_batch]))

    def delete_where(self, where: dict) -> None:
        """Delete every chunk matching a filter."""
        self.collection.delete(where=where)

    def count(self, where: dict | None = None) -> int:
        """Chunks matching a filter (all chunks without one)."""
        if where is None:
            return int(self.collection.count())
        return len(self.collection.get(where=where, include=[])["ids"])

    def query(self, embedding: np.ndarray, where: dict, k: int) -> list[DenseHit]:
        """The k nearest chunks in the filter, best first."""
        res = self.collection.query(
            query_embeddings=np.asarray(embedding, dtype=np.float32).reshape(1, -1),
            n_results=k, where=where, include=["documents", "metadatas", "distances"],
        )
        ids, docs = res["ids"][0], res["documents"][0]
        metas, dists = res["metadatas"][0], res["distances"][0]
        return [
            DenseHit(i, 1.0 - float(d), t or "", dict(m or {}))
            for i, t, m, d in zip(ids, docs, metas, dists)
        ]

    def vectors(self, where: dict) -> dict[int, tuple[str, np.ndarray]]:
        """chunk_index -> (text, vector) of the chunks matching a filter."""
        res = self.collection.get(where=where, include=["documents", "metadatas", "embeddings"])
        return {
            int(m["chunk_index"]): (t or "", np.asarray(e, dtype=np.float32))
            for t, m, e in zip(res["documents"], res["metadatas"], res["embeddings"])
        }

    def close(self) -> None:
        """Release the client; Chroma stops a shared local system with its last client."""
        close = getattr(self.client, "close", None)
        if close is not None:
            close()

    def heartbeat(self) -> int:
        """The server's heartbeat (ns); raises if Chroma is unreachable."""
        return int(self.client.heartbeat())
