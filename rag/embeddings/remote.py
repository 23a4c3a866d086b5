"""OpenAI and Gemini embedders (official SDKs), chosen by ``RagSettings.embedder``.

Both offer ``embed`` (sync SDK client, for worker threads) and ``aembed``
(async client: AsyncOpenAI / google-genai ``client.aio``), which the indexing
flow prefers. Vectors are L2-normalised here so cosine = dot product.
Chunking still uses MiniLM's tokenizer: 256 of its tokens is far below these
models' input limits.
"""

from __future__ import annotations

import numpy as np

from rag.embeddings.base import l2_normalise

_OPENAI_DIMS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}
_GEMINI_DIMS = {"text-embedding-004": 768, "gemini-embedding-001": 3072}


class _RemoteEmbedder:
    """Batching and normalisation shared by the API embedders; subclasses implement
    ``_request`` (sync) and ``_arequest`` (async) for one batch."""

    name: str
    dimensions: int
    batch_size: int

    def _request(self, texts: list[str]) -> list[list[float]]:
        raise NotImplementedError

    async def _arequest(self, texts: list[str]) -> list[list[float]]:
        raise NotImplementedError

    def _batches(self, texts: list[str]) -> list[list[str]]:
        return [texts[i:i + self.batch_size] for i in range(0, len(texts), self.batch_size)]

    def embed(self, texts: list[str]) -> np.ndarray:
        """Sync: float32 (n, d), unit rows."""
        rows = [row for batch in self._batches(texts) for row in self._request(batch)]
        return self._finish(rows, len(texts))

    async def aembed(self, texts: list[str]) -> np.ndarray:
        """Async: float32 (n, d), unit rows."""
        rows = [row for batch in self._batches(texts) for row in await self._arequest(batch)]
        return self._finish(rows, len(texts))

    def _finish(self, rows: list[list[float]], n: int) -> np.ndarray:
        if len(rows) != n:
            raise RuntimeError(f"{self.name} returned {len(rows)} embeddings for {n} texts")
        if not rows:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        out = l2_normalise(np.asarray(rows, dtype=np.float32))
        self.dimensions = out.shape[1]
        return out


class OpenAIEmbedder(_RemoteEmbedder):
    """OpenAI embeddings API (``/v1/embeddings``).

    Args:
        model: e.g. "text-embedding-3-small". api_key: OPENAI_API_KEY.
        base_url: an OpenAI-compatible endpoint (OPENAI_BASE_URL), optional.
    Raises:
        ValueError: no API key.
    """

    max_tokens = 8191

    def __init__(self, model: str, api_key: str | None, base_url: str | None = None,
                 batch_size: int = 256) -> None:
        if not api_key:
            raise ValueError("embedder openai:* needs OPENAI_API_KEY")
        from openai import AsyncOpenAI, OpenAI

        self.model = model
        self.name = f"openai-{model}"
        self.dimensions = _OPENAI_DIMS.get(model, 0)
        self.batch_size = batch_size
        self.client = OpenAI(api_key=api_key, base_url=base_url, max_retries=3)
        self.aclient = AsyncOpenAI(api_key=api_key, base_url=base_url, max_retries=3)

    def _request(self, texts: list[str]) -> list[list[float]]:
        resp = self.client.embeddings.create(model=self.model, input=texts)
        return [d.embedding for d in sorted(resp.data, key=lambda d: d.index)]

    async def _arequest(self, texts: list[str]) -> list[list[float]]:
        resp = await self.aclient.embeddings.create(model=self.model, input=texts)
        return [d.embedding for d in sorted(resp.data, key=lambda d: d.index)]


class GeminiEmbedder(_RemoteEmbedder):
    """Gemini embeddings (google-genai ``models.embed_content``, task RETRIEVAL_DOCUMENT).

    Args:
        model: e.g. "text-embedding-004". api_key: GEMINI_API_KEY / GOOGLE_API_KEY.
        base_url: endpoint override (GEMINI_BASE_URL), optional.
    Raises:
        ValueError: no API key.
    """

    max_tokens = 2048

    def __init__(self, model: str, api_key: str | None, base_url: str | None = None,
                 batch_size: int = 100) -> None:
        if not api_key:
            raise ValueError("embedder gemini:* needs GEMINI_API_KEY")
        from google import genai
        from google.genai import types

        options = types.HttpOptions(base_url=base_url) if base_url else None
        self.model = model
        self.name = f"gemini-{model}"
        self.dimensions = _GEMINI_DIMS.get(model, 0)
        self.batch_size = batch_size
        self.client = genai.Client(api_key=api_key, http_options=options)
        self._config = types.EmbedContentConfig(task_type="RETRIEVAL_DOCUMENT")

    def _request(self, texts: list[str]) -> list[list[float]]:
        # list[str] is a valid ContentListUnion; list invariance in the SDK's hints rejects it
        resp = self.client.models.embed_content(model=self.model,
                                                contents=texts,  # type: ignore[arg-type]
                                                config=self._config)
        return [list(e.values or []) for e in resp.embeddings or []]

    async def _arequest(self, texts: list[str]) -> list[list[float]]:
        resp = await self.client.aio.models.embed_content(model=self.model,
                                                          contents=texts,  # type: ignore[arg-type]
                                                          config=self._config)
        return [list(e.values or []) for e in resp.embeddings or []]
