"""The two services the answering flow uses, as the flow needs them.

agents owns these interfaces; it never imports the implementations. chat builds the
concrete services and hands them to :func:`agents.runner.ask`:

- :class:`Retriever` is satisfied by ``rag.service.RagService`` (hybrid search over the
  caller's scope). The data it returns are rag's plain data types from ``rag.models``
  (``Scope``, ``SearchResult``, ``DocumentInfo``: dataclasses without I/O, cheap to import).
- :class:`Router` (the issue's "LLMRouter protocol") is satisfied by
  ``agents.llm.router.LLMRouter`` (provider chain with an extractive fallback) and, in
  tests and benchmarks, by ``bench.fake_llm.ScriptedLLM``.

The type checker (``mypy``, see ``[tool.mypy]`` in pyproject.toml) checks that the
concrete classes satisfy them where chat passes them to ``ask``.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from typing import Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel

from agents.llm.types import Message, Passage, StreamEvent, Usage
from rag.models import DocumentInfo, Mode, Scope, SearchResult

T = TypeVar("T", bound=BaseModel)


class Retriever(Protocol):
    """Search and describe the documents of a scope (``rag.service.RagService``)."""

    async def search(self, query: str, scope: Scope, k: int = 5,
                     mode: Mode = "hybrid") -> Sequence[SearchResult]:
        """The ``k`` best chunks of ``scope`` for ``query``, best first."""
        ...

    async def count_chunks(self, scope: Scope) -> int:
        """Distinct chunks searchable in ``scope`` (0: nothing indexed)."""
        ...

    async def list_documents(self, scope: Scope) -> Sequence[DocumentInfo]:
        """The documents indexed in ``scope``."""
        ...


class Router(Protocol):
    """The language-model calls of the flow (``agents.llm.router.LLMRouter``).

    ``task`` is one of ``agents.llm.router.TASKS`` ("route", "answer", "review", ...).
    Both methods raise ``agents.llm.errors.LLMError`` when the whole chain failed.
    """

    def stream(self, task: str, messages: list[Message], *, model: str | None = None,
               context: list[Passage] | None = None) -> AsyncGenerator[StreamEvent, None]:
        """Stream a reply: "token" events, "reset" on a failed link, one "usage" last."""
        ...

    async def structured(self, task: str, messages: list[Message], schema: type[T], *,
                         model: str | None = None, context: list[Passage] | None = None,
                         default: T | None = None) -> tuple[T, Usage]:
        """A validated ``schema`` instance (``default`` from the extractive provider)."""
        ...


@runtime_checkable
class SentenceEncoder(Protocol):
    """Embeds short texts with the store's embedder (``rag.service.RagService``).

    Used by the extractive answer to score sentences against the question with the same
    model that indexed them. A Retriever without it gets a lexical-only extractive answer.
    """

    async def embed_texts(self, texts: Sequence[str]) -> Sequence[Sequence[float]]:
        """One embedding per text (rows of shape (dimensions,)), computed off the loop."""
        ...


@runtime_checkable
class DocumentScorer(Protocol):
    """Scores whole documents against a query (``rag.service.RagService``).

    Used by the extractive answer's support evidence (agents.evidence): the cosines of
    the documents' whole-document vectors. A Retriever without it reports none.
    """

    async def document_scores(self, query: str, scope: Scope, k: int = 10
                              ) -> Sequence[tuple[str, float]]:
        """``(doc_id, cosine)`` of the ``k`` nearest documents of ``scope``, best first."""
        ...
