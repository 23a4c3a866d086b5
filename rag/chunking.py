"""Token-aware chunking with the embedder's own tokenizer (semantic-text-splitter).

Each section of a loaded document is split on its own, so a chunk never spans
two headings or two PDF pages; inside a section the splitter breaks at the
highest semantic level that fits (Markdown: headings, blocks, paragraphs;
text: blank lines, lines, sentences, words). Capacity excludes the two
special tokens ([CLS], [SEP]) the embedder adds, so a chunk is never truncated.

Context-carrying chunks (``context=True``, the default): each chunk also carries its
document title and heading path ("guide.md > Install > Linux", at most
``CONTEXT_TOKENS`` tokens), which is embedded and keyword-indexed in front of the
chunk (``Chunk.embedding_text``); the stored and cited text stays the chunk alone.
The chunk capacity shrinks by ``CONTEXT_TOKENS`` so that context + chunk still fit
the embedder's 256 tokens. Measured on two FAQ dev sets (README, "Retrieval quality").
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from semantic_text_splitter import MarkdownSplitter, TextSplitter
from tokenizers import Tokenizer

from rag.loaders.base import LoadedDocument

SPECIAL_TOKENS = 2
#: tokens reserved in front of every chunk for its title and heading path
CONTEXT_TOKENS = 32


@dataclass
class Chunk:
    """One chunk to embed and store.

    chunk_id: "<scope key>:<doc_id[:32]>:<index>", unique per (owner, thread, doc, index).
    text: the chunk as stored, shown and cited.
    metadata: what a citation needs plus the scope (see ``chunk_metadata``).
    context: "<title> > <heading path>" ("" when none or context is off).
    """

    chunk_id: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)
    context: str = ""

    @property
    def embedding_text(self) -> str:
        """What the embedder sees: the context line, a blank line, then the text."""
        return f"{self.context}\n\n{self.text}" if self.context else self.text


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
        context: give chunks their title and heading path (see the module docstring).
    """

    def __init__(self, tokenizer: Tokenizer, max_tokens: int = 256, overlap: int = 32,
                 context: bool = True) -> None:
        counting = Tokenizer.from_str(tokenizer.to_str())
        counting.no_truncation()
        counting.no_padding()
        self.counting = counting
        self.context = context
        #: tokens kept for the context line (a quarter of a chunk at most)
        self.context_tokens = min(CONTEXT_TOKENS, (max_tokens - SPECIAL_TOKENS) // 4) \
            if context else 0
        capacity = max_tokens - SPECIAL_TOKENS - self.context_tokens
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
        title = document_title(document)
        chunks: list[Chunk] = []
        for section in document.sections:
            context = self.context_line(title, section.heading) if self.context else ""
            for text in splitter.chunks(section.text):
                if not text.strip():
                    continue
                index = len(chunks)
                meta = chunk_metadata(document, index, owner, thread_id, section.page,
                                      section.heading)
                chunks.append(Chunk(f"{key}:{document.doc_id[:32]}:{index}", text, meta,
                                    context))
        return chunks

    def context_line(self, title: str, heading: str | None) -> str:
        """"<title> > <heading path>" cut to at most ``context_tokens`` tokens ("" if empty)."""
        line = " > ".join(part for part in (title.strip(), (heading or "").strip()) if part)
        if not line:
            return ""
        encoding = self.counting.encode(line, add_special_tokens=False)
        if len(encoding.ids) <= self.context_tokens:
            return line
        return line[:encoding.offsets[self.context_tokens - 1][1]].rstrip()


def document_title(document: LoadedDocument) -> str:
    """The title a chunk's context starts with: metadata "title" if given (even ""),
    else the file name."""
    title = document.metadata.get("title")
    return str(title) if title is not None else document.filename


#: characters of a document's text kept for its document vector: far more than the
#: embedder's 256 tokens (a token covers at least one character), so the vector is that of
#: the text's opening, without tokenizing a whole book
DOC_VECTOR_CHARS = 16_000


def document_vector_text(document: LoadedDocument) -> str:
    """What a document's whole-document vector embeds: its title (document_title), a
    blank line, then its sections' text joined by blank lines, cut at DOC_VECTOR_CHARS;
    the embedder truncates it at its 256 tokens. The same text as README's
    baseline-dense embeds for a corpus entry (title + text)."""
    title = document_title(document).strip()
    body = "\n\n".join(s.text for s in document.sections if s.text.strip())
    text = f"{title}\n\n{body}" if title else body
    return text[:DOC_VECTOR_CHARS]


def chunk_metadata(document: LoadedDocument, index: int, owner: str, thread_id: str | None,
                   page: int | None, heading: str | None) -> dict[str, Any]:
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
