"""Settings of the rag package, read from the environment (no prefix).

Env: DOCCHAT_DATA_DIR, CHROMA_HOST, CHROMA_PORT, RAG_EMBEDDER, RAG_MAX_FILE_MB,
RAG_CHUNK_TOKENS, RAG_CHUNK_OVERLAP, RAG_DENSE_WEIGHT, RAG_BM25_WEIGHT, RAG_RRF_K,
RAG_EMBED_BATCH, RAG_COLLECTION, OPENAI_API_KEY, GEMINI_API_KEY/GOOGLE_API_KEY.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class RagSettings(BaseSettings):
    """Configuration of indexing and retrieval.

    embedder: "minilm" (offline default, int8 ONNX all-MiniLM-L6-v2),
    "openai:<model>" (e.g. openai:text-embedding-3-small) or
    "gemini:<model>" (e.g. gemini:text-embedding-004).
    chroma_host/chroma_port: when the host is set, use a Chroma server
    (HttpClient) instead of the embedded PersistentClient in data_dir/chroma.
    """

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", populate_by_name=True)

    data_dir: Path = Field(
        default=Path(".docchat"), validation_alias=AliasChoices("DOCCHAT_DATA_DIR", "data_dir")
    )
    chroma_host: str | None = Field(
        default=None, validation_alias=AliasChoices("CHROMA_HOST", "chroma_host")
    )
    chroma_port: int = Field(default=8000, validation_alias=AliasChoices("CHROMA_PORT", "chroma_port"))
    collection: str = Field(
        default="docchat", validation_alias=AliasChoices("RAG_COLLECTION", "collection")
    )
    embedder: str = Field(default="minilm", validation_alias=AliasChoices("RAG_EMBEDDER", "embedder"))
    embed_batch: int = Field(
        default=32, ge=1, validation_alias=AliasChoices("RAG_EMBED_BATCH", "embed_batch")
    )
    index_concurrency: int = Field(
        default=2, ge=1, validation_alias=AliasChoices("RAG_INDEX_CONCURRENCY", "index_concurrency")
    )
    max_file_mb: float = Field(
        default=50.0, gt=0, validation_alias=AliasChoices("RAG_MAX_FILE_MB", "max_file_mb")
    )
    chunk_tokens: int = Field(
        default=256, ge=16, le=256, validation_alias=AliasChoices("RAG_CHUNK_TOKENS", "chunk_tokens")
    )
    chunk_overlap: int = Field(
        default=32, ge=0, validation_alias=AliasChoices("RAG_CHUNK_OVERLAP", "chunk_overlap")
    )
    dense_weight: float = Field(
        default=1.0, ge=0, validation_alias=AliasChoices("RAG_DENSE_WEIGHT", "dense_weight")
    )
    bm25_weight: float = Field(
        default=1.0, ge=0, validation_alias=AliasChoices("RAG_BM25_WEIGHT", "bm25_weight")
    )
    rrf_k: int = Field(default=60, ge=1, validation_alias=AliasChoices("RAG_RRF_K", "rrf_k"))
    openai_api_key: str | None = Field(
        default=None, validation_alias=AliasChoices("OPENAI_API_KEY", "openai_api_key")
    )
    openai_base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("OPENAI_BASE_URL", "openai_base_url")
    )
    gemini_api_key: str | None = Field(
        default=None,
        validation_alias=AliasChoices("GEMINI_API_KEY", "GOOGLE_API_KEY", "gemini_api_key"),
    )
    gemini_base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("GEMINI_BASE_URL", "gemini_base_url")
    )

    @property
    def max_file_bytes(self) -> int:
        """The size limit in bytes."""
        return int(self.max_file_mb * 1024 * 1024)
