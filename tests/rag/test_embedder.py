"""The shipped MiniLM int8 embedder and its Chroma registration."""

from __future__ import annotations

import numpy as np
import pytest

from rag.embeddings.base import Embedder
from rag.embeddings.chroma_ef import DocChatEmbeddingFunction
from rag.embeddings.minilm import load_tokenizer


def single_token_words(n: int) -> list[str]:
    tok = load_tokenizer(None)
    vocab = sorted(tok.get_vocab().items(), key=lambda kv: kv[1])
    words = [w for w, i in vocab if w.isalpha() and w.isascii() and len(w) > 3 and i > 2000]
    words = [w for w in words if len(tok.encode(w).ids) == 3]  # [CLS] w [SEP]
    assert len(words) >= n
    return words[:n]


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b)


def test_shape_dtype_and_unit_norm(embedder):
    assert isinstance(embedder, Embedder)
    vectors = embedder.embed(["a short text", "another, longer text about rivers and boats", "x"])
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embedder.embed([]).shape == (0, 384)


def test_semantics_sanity(embedder):
    cat, feline, tax = embedder.embed(
        ["The cat sat on the mat.", "A kitten rested on the rug.", "Quarterly tax filing rules."])
    assert cosine(cat, feline) > cosine(cat, tax) + 0.2


def test_truncation_is_256_not_the_files_128(embedder):
    assert embedder.tokenizer.truncation["max_length"] == 256
    words = single_token_words(1000)
    full = embedder.embed([" ".join(words)])[0]
    first_254 = embedder.embed([" ".join(words[:254])])[0]  # + [CLS], [SEP] = 256
    first_126 = embedder.embed([" ".join(words[:126])])[0]  # = 128 tokens
    assert cosine(full, first_254) > 0.9999
    assert cosine(full, first_126) < 0.99


def test_padding_and_batch_order_do_not_change_vectors(embedder):
    texts = ["short", "a much longer sentence " * 20, "medium length text here"]
    together = embedder.embed(texts)
    alone = np.vstack([embedder.embed([t]) for t in texts])
    np.testing.assert_allclose(together, alone, atol=2e-3)
    reversed_ = embedder.embed(texts[::-1])[::-1]
    np.testing.assert_allclose(together, reversed_, atol=1e-6)


def test_registered_chroma_function_rebuilds_without_default(embedder, tmp_path):
    import chromadb
    from chromadb.config import Settings

    ef = DocChatEmbeddingFunction(embedder, "minilm")
    client = chromadb.PersistentClient(str(tmp_path), Settings(anonymized_telemetry=False))
    client.create_collection("coll", embedding_function=ef,
                             configuration={"hnsw": {"space": "cosine"}})
    again = client.get_collection("coll")  # no embedding function passed
    rebuilt = again.configuration["embedding_function"]
    assert isinstance(rebuilt, DocChatEmbeddingFunction)  # rebuilt from the registry
    assert rebuilt.embedder is embedder  # the loaded model is reused, nothing downloaded
    again.add(ids=["1"], documents=["rivers and boats"])  # embeds with ours, not the default
    hit = again.query(query_texts=["boats on a river"], n_results=1)
    assert hit["ids"] == [["1"]]
    stored = again.get(ids=["1"], include=["embeddings"])["embeddings"][0]
    np.testing.assert_allclose(stored, embedder.embed(["rivers and boats"])[0], atol=1e-5)


@pytest.mark.parametrize("spec", ["nope", "cohere:embed"])
def test_unknown_embedder_spec(spec):
    from rag.config import RagSettings
    from rag.embeddings import make_embedder

    with pytest.raises(ValueError, match="unknown embedder"):
        make_embedder(RagSettings(embedder=spec))
