"""Settings of the rag package, read from the environment and ``.env`` (no prefix).

Env: DOCCHAT_DATA_DIR and DOCCHAT_UPLOAD_MAX_MB (shared, from docchat.settings),
CHROMA_HOST, CHROMA_PORT, DATABASE_URL (PostgreSQL: keyword index and registry there), RAG_EMBEDDER, RAG_CHUNK_TOKENS, RAG_CHUNK_OVERLAP,
RAG_FUSION (convex|rrf), RAG_CONVEX_ALPHA, RAG_DENSE_WEIGHT, RAG_BM25_WEIGHT, RAG_RRF_K
(rrf), RAG_CHUNK_CONTEXT, RAG_HYBRID_BM25, RAG_DOC_SHARE, RAG_FIRST_CHUNK_PRIOR, RAG_EMBED_BATCH, RAG_EMBED_THREADS, RAG_INDEX_CONCURRENCY, RAG_QUERY_CONCURRENCY, RAG_COLLECTION,
RAG_CLI_OWNER, OPENAI_API_KEY, OPENAI_BASE_URL, GEMINI_API_KEY/GOOGLE_API_KEY,
GEMINI_BASE_URL.
Limits of untrusted input: RAG_PARSE_TIMEOUT_S, RAG_PARSE_CPU_S, RAG_PARSE_MEMORY_MB,
RAG_MAX_UNCOMPRESSED_MB, RAG_MAX_COMPRESSION_RATIO, RAG_USER_MAX_PENDING_FILES,
RAG_USER_MAX_PENDING_MB, RAG_READY_MAX_WAITING.
Indexing queue (rag.queue): DOCCHAT_QUEUE_URL, DOCCHAT_QUEUE_NAME, DOCCHAT_QUEUE_JOB_TIMEOUT_S,
DOCCHAT_QUEUE_MAX_TRIES, DOCCHAT_WORKER_NICE, DOCCHAT_WORKER_IDLE.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from docchat.settings import DocChatSettings, env

if TYPE_CHECKING:
    from rag.loaders.sandbox import ParseLimits


class RagSettings(DocChatSettings):
    """Configuration of indexing and retrieval.

    embedder: "minilm" (offline default, int8 ONNX all-MiniLM-L6-v2),
    "openai:<model>" (e.g. openai:text-embedding-3-small) or
    "gemini:<model>" (e.g. gemini:text-embedding-004).
    chroma_host/chroma_port: when the host is set, use a Chroma server
    (HttpClient) instead of the embedded PersistentClient in data_dir/chroma.
    Files over ``upload_max_mb`` (DOCCHAT_UPLOAD_MAX_MB) are refused.
    """

    chroma_host: str | None = env(None, "CHROMA_HOST", "chroma_host")
    chroma_port: int = env(8000, "CHROMA_PORT", "chroma_port")
    #: the app's database (chat.config reads the same variable): when it is PostgreSQL
    #: (any driver, e.g. postgresql+asyncpg://...), the keyword index and the document
    #: registry live there (rag.store.backend); otherwise in SQLite under data_dir
    database_url: str | None = env(None, "DATABASE_URL", "database_url")
    collection: str = env("docchat", "RAG_COLLECTION", "collection")
    embedder: str = env("minilm", "RAG_EMBEDDER", "embedder")
    #: texts per Embed-node batch (the unit of embed progress); the MiniLM embedder
    #: runs them through onnxruntime 8 at a time, shortest first.
    embed_batch: int = env(32, "RAG_EMBED_BATCH", "embed_batch", ge=1)
    index_concurrency: int = env(2, "RAG_INDEX_CONCURRENCY", "index_concurrency", ge=1)
    #: searches, question/sentence embeddings and document-vector queries one process
    #: runs at once (more wait their turn); None: one per usable core, 0: no limit.
    #: Answering is CPU work (embedding, fusion, the stores' clients) and past the core
    #: count more of it at once only queues for the cores, the event loop's thread too
    #: (README, "The app under load")
    query_concurrency: int | None = env(None, "RAG_QUERY_CONCURRENCY", "query_concurrency",
                                        ge=0)
    #: onnxruntime intra-op threads of the MiniLM embedder (None: every usable core)
    embed_threads: int | None = env(None, "RAG_EMBED_THREADS", "embed_threads", ge=1)
    #: owner (user id) the ``python -m rag`` / ``python -m agents`` CLIs act as
    cli_owner: str = env("cli", "RAG_CLI_OWNER", "cli_owner", min_length=1)
    chunk_tokens: int = env(256, "RAG_CHUNK_TOKENS", "chunk_tokens", ge=16, le=256)
    chunk_overlap: int = env(32, "RAG_CHUNK_OVERLAP", "chunk_overlap", ge=0)
    dense_weight: float = env(1.0, "RAG_DENSE_WEIGHT", "dense_weight", ge=0)
    bm25_weight: float = env(1.0, "RAG_BM25_WEIGHT", "bm25_weight", ge=0)
    rrf_k: int = env(60, "RAG_RRF_K", "rrf_k", ge=1)
    fusion: Literal["convex", "rrf"] = env("convex", "RAG_FUSION", "fusion")
    convex_alpha: float = env(0.55, "RAG_CONVEX_ALPHA", "convex_alpha", ge=0, le=1)
    #: embed and keyword-index each chunk with "<document title> > <heading path>" in
    #: front (the stored and cited text stays the chunk); changing it needs a re-index
    chunk_context: bool = env(True, "RAG_CHUNK_CONTEXT", "chunk_context")
    #: candidates each retriever hands to fusion and the document-aware re-ranking,
    #: whatever k is (at least 2k): min-max fusion and the first-chunk prior depend on
    #: the candidate list, so a fixed depth makes the chat's top 5 the evaluation's top 5
    #: (at 40 the chat ranked below baseline-dense, README "Retrieval quality")
    candidate_depth: int = env(400, "RAG_CANDIDATE_DEPTH", "candidate_depth", ge=10)
    #: hybrid search: "always" fuse BM25, or only for queries with "exact_terms"
    #: (identifiers, flags, paths, quoted strings; rag.retrieval.has_exact_terms)
    hybrid_bm25: Literal["always", "exact_terms"] = env(
        "always", "RAG_HYBRID_BM25", "hybrid_bm25")
    #: document-aware ranking (rag.retrieval.document_aware): a chunk's score gains this
    #: share of the best other chunk of its document in the candidates ...
    doc_share: float = env(0.0, "RAG_DOC_SHARE", "doc_share", ge=0, le=1)
    #: ... and a document's first chunk gains this much (score units of the mode)
    first_chunk_prior: float = env(0.2, "RAG_FIRST_CHUNK_PRIOR", "first_chunk_prior", ge=0)
    #: hybrid search: weight of the whole-document vector (one per document: title +
    #: text cut at 256 tokens; rag.retrieval.add_document_scores), its cosine min-max
    #: normalised over the scope's nearest documents; 0 turns it off (README, "Retrieval
    #: quality")
    doc_vector_weight: float = env(0.7, "RAG_DOC_VECTOR_WEIGHT", "doc_vector_weight", ge=0)
    openai_api_key: str | None = env(None, "OPENAI_API_KEY", "openai_api_key")
    openai_base_url: str | None = env(None, "OPENAI_BASE_URL", "openai_base_url")
    gemini_api_key: str | None = env(None, "GEMINI_API_KEY", "GOOGLE_API_KEY", "gemini_api_key")
    gemini_base_url: str | None = env(None, "GEMINI_BASE_URL", "gemini_base_url")

    #: parsing runs in a child process under these limits (rag.loaders.sandbox)
    parse_timeout_s: float = env(120.0, "RAG_PARSE_TIMEOUT_S", "parse_timeout_s", gt=0)
    parse_cpu_s: int = env(60, "RAG_PARSE_CPU_S", "parse_cpu_s", ge=1)
    parse_memory_mb: int = env(1024, "RAG_PARSE_MEMORY_MB", "parse_memory_mb", ge=0)
    #: zip-bomb limits of a .docx, checked before parsing (rag.loaders.archive)
    max_uncompressed_mb: float = env(100.0, "RAG_MAX_UNCOMPRESSED_MB", "max_uncompressed_mb",
                                     gt=0)
    max_compression_ratio: float = env(100.0, "RAG_MAX_COMPRESSION_RATIO",
                                       "max_compression_ratio", gt=1)
    #: per-user quota: files (and MB) queued or being indexed at once
    user_max_pending_files: int = env(10, "RAG_USER_MAX_PENDING_FILES",
                                      "user_max_pending_files", ge=1)
    user_max_pending_mb: float = env(200.0, "RAG_USER_MAX_PENDING_MB", "user_max_pending_mb",
                                     gt=0)
    #: /ready fails when every indexing slot is busy and this many files wait
    ready_max_waiting: int = env(8, "RAG_READY_MAX_WAITING", "ready_max_waiting", ge=0)

    #: indexing jobs on a shared queue (rag.queue): ``redis://host:port/db``; unset =
    #: index inside the web process (the embedded default)
    queue_url: str | None = env(None, "DOCCHAT_QUEUE_URL", "queue_url")
    #: the arq queue (a Redis sorted set) every instance and worker uses; also the
    #: prefix of job ids, upload keys and event channels
    queue_name: str = env("docchat:index", "DOCCHAT_QUEUE_NAME", "queue_name", min_length=1)
    #: one try of an indexing job may run this long (a 100-page PDF takes ~1-2 min on
    #: 2 cores, rag bench); a killed worker's job is taken again after it + 15 s
    queue_job_timeout_s: float = env(900.0, "DOCCHAT_QUEUE_JOB_TIMEOUT_S",
                                     "queue_job_timeout_s", gt=0)
    #: tries of a job that fails for a reason other than the file (timeout, Chroma or
    #: database down, worker killed); a bad file fails at its first try
    queue_max_tries: int = env(3, "DOCCHAT_QUEUE_MAX_TRIES", "queue_max_tries", ge=1)
    #: ``python -m rag worker`` lowers its CPU priority by this much (``nice``, 0-19;
    #: its parsing sandboxes inherit it): indexing is batch work, so on a host shared
    #: with web instances their event loops get the cores first (scripts/bench_load.py
    #: --instances 2 --worker); on a host of its own it changes nothing
    worker_nice: int = env(10, "DOCCHAT_WORKER_NICE", "worker_nice", ge=0, le=19)
    #: ``python -m rag worker`` also runs under Linux's ``SCHED_IDLE`` policy (sched(7)):
    #: it gets a core only when no normal task wants one, and a waking web instance
    #: takes the core from it at once, where a niced task still holds it for a time slice
    #: (measured: scripts/bench_load.py --instances 2 --worker, README "The app under
    #: load"); its threads and parsing sandboxes inherit it. Ignored off Linux.
    worker_idle: bool = env(True, "DOCCHAT_WORKER_IDLE", "worker_idle")

    @property
    def parse_limits(self) -> ParseLimits:
        """The ``rag.loaders.sandbox.ParseLimits`` of these settings."""
        from rag.loaders.archive import ArchiveLimits
        from rag.loaders.sandbox import ParseLimits

        return ParseLimits(
            cpu_seconds=self.parse_cpu_s, memory_bytes=self.parse_memory_mb * 1024 * 1024,
            timeout_s=self.parse_timeout_s,
            archive=ArchiveLimits(int(self.max_uncompressed_mb * 1024 * 1024),
                                  self.max_compression_ratio))
