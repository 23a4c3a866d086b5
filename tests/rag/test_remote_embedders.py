"""OpenAI and Gemini embedders against local fakes of their HTTP wire formats
(the official SDKs talk to a 127.0.0.1 server; no network, no key)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import numpy as np
import pytest

from rag.config import RagSettings
from rag.embeddings import make_embedder
from rag.models import Scope, TextDocument
from rag.service import RagService

DIMS = 8


def fake_vector(text: str) -> list[float]:
    """Deterministic, unnormalised: the embedders must L2-normalise."""
    rng = np.random.default_rng(sum(text.encode()))
    return (rng.normal(size=DIMS) * 3).tolist()


class Handler(BaseHTTPRequestHandler):
    requests: ClassVar[list[tuple[str, dict]]] = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.requests.append((self.path, body))
        if self.path.endswith("/embeddings"):  # OpenAI
            data = [{"object": "embedding", "index": i, "embedding": fake_vector(t)}
                    for i, t in enumerate(body["input"])][::-1]  # out of order on purpose
            reply = {"object": "list", "data": data, "model": body["model"],
                     "usage": {"prompt_tokens": 1, "total_tokens": 1}}
        elif ":batchEmbedContents" in self.path:  # Gemini
            reply = {"embeddings": [{"values": fake_vector(r["content"]["parts"][0]["text"])}
                                    for r in body["requests"]]}
        else:
            self.send_response(404)
            self.end_headers()
            return
        raw = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def fake_api():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def expected(texts):
    v = np.asarray([fake_vector(t) for t in texts], dtype=np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


async def test_openai_sync_and_async(fake_api):
    emb = make_embedder(RagSettings(embedder="openai:text-embedding-3-small",
                                    openai_api_key="sk-test", openai_base_url=fake_api + "/v1"))
    texts = ["alpha", "beta", "gamma"]
    np.testing.assert_allclose(emb.embed(texts), expected(texts), atol=1e-6)
    np.testing.assert_allclose(await emb.aembed(texts), expected(texts), atol=1e-6)
    assert emb.dimensions == DIMS and emb.name == "openai-text-embedding-3-small"
    path, body = Handler.requests[-1]
    assert path == "/v1/embeddings" and body["model"] == "text-embedding-3-small"


async def test_gemini_sync_and_async(fake_api):
    emb = make_embedder(RagSettings(embedder="gemini:text-embedding-004",
                                    gemini_api_key="g-test", gemini_base_url=fake_api))
    texts = ["one", "two"]
    np.testing.assert_allclose(emb.embed(texts), expected(texts), atol=1e-6)
    np.testing.assert_allclose(await emb.aembed(texts), expected(texts), atol=1e-6)
    path, body = Handler.requests[-1]
    assert "text-embedding-004:batchEmbedContents" in path
    assert body["requests"][0]["taskType"] == "RETRIEVAL_DOCUMENT"


def test_missing_keys_are_reported():
    with pytest.raises(ValueError, match="OPENAI_API_KEY"):
        make_embedder(RagSettings(embedder="openai:text-embedding-3-small", openai_api_key=None))
    with pytest.raises(ValueError, match="GEMINI_API_KEY"):
        make_embedder(RagSettings(embedder="gemini:text-embedding-004", gemini_api_key=None))


async def test_service_with_openai_embedder_uses_its_own_collection(fake_api, tmp_path):
    # no context, no first-chunk prior: the score is the plain cosine, 1.0
    settings = RagSettings(data_dir=tmp_path, embedder="openai:text-embedding-3-small",
                           openai_api_key="sk-test", openai_base_url=fake_api + "/v1",
                           chunk_context=False, first_chunk_prior=0.0)
    service = await RagService.open(settings, embedder=make_embedder(settings))
    try:
        [r] = await service.index_texts([TextDocument("x", "remote text")], Scope("u"))
        name = service.store.chroma.collection_for("u").name
        assert name.startswith("docchat_openai-text-embedding-3-small_")
        assert r.status == "indexed"
        hits = await service.search("remote text", Scope("u"), k=1, mode="dense")
        assert hits[0].source == "x" and hits[0].score == pytest.approx(1.0, abs=1e-5)
    finally:
        await service.close()
