"""Settings of the rag package, read from the environment (no prefix).

Env: DOCCHAT_DATA_DIR, CHROMA_HOST, CHROMA_PORT, RAG_EMBEDDER, RAG_MAX_FILE_MB,
RAG_CHUNK_TOKENS, RAG_CHUNK_OVERLAP, RAG_FUSION (convex|rrf), RAG_CONVEX_ALPHA,
RAG_DENSE_WEIGHT, RAG_BM25_WEIGHT, RAG_RRF_K (rrf),
RAG_EMBED_BATCH, RAG_INDEX_CONCURRENCY, RAG_COLLECTION, OPENAI_API_KEY, OPENAI_BASE_URL,
GEMINI_API_KEY/GOOGLE_API_KEY, GEMINI_BASE_URL. (RAG_EMBED_THREADS: rag.embeddings.minilm.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def env(default: Any, *names: str, **constraints: Any) -> Any:
    """A settings field read from the first set environment variable in ``names``."""
    return Field(default=default, validation_alias=AliasChoices(*names), **constraints)


class RagSettings(BaseSettings):
    """Configuration of indexing and retrieval.

    embedder: "minilm" (offline default, int8 ONNX all-MiniLM-L6-v2),
    "openai:<model>" (e.g. openai:text-embedding-3-small) or
    "gemini:<model>" (e.g. gemini:text-embedding-004).
    chroma_host/chroma_port: when the host is set, use a Chroma server
    (HttpClient) instead of the embedded PersistentClient in data_dir/chroma.
    """

    model_config = SettingsConfigDict(
        env_prefix="", env_file=".env", env_file_encoding="utf-8", extra="ignore",
        populate_by_name=True,
    )

    data_dir: Path = env(Path(".docchat"), "DOCCHAT_DATA_DIR", "data_dir")
    chroma_host: str | None = env(None, "CHROMA_HOST", "chroma_host")
    chroma_port: int = env(8000, "CHROMA_PORT", "chroma_port")
    collection: str = env("docchat", "RAG_COLLECTION", "collection")
    embedder: str = env("minilm", "RAG_EMBEDDER", "embedder")
    #: texts per Embed-node batch (the unit of embed progress); the MiniLM embedder
    #: runs them through onnxruntime 8 at a time, shortest first.
    embed_batch: int = env(32, "RAG_EMBED_BATCH", "embed_batch", ge=1)
    index_concurrency: int = env(2, "RAG_INDEX_CONCURRENCY", "index_concurrency", ge=1)
    max_file_mb: float = env(50.0, "RAG_MAX_FILE_MB", "max_file_mb", gt=0)
    chunk_tokens: int = env(256, "RAG_CHUNK_TOKENS", "chunk_tokens", ge=16, le=256)
    chunk_overlap: int = env(32, "RAG_CHUNK_OVERLAP", "chunk_overlap", ge=0)
    dense_weight: float = env(1.0, "RAG_DENSE_WEIGHT", "dense_weight", ge=0)
    bm25_weight: float = env(1.0, "RAG_BM25_WEIGHT", "bm25_weight", ge=0)
    rrf_k: int = env(60, "RAG_RRF_K", "rrf_k", ge=1)
    fusion: Literal["convex", "rrf"] = env("convex", "RAG_FUSION", "fusion")
    convex_alpha: float = env(0.7, "RAG_CONVEX_ALPHA", "convex_alpha", ge=0, le=1)
    openai_api_key: str | None = env(None, "OPENAI_API_KEY", "openai_api_key")
    openai_base_url: str | None = env(None, "OPENAI_BASE_URL", "openai_base_url")
    gemini_api_key: str | None = env(None, "GEMINI_API_KEY", "GOOGLE_API_KEY", "gemini_api_key")
    gemini_base_url: str | None = env(None, "GEMINI_BASE_URL", "gemini_base_url")

    @property
    def max_file_bytes(self) -> int:
        """The size limit in bytes."""
        return int(self.max_file_mb * 1024 * 1024)
