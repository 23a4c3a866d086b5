"""Token-aware chunking with the embedder's own tokenizer (semantic-text-splitter).

Each section of a loaded document is split on its own, so a chunk never spans
two headings or two PDF pages; inside a section the splitter breaks at the
highest semantic level that fits (Markdown: headings, blocks, paragraphs;
text: blank lines, lines, sentences, words). Capacity excludes the two
special tokens ([CLS], [SEP]) the embedder adds, so a chunk is never truncated.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from semantic_text_splitter import MarkdownSplitter, TextSplitter
from tokenizers import Tokenizer

from rag.loaders.base import LoadedDocument

SPECIAL_TOKENS = 2


@dataclass
class Chunk:
    """One chunk to embed and store.

    chunk_id: "<scope key>:<doc_id[:32]>:<index>", unique per (owner, thread, doc, index).
    metadata: what a citation needs plus the scope (see ``chunk_metadata``).
    """

    chunk_id: str
    text: str
    metadata: dict = field(default_factory=dict)


def scope_key(owner: str, thread_id: str | None) -> str:
    """A short stable key for (owner, thread): the first 16 hex of SHA-256."""
    raw = f"{owner}\x00{thread_id or ''}".encode()
    return hashlib.sha256(raw).hexdigest()[:16]


class Chunker:
    """Splits LoadedDocuments into chunks of at most ``max_tokens`` tokens.

    Args:
        tokenizer: the embedder's tokenizer (truncation is disabled on a copy).
        max_tokens: chunk size limit including special tokens (<= 256).
        overlap: tokens shared by consecutive chunks of one section.
    """

    def __init__(self, tokenizer: Tokenizer, max_tokens: int = 256, overlap: int = 32) -> None:
        counting = Tokenizer.from_str(tokenizer.to_str())
        counting.no_truncation()
        counting.no_padding()
        capacity = max_tokens - SPECIAL_TOKENS
        overlap = min(overlap, capacity // 2)
        self.max_tokens = max_tokens
        self.text_splitter = TextSplitter.from_huggingface_tokenizer(counting, capacity, overlap)
        self.markdown_splitter = MarkdownSplitter.from_huggingface_tokenizer(
            counting, capacity, overlap
        )

    def split(self, document: LoadedDocument, owner: str, thread_id: str | None
              ) -> list[Chunk]:
        """Chunk a document for one scope. CPU-bound: run it in a worker thread."""
        splitter = self.markdown_splitter if document.kind == "markdown" else self.text_splitter
        key = scope_key(owner, thread_id)
        chunks: list[Chunk] = []
        for section in document.sections:
            for text in splitter.chunks(section.text):
                if not text.strip():
                    continue
                index = len(chunks)
                meta = chunk_metadata(document, index, owner, thread_id, section.page,
                                      section.heading)
                chunks.append(Chunk(f"{key}:{document.doc_id[:32]}:{index}", text, meta))
        return chunks


def chunk_metadata(document: LoadedDocument, index: int, owner: str, thread_id: str | None,
                   page: int | None, heading: str | None) -> dict:
    """Chroma-compatible metadata (no None values: absent keys mean None).

    Keys: doc_id, source (file name), chunk_index, owner, thread_id ("" = none),
    page (int, PDFs), heading ("A > B"), plus the document's own metadata.
    """
    meta = {k: v for k, v in document.metadata.items() if isinstance(v, (str, int, float, bool))}
    meta.update({
        "doc_id": document.doc_id,
        "source": document.filename,
        "chunk_index": index,
        "owner": owner,
        "thread_id": thread_id or "",
    })
    if page is not None:
        meta["page"] = page
    if heading:
        meta["heading"] = heading
    return meta
