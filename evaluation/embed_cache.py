"""An on-disk embedding cache for evaluation runs, keyed by (model, text).

Indexing a dev set costs minutes of CPU per configuration; most configurations embed
the same texts (the same chunks, the same whole-document baseline, the same queries).
``CachedEmbedder`` wraps an embedder and keeps every vector it computes in one SQLite
file, so a text is embedded once per model however many runs and variants ask for it.

A cached vector is returned as stored: a later run scores exactly the vectors an earlier
one did (the int8 MiniLM's dynamic quantisation makes a vector depend slightly on the
other texts of its batch, so recomputing could differ in the last digits).

Used by evaluation only; the app never caches embeddings this way.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
from pathlib import Path

import numpy as np

DEFAULT_PATH = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / \
    "docchat" / "eval-embeddings.sqlite"


def model_key(embedder) -> str:
    """What identifies an embedder's vectors: its name and truncation length (if any)."""
    return f"{embedder.name}/{getattr(embedder, 'max_tokens', '')}"


class CachedEmbedder:
    """Wraps a synchronous embedder with a (model, SHA-256 of text) -> vector cache.

    Args:
        inner: an Embedder with ``name``, ``dimensions`` and ``embed(texts)``.
        path: the SQLite cache file (created with its folder).

    Attributes ``name``, ``dimensions``, ``tokenizer`` and ``max_tokens`` are the inner
    embedder's, so a store built on this wrapper names its collections as the inner one
    would. ``hits`` and ``misses`` count texts served from the cache and embedded.
    """

    def __init__(self, inner, path: str | Path = DEFAULT_PATH) -> None:
        self.inner = inner
        self.name = inner.name
        self.dimensions = inner.dimensions
        self.model = model_key(inner)
        self.hits = self.misses = 0
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS vectors (model TEXT NOT NULL, "
                         "sha256 TEXT NOT NULL, vector BLOB NOT NULL, "
                         "PRIMARY KEY (model, sha256))")

    def __getattr__(self, attr: str):
        # tokenizer, max_tokens, threads...: whatever the inner embedder offers, except
        # an async path that would go around the cache
        if attr == "aembed":
            raise AttributeError(attr)
        return getattr(self.inner, attr)

    def _lookup(self, keys: list[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        unique = list(dict.fromkeys(keys))
        with self._lock:
            for start in range(0, len(unique), 500):
                part = unique[start:start + 500]
                rows = self._db.execute(
                    f"SELECT sha256, vector FROM vectors WHERE model = ? AND sha256 IN "
                    f"({','.join('?' * len(part))})", (self.model, *part)).fetchall()
                found.update((k, np.frombuffer(v, dtype=np.float32)) for k, v in rows)
        return found

    def embed(self, texts: list[str]) -> np.ndarray:
        """float32 (n, dimensions): cached rows as stored, the others embedded and stored."""
        keys = [hashlib.sha256(t.encode("utf-8")).hexdigest() for t in texts]
        found = self._lookup(keys)
        missing = list(dict.fromkeys(k for k in keys if k not in found))
        if missing:
            first = {k: i for i, k in reversed(list(enumerate(keys)))}
            vectors = np.asarray(self.inner.embed([texts[first[k]] for k in missing]),
                                 dtype=np.float32)
            with self._lock:
                self._db.executemany(
                    "INSERT OR IGNORE INTO vectors (model, sha256, vector) VALUES (?, ?, ?)",
                    [(self.model, k, v.tobytes()) for k, v in zip(missing, vectors)])
            found.update(zip(missing, vectors))
        self.misses += len(missing)
        self.hits += len(keys) - len(missing)
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        return np.vstack([found[k] for k in keys]).astype(np.float32, copy=False)

    def close(self) -> None:
        """Close the cache file."""
        with self._lock:
            self._db.close()
