"""`python -m rag bench`: indexing throughput vs the raw embedder, and query latency.

1. Real text: reST sources of the Python docs (Debian python3.11-doc) or --docs DIR;
   files are taken in sorted order until they hold >= --chunks chunks.
2. Raw embedder: the same chunks' embedded texts (context line + chunk) in batches
   of RAG_EMBED_BATCH.
3. Pipeline: the same files through RagService.index_files (load, chunk, embed,
   store) into a fresh temporary store.
4. Query latency: the store is filled to --query-chunks chunks with more real
   text; hybrid searches (query embedding included) with FAQ questions.

Filler chunks (step 4) carry real text but their vectors are the pipeline's
real vectors reused with small noise: embedding 8,000 more chunks would take
longer than the whole rest of the bench on 2 cores, and search cost depends on
the number and size of vectors, not on what they mean.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from rag.config import RagSettings
from rag.errors import DocumentError
from rag.models import Scope

DEFAULT_DOCS = Path("/usr/share/doc/python3.11/html/_sources")
BENCH_OWNER = "bench"
_QUESTION = re.compile(r"^([A-Z][^\n]{8,120}\?)\n[=\-~^\"]{5,}$", re.MULTILINE)


def text_files(root: Path) -> list[Path]:
    """Real text files under root (.txt/.md/.rst), sorted, non-empty."""
    files = [p for p in sorted(root.rglob("*")) if p.is_file()
             and p.suffix in (".txt", ".md", ".rst") and p.stat().st_size > 0]
    if not files:
        raise SystemExit(f"no text files under {root}: install python3.11-doc or pass --docs")
    return files


def faq_questions(root: Path, n: int) -> list[str]:
    """Section titles that are questions (the Python FAQ), else first lines of files."""
    questions: list[str] = []
    for path in text_files(root):
        questions += _QUESTION.findall(path.read_text(encoding="utf-8", errors="replace"))
    if len(questions) < n:
        questions += [p.stem.replace("_", " ") for p in text_files(root)]
    return questions[:n]


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (linear interpolation)."""
    return float(np.percentile(np.asarray(values), q)) if values else 0.0


async def run(args: argparse.Namespace) -> dict:
    from rag.chunking import Chunker
    from rag.loaders.files import load_file
    from rag.service import RagService, shared_embedder

    root = Path(args.docs) if args.docs else DEFAULT_DOCS
    # the per-user upload quota (RAG_USER_MAX_PENDING_FILES, 10) would refuse all but 10
    # of the files handed to index_files at once: lifted, the bench measures the pipeline
    settings = RagSettings(data_dir=Path(tempfile.mkdtemp(prefix="rag-bench-")),
                           user_max_pending_files=10**9, user_max_pending_mb=1e9)
    embedder = shared_embedder(settings)
    service = await RagService.open(settings, embedder=embedder)
    chunker: Chunker = service.chunker
    files, texts = [], []
    rest = iter(text_files(root))
    for path in rest:
        try:
            chunks = chunker.split(load_file(path), BENCH_OWNER, None)
        except DocumentError as exc:
            log(f"bench: skipped {exc}")
            continue
        files.append(path)
        texts += [c.embedding_text for c in chunks]  # what the pipeline embeds
        if len(texts) >= args.chunks:
            break
    log(f"bench: {len(files)} files, {len(texts)} chunks of real text from {root}")
    embedder.embed(texts[:16])  # warm-up
    batch = settings.embed_batch
    start = time.perf_counter()
    for i in range(0, len(texts), batch):
        embedder.embed(texts[i:i + batch])
    raw_s = time.perf_counter() - start
    log(f"bench: raw embedder {len(texts) / raw_s:.2f} chunks/s ({raw_s:.1f} s)")

    start = time.perf_counter()
    reports = await service.index_files(files, Scope(BENCH_OWNER))
    pipe_s = time.perf_counter() - start
    indexed = sum(r.chunks for r in reports)
    failed = [f"{r.filename}: {r.error}" for r in reports if r.status == "failed"]
    if failed:
        raise RuntimeError(f"bench: {len(failed)} files failed to index, first: {failed[0]}")
    log(f"bench: pipeline {indexed / pipe_s:.2f} chunks/s ({pipe_s:.1f} s, {indexed} chunks)")

    await fill(service, rest, args.query_chunks, chunker)
    total = await service.count_chunks(Scope(BENCH_OWNER))
    questions = faq_questions(root / "faq" if (root / "faq").is_dir() else root, args.queries)
    await service.search(questions[0], Scope(BENCH_OWNER), k=5)  # warm-up
    latencies = []
    for q in questions:
        t0 = time.perf_counter()
        await service.search(q, Scope(BENCH_OWNER), k=5, mode="hybrid")
        latencies.append((time.perf_counter() - t0) * 1000)
    await service.close()
    log(f"bench: {len(latencies)} hybrid queries at {total} chunks")
    embedder_rate = len(texts) / raw_s
    pipeline_rate = indexed / pipe_s
    return {
        "pipeline_chunks_per_s": round(pipeline_rate, 2),
        "embedder_chunks_per_s": round(embedder_rate, 2),
        "ratio": round(pipeline_rate / embedder_rate, 3),
        "query_p50_ms": round(percentile(latencies, 50), 2),
        "query_p95_ms": round(percentile(latencies, 95), 2),
        "chunks": indexed,
    }


async def fill(service, files, target: int, chunker) -> None:
    """Add real-text chunks (with reused, perturbed real vectors, and a document vector
    per document) until ``target``."""
    from rag.loaders.files import load_file

    store = service.store
    have = await service.count_chunks(Scope(BENCH_OWNER))
    base = await asyncio.to_thread(
        lambda: np.asarray(store.chroma.collection_for(BENCH_OWNER).get(limit=2000, include=["embeddings"])
                           ["embeddings"], dtype=np.float32))
    rng = np.random.default_rng(0)
    for n, path in enumerate(files):
        if have >= target:
            break
        try:
            doc = load_file(path)
        except DocumentError as exc:
            log(f"bench: skipped {exc}")
            continue
        thread = f"fill-{n % 10}"
        chunks = chunker.split(doc, BENCH_OWNER, thread)[: target - have]
        if not chunks:
            continue
        vectors = base[rng.integers(0, len(base), len(chunks))]
        vectors = vectors + rng.normal(0, 0.05, vectors.shape).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        # its document vector: its first chunk's (the search reads as many as indexing
        # writes, one per document)
        await asyncio.to_thread(store.write_document, BENCH_OWNER, thread, doc.doc_id,
                                doc.filename, chunks, vectors, vectors[0])
        have += len(chunks)
    if have < target:
        log(f"bench: only {have} chunks of text available (wanted {target})")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(args: argparse.Namespace) -> int:
    """Run the bench; print a summary, and with --json the JSON line last."""
    keyword_chunks = getattr(args, "keyword_chunks", 0)
    if getattr(args, "keyword_only", False):
        from bench.keyword_bench import run as keyword_run

        rows = keyword_run(args) if keyword_chunks else []
        if args.json:
            print(json.dumps({"keyword": rows}))
        return 0
    result = asyncio.run(run(args))
    print(f"pipeline  {result['pipeline_chunks_per_s']:.2f} chunks/s  "
          f"(raw embedder {result['embedder_chunks_per_s']:.2f} chunks/s, "
          f"ratio {result['ratio']:.3f}, {result['chunks']} chunks)")
    print(f"hybrid query at {args.query_chunks} chunks: p50 {result['query_p50_ms']:.1f} ms, "
          f"p95 {result['query_p95_ms']:.1f} ms")
    if keyword_chunks:
        from bench.keyword_bench import run as keyword_run

        result["keyword"] = keyword_run(args)
    if args.json:
        print(json.dumps(result))
    return 0
