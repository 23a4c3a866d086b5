"""Token-aware chunking with MiniLM's tokenizer."""

from __future__ import annotations

import itertools

from rag.chunking import Chunker, scope_key
from rag.embeddings.minilm import load_tokenizer
from rag.loaders.base import LoadedDocument, Section

COUNT = load_tokenizer(None)  # no truncation: counts the real length


def tokens(text: str) -> int:
    return len(COUNT.encode(text).ids)  # includes [CLS] and [SEP]


def paragraphs(n: int, words: int = 60) -> str:
    return "\n\n".join(
        " ".join(f"word{p}x{i}" if i % 7 else "river" for i in range(words)) for p in range(n))


def doc(sections, kind="text", name="d.txt"):
    return LoadedDocument(filename=name, doc_id="ab" * 32, kind=kind, sections=sections)


def test_chunks_fit_256_tokens_with_special_tokens_and_use_the_room():
    chunker = Chunker(load_tokenizer(), 256, 32)
    chunks = chunker.split(doc([Section(paragraphs(30))]), "u", None)
    sizes = [tokens(c.text) for c in chunks]
    assert max(sizes) <= 256
    # the tokenizer.json truncates at 128; counting must not be truncated
    assert max(sizes) > 200


def test_consecutive_chunks_overlap():
    chunker = Chunker(load_tokenizer(), 64, 16)
    text = " ".join(f"w{i}" for i in range(400))
    chunks = chunker.split(doc([Section(text)]), "u", None)
    assert len(chunks) > 3
    for a, b in itertools.pairwise(chunks):
        assert a.text.split()[-1] in b.text.split()[:12]


def test_paragraph_boundaries_are_preferred():
    chunker = Chunker(load_tokenizer(), 256, 0)
    paras = [" ".join([w] * 100) for w in ("alpha", "beta", "gamma")]
    chunks = chunker.split(doc([Section("\n\n".join(paras))]), "u", None)
    # 302 tokens in all: two whole paragraphs fit, the third starts a new chunk
    assert [c.text for c in chunks] == [paras[0] + "\n\n" + paras[1], paras[2]]


def test_sections_never_share_a_chunk_and_metadata_is_complete():
    sections = [Section("intro text", heading=None),
                Section("# A\n\nfirst", heading="A"),
                Section("page two text", page=2, heading="A > B")]
    chunks = Chunker(load_tokenizer()).split(doc(sections, "markdown", "g.md"), "alice", "t9")
    assert [c.text for c in chunks] == ["intro text", "# A\n\nfirst", "page two text"]
    meta = chunks[2].metadata
    assert meta == {"doc_id": "ab" * 32, "source": "g.md", "chunk_index": 2, "owner": "alice",
                    "thread_id": "t9", "page": 2, "heading": "A > B"}
    assert "page" not in chunks[0].metadata and "heading" not in chunks[0].metadata
    assert chunks[1].chunk_id == f"{scope_key('alice', 't9')}:{'ab' * 16}:1"


def test_chunk_ids_differ_per_scope():
    d = doc([Section("same text")])
    chunker = Chunker(load_tokenizer())
    ids = {chunker.split(d, o, t)[0].chunk_id for o, t in
           [("a", None), ("a", "t1"), ("a", "t2"), ("b", None)]}
    assert len(ids) == 4


def test_context_line_is_embedded_but_not_stored():
    sections = [Section("Run the installer.", heading="Install > Linux")]
    d = LoadedDocument(filename="guide.md", doc_id="ab" * 32, kind="markdown",
                       sections=sections, metadata={"title": "User Guide"})
    chunk = Chunker(load_tokenizer()).split(d, "u", None)[0]
    assert chunk.text == "Run the installer."
    assert chunk.context == "User Guide > Install > Linux"
    assert chunk.embedding_text == "User Guide > Install > Linux\n\nRun the installer."
    # without a "title" the file name is the title; with context off nothing is added
    d.metadata = {}
    assert Chunker(load_tokenizer()).split(d, "u", None)[0].context == "guide.md > Install > Linux"
    plain = Chunker(load_tokenizer(), context=False).split(d, "u", None)[0]
    assert (plain.context, plain.embedding_text) == ("", "Run the installer.")


def test_context_and_chunk_fit_256_tokens_together():
    heading = " > ".join(f"Heading number {i}" for i in range(20))  # ~80 tokens
    chunker = Chunker(load_tokenizer(), 256, 32)
    chunks = chunker.split(doc([Section(paragraphs(30), heading=heading)]), "u", None)
    assert len(COUNT.encode(chunks[0].context, add_special_tokens=False).ids) == 32
    assert heading.startswith(chunks[0].context.removeprefix("d.txt > "))
    assert max(tokens(c.embedding_text) for c in chunks) <= 256
    assert max(tokens(c.text) for c in chunks) > 180  # the rest of the room is used
    words = doc([Section(" ".join(f"w{i}" for i in range(3000)))])  # splits at any word
    assert max(tokens(c.text) for c in chunker.split(words, "u", None)) in (223, 224)
    no_context = Chunker(load_tokenizer(), 256, 32, context=False)
    assert max(tokens(c.text) for c in no_context.split(words, "u", None)) in (255, 256)
