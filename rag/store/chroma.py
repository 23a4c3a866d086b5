"""Chroma vector store: one collection per (embedder, owner), cosine space.

``make_client`` picks a PersistentClient under data_dir/chroma or, with
CHROMA_HOST set, an HttpClient to a Chroma server. The collection is always
opened with our registered embedding function, so Chroma's default one (which
downloads a model) is never used; vectors are computed by us and passed in.
All methods are synchronous: call them in a worker thread.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from chromadb.errors import NotFoundError

from rag.config import RagSettings
from rag.embeddings.base import Embedder
from rag.embeddings.chroma_ef import DocChatEmbeddingFunction

#: Chunks per ``upsert`` call. Local Chroma holds Python's GIL for the whole call
#: (~150-170 ms for a 200-chunk document, measured by scripts/bench_load.py's stack
#: probe), which stalls the app's event loop; 16 chunks keep one hold short.
WRITE_BATCH = 16


@dataclass
class DenseHit:
    """One vector match: score = 1 - cosine distance (cosine similarity)."""

    chunk_id: str
    score: float
    text: str
    metadata: dict[str, Any]


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


def collection_name(base: str, embedder: Embedder, owner: str | None = None) -> str:
    """"<base>_<embedder name>[_<sha256(owner)[:16]>]" in Chroma's allowed characters."""
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", f"{base}_{embedder.name}").strip("-_")[:60]
    name = name or "docchat"
    if owner is not None:
        name += "_" + hashlib.sha256(owner.encode()).hexdigest()[:16]
    return name


def scope_where(owner: str, thread_id: str | None, doc_id: str | None = None) -> dict[str, Any]:
    """A Chroma ``where`` filter for a scope (and optionally one document)."""
    clauses: list[dict[str, Any]] = [{"owner": owner}]
    if thread_id is not None:
        clauses.append({"thread_id": thread_id})
    if doc_id is not None:
        clauses.append({"doc_id": doc_id})
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


class ChromaStore:
    """Chunk vectors with their text and metadata: one Chroma collection per owner.

    A search only ever opens the caller's own collection, so isolation between
    users does not rest on a metadata filter; it also makes the owner-wide search
    unfiltered, which Chroma answers in a few ms where a metadata filter over
    10,000 chunks costs ~80 ms (measured here). Chunks still carry owner/thread
    metadata, and every read and delete also filters on it.
    """

    def __init__(self, client: Any, base_name: str, embedder: Embedder) -> None:
        self.client = client
        self.base_name = base_name
        self.embedder = embedder
        self.embedding_function = DocChatEmbeddingFunction(embedder)
        self._collections: dict[str, Any] = {}
        self._lock = threading.Lock()
        try:
            self.max_batch = int(client.get_max_batch_size())
        except (AttributeError, NotImplementedError, ValueError, OSError):  # older servers
            self.max_batch = 1000

    def collection_for(self, owner: str, create: bool = False) -> Any | None:
        """The owner's collection; None if it does not exist and ``create`` is False."""
        with self._lock:
            if owner in self._collections:
                return self._collections[owner]
            name = collection_name(self.base_name, self.embedder, owner)
            if create:
                col = self.client.get_or_create_collection(
                    name=name, embedding_function=self.embedding_function,
                    configuration={"hnsw": {"space": "cosine"}},
                    metadata={"owner_sha256": name.rsplit("_", 1)[1]})
            else:
                try:
                    col = self.client.get_collection(
                        name=name, embedding_function=self.embedding_function)
                except NotFoundError:
                    return None
            self._collections[owner] = col
            return col

    def add(self, owner: str, ids: Sequence[str], embeddings: np.ndarray,
            texts: Sequence[str], metadatas: Sequence[dict[str, Any]]) -> None:
        """Upsert an owner's chunks, ``WRITE_BATCH`` at a time (at most the client's max)."""
        if any(m.get("owner") != owner for m in metadatas):
            raise ValueError("every chunk must carry the collection's owner")
        col = self.collection_for(owner, create=True)
        assert col is not None  # create=True always returns one
        step = max(1, min(WRITE_BATCH, self.max_batch))
        for start in range(0, len(ids), step):
            end = start + step
            col.upsert(
                ids=list(ids[start:end]), embeddings=embeddings[start:end],
                documents=list(texts[start:end]), metadatas=list(metadatas[start:end]),
            )

    def delete_ids(self, owner: str, ids: Sequence[str]) -> None:
        """Delete chunks by id (missing ids are ignored)."""
        col = self.collection_for(owner)
        if col is None:
            return
        for start in range(0, len(ids), self.max_batch):
            col.delete(ids=list(ids[start:start + self.max_batch]))

    def delete_where(self, owner: str, where: dict[str, Any]) -> None:
        """Delete every chunk of the owner matching a filter."""
        col = self.collection_for(owner)
        if col is not None:
            col.delete(where=where)

    def count(self, owner: str, where: dict[str, Any] | None = None) -> int:
        """The owner's chunks matching a filter (all of them without one)."""
        col = self.collection_for(owner)
        if col is None:
            return 0
        if where is None:
            return int(col.count())
        return len(col.get(where=where, include=[])["ids"])

    def query(self, owner: str, embedding: np.ndarray, thread_id: str | None,
              k: int, with_text: bool = True) -> list[DenseHit]:
        """The k nearest chunks of the owner (of one thread if given), best first;
        ``with_text=False`` leaves each hit's text empty (not read from the store)."""
        col = self.collection_for(owner)
        if col is None or k <= 0:
            return []
        res = col.query(
            query_embeddings=np.asarray(embedding, dtype=np.float32).reshape(1, -1),
            n_results=k, where={"thread_id": thread_id} if thread_id is not None else None,
            include=["documents", "metadatas", "distances"] if with_text
            else ["metadatas", "distances"],
        )
        ids = res["ids"][0]
        docs = res["documents"][0] if with_text else [""] * len(ids)
        metas, dists = res["metadatas"][0], res["distances"][0]
        return [
            DenseHit(i, 1.0 - float(d), t or "", dict(m or {}))
            for i, t, m, d in zip(ids, docs, metas, dists)
            if (m or {}).get("owner") == owner
        ]

    def nearest_ids(self, owner: str, embedding: np.ndarray,
                    ids: Sequence[str]) -> list[DenseHit]:
        """The owner's entries of these ids (missing ones are skipped), scored by exact
        cosine to ``embedding`` (unit vectors), best first; for a few documents' chunks,
        not a whole collection."""
        col = self.collection_for(owner)
        if col is None or not ids:
            return []
        res = col.get(ids=list(ids), include=["documents", "metadatas", "embeddings"])
        if not res["ids"]:
            return []
        matrix = np.asarray(res["embeddings"], dtype=np.float32).reshape(len(res["ids"]), -1)
        scores = matrix @ np.asarray(embedding, dtype=np.float32)
        order = sorted(range(len(scores)), key=lambda i: (-scores[i], res["ids"][i]))
        return [DenseHit(res["ids"][i], float(scores[i]), res["documents"][i] or "",
                         dict(res["metadatas"][i] or {}))
                for i in order if (res["metadatas"][i] or {}).get("owner") == owner]

    def vectors(self, owner: str, where: dict[str, Any]) -> dict[int, tuple[str, np.ndarray]]:
        """chunk_index -> (text, vector) of the owner's entries matching a filter (a
        document vector, without chunk_index, is index 0)."""
        col = self.collection_for(owner)
        if col is None:
            return {}
        res = col.get(where=where, include=["documents", "metadatas", "embeddings"])
        return {
            int(m.get("chunk_index", 0)): (t or "", np.asarray(e, dtype=np.float32))
            for t, m, e in zip(res["documents"], res["metadatas"], res["embeddings"])
        }

    def drop(self, owner: str) -> bool:
        """Delete the owner's whole collection (every vector, orphans included); True if
        it existed."""
        with self._lock:
            self._collections.pop(owner, None)
            try:
                self.client.delete_collection(collection_name(self.base_name, self.embedder,
                                                              owner))
            except (NotFoundError, ValueError):
                return False
            return True

    def existing(self, owners: set[str]) -> set[str]:
        """Those of ``owners`` that have a collection in this store (one listing)."""
        names = {collection_name(self.base_name, self.embedder, o): o for o in owners}
        listed = {c if isinstance(c, str) else c.name for c in self.client.list_collections()}
        return {owner for name, owner in names.items() if name in listed}

    def scan(self, page: int = 1000) -> dict[tuple[str, str, str], list[str]]:
        """Every chunk of every owner's collection of this store, grouped by document.

        Returns:
            {(owner, thread_id ('' = none), doc_id): [chunk ids]}, read ``page`` at a time.
        """
        prefix = collection_name(self.base_name, self.embedder) + "_"
        found: dict[tuple[str, str, str], list[str]] = {}
        for col in self.client.list_collections():
            name = col if isinstance(col, str) else col.name
            if not name.startswith(prefix):
                continue
            col = self.client.get_collection(name=name,
                                             embedding_function=self.embedding_function)
            offset = 0
            while True:
                res = col.get(include=["metadatas"], limit=page, offset=offset)
                for cid, meta in zip(res["ids"], res["metadatas"]):
                    meta = meta or {}
                    key = (str(meta.get("owner", "")), str(meta.get("thread_id") or ""),
                           str(meta.get("doc_id", "")))
                    found.setdefault(key, []).append(cid)
                if len(res["ids"]) < page:
                    break
                offset += page
        return found

    def close(self) -> None:
        """Release the client; Chroma stops a shared local system with its last client."""
        close = getattr(self.client, "close", None)
        if close is not None:
            close()

    def heartbeat(self) -> int:
        """The server's heartbeat (ns); raises if Chroma is unreachable."""
        return int(self.client.heartbeat())
