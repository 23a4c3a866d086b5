"""Public data types of the rag package (the shapes agents and chat rely on).

Everything here is plain data: no I/O, no imports of heavy libraries, so the
agents and chat packages can import these types cheaply.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Mode = Literal["hybrid", "dense", "bm25"]
IndexStatus = Literal["indexed", "duplicate", "failed"]
#: "retry": a queued job's try failed and another follows (done = try, total = max tries)
Stage = Literal["load", "chunk", "embed", "store", "done", "failed", "retry"]


@dataclass(frozen=True)
class Scope:
    """Who may see a chunk.

    Args:
        owner: user id; required and non-empty.
        thread_id: None means every document of the owner; a value means only
            the documents indexed in that thread.

    Raises:
        ValueError: owner is empty.
    """

    owner: str
    thread_id: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.owner, str) or not self.owner.strip():
            raise ValueError("Scope.owner must be a non-empty user id")
        if self.thread_id is not None and not isinstance(self.thread_id, str):
            raise ValueError("Scope.thread_id must be a string or None")


@dataclass
class SearchResult:
    """One retrieved chunk with what a citation needs.

    score: in hybrid mode the fused score: by default (RAG_FUSION=convex) the convex
    combination of min-max normalised dense and BM25 scores (in [0, 1]), with
    RAG_FUSION=rrf the reciprocal-rank-fusion score (see rag.retrieval); cosine
    similarity in dense mode; -bm25() (higher is better) in bm25 mode. rank: 1-based.
    """

    chunk_id: str
    doc_id: str
    text: str
    score: float
    rank: int
    source: str
    page: int | None
    heading: str | None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class IndexReport:
    """The outcome of indexing one file or text document.

    retryable: a failure not caused by the file (store or embedder down, a bug): the
    job queue (rag.queue) tries it again; a bad file (``rag.errors.DocumentError``) is
    final.
    """

    path: str
    filename: str
    doc_id: str | None
    status: IndexStatus
    chunks: int
    error: str | None
    seconds: float
    retryable: bool = False


@dataclass
class IndexProgress:
    """A progress event passed to ``on_progress`` callbacks.

    done/total count the units of the stage: pages or sections (load),
    chunks (chunk, store, done), batches (embed).
    """

    filename: str
    stage: Stage
    done: int
    total: int
    message: str = ""


@dataclass
class DocumentInfo:
    """A document indexed in a scope. indexed_at: ISO 8601 UTC."""

    doc_id: str
    filename: str
    chunks: int
    thread_id: str | None
    indexed_at: str


@dataclass
class TextDocument:
    """An in-memory document for ``RagService.index_texts``.

    name: display name and citation source (e.g. a BEIR corpus ``_id``).
    metadata: copied into every chunk's metadata (str/int/float/bool values).
    """

    name: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)
