"""`python -m rag eval`: score the retriever on a BEIR folder.

The corpus is indexed once into a fresh temporary store, one document per corpus
entry, in corpus order (one document at a time: a fixed insertion order). With
context-carrying chunks (settings.chunk_context, the default) an entry's text is
indexed with its title as the document title, so every chunk carries it; without,
the text is title + blank line + text as before. Every judged query of the split is
searched in each requested mode through RagService.search, chunk hits are reduced to
documents in the order the service ranked them (its document-aware ranking decides),
and nDCG@10, Recall@10, Recall@100 and MRR@10 are computed as BEIR does
(evaluation.metrics). `--mode all` adds the outside baselines of evaluation.baselines
(baseline-dense, baseline-bm25); `--sweep` adds the variants of evaluation.sweep
(settings the defaults were chosen from), all on the same index.

Repeatable: dense search is exact cosine over every stored chunk vector
(evaluation.baselines.exact_dense_search) instead of Chroma's approximate HNSW, and
embeddings come from an on-disk cache keyed by (model, text)
(evaluation.embed_cache), so two runs give the same numbers and variants that embed
the same texts pay once. Latencies are therefore search times with cached query
vectors and exact search, not the app's; the speed targets are `python -m rag bench`'s.

Output: a table on stdout, indexing progress on stderr. With --json the last stdout
line is one JSON object: for a single mode exactly RESULT_KEYS; for --mode all an
object {"dense": {...}, "bm25": {...}, ...} of such objects, one per row.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from evaluation.baselines import baseline_bm25, baseline_dense, entry_text, exact_dense_search
from evaluation.beir import BeirDataset, BeirFormatError, load_beir
from evaluation.embed_cache import DEFAULT_PATH, CachedEmbedder
from evaluation.metrics import evaluate
from evaluation.sweep import SWEEP

MODES = ("dense", "bm25", "hybrid", "hybrid-rrf")
BASELINES = ("baseline-dense", "baseline-bm25")
#: eval mode -> RagService.search arguments ("hybrid-rrf": hybrid with RRF fusion, to
#: compare with the default convex fusion in the same run)
SEARCH_ARGS = {"dense": {"mode": "dense"}, "bm25": {"mode": "bm25"},
               "hybrid": {"mode": "hybrid"}, "hybrid-rrf": {"mode": "hybrid", "fusion": "rrf"}}
RESULT_KEYS = ("ndcg@10", "recall@10", "recall@100", "mrr@10", "queries", "docs",
               "index_s", "query_p50_ms", "query_p95_ms")
DOC_DEPTH = 100  # documents kept per query (Recall@100)
CHUNK_DEPTH = 200  # chunks asked of the store per query, then reduced to documents
EVAL_OWNER = "beir-eval"


@dataclass
class IndexedCorpus:
    """What indexing produced: store doc id -> corpus ids (identical texts share one)."""

    corpus_ids: dict[str, list[str]]
    seconds: float
    chunks: int
    failed: list[str]
    backend: str = "sqlite"  # keyword index and registry (rag.store.backend)


@dataclass
class ModeResult:
    """Scores and per-query latencies (ms, query embedding included) of one mode."""

    mode: str
    metrics: dict[str, float]
    latencies_ms: list[float]

    def as_json(self, queries: int, docs: int, index_s: float) -> dict:
        """The --json object: exactly RESULT_KEYS."""
        row = {name: round(value, 4) for name, value in self.metrics.items()}
        row.update(queries=queries, docs=docs, index_s=round(index_s, 2),
                   query_p50_ms=round(percentile(self.latencies_ms, 50), 2),
                   query_p95_ms=round(percentile(self.latencies_ms, 95), 2))
        return {key: row[key] for key in RESULT_KEYS}


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation (numpy's default); 0.0 if empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


class _Progress:
    """Prints indexing progress (documents finished, rate, ETA) to stderr.

    On a terminal one line is rewritten every second; otherwise (a log file) a new
    line is written every 10 seconds.
    """

    def __init__(self, total: int) -> None:
        self.total, self.finished, self.shown = total, set(), -1
        self.start = self.last = time.perf_counter()
        self.tty = sys.stderr.isatty()
        self.interval = 1.0 if self.tty else 10.0

    def __call__(self, event) -> None:
        if event.stage in ("done", "failed"):
            self.finished.add(event.filename)
        now = time.perf_counter()
        if now - self.last >= self.interval or len(self.finished) == self.total:
            self.last = now
            self.show(now)

    def show(self, now: float) -> None:
        done, elapsed = len(self.finished), now - self.start
        self.shown = done
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - done) / rate if rate > 0 else float("nan")
        line = (f"indexing: {done}/{self.total} documents, {rate:.1f} docs/s, "
                f"{elapsed:.0f} s elapsed, ETA {eta:.0f} s")
        print(("\r" + line) if self.tty else line, end="" if self.tty else "\n",
              file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.shown != len(self.finished):
            self.show(time.perf_counter())
        if self.tty:
            print(file=sys.stderr)


async def index_corpus(service, dataset: BeirDataset, scope) -> IndexedCorpus:
    """Index every corpus entry as one TextDocument named by its "_id" (its title the
    document title with context-carrying chunks, else the first line of its text)."""
    from rag.models import TextDocument

    if service.settings.chunk_context:
        documents = [TextDocument(name=e.id, text=e.text,
                                  metadata={"corpus_id": e.id, "title": e.title})
                     for e in dataset.corpus.values()]
    else:
        documents = [TextDocument(name=e.id, text=entry_text(e.title, e.text),
                                  metadata={"corpus_id": e.id})
                     for e in dataset.corpus.values()]
    progress = _Progress(len(documents))
    start = time.perf_counter()
    reports = await service.index_texts(documents, scope, on_progress=progress)
    seconds = time.perf_counter() - start
    progress.close()
    corpus_ids: dict[str, list[str]] = {}
    failed = []
    for document, report in zip(documents, reports, strict=True):
        if report.status == "failed" or not report.doc_id:
            failed.append(f"{document.name}: {report.error}")
            continue
        corpus_ids.setdefault(report.doc_id, []).append(document.name)
    chunks = await service.count_chunks(scope)
    from rag.store.backend import backend_name

    return IndexedCorpus(corpus_ids, seconds, chunks, failed, backend_name(service.settings))


def rank_documents(hits, corpus_ids: dict[str, list[str]], depth: int = DOC_DEPTH) -> list[str]:
    """Chunk hits (best first) -> corpus ids ranked by their best chunk, at most depth.

    Corpus entries with identical text were stored as one document; each of them
    takes that document's rank (BEIR scores them as separate documents).
    """
    ranking: dict[str, None] = {}
    for hit in hits:
        ids = corpus_ids.get(hit.doc_id) or [hit.metadata.get("corpus_id") or hit.source]
        for corpus_id in ids:
            ranking.setdefault(corpus_id, None)
        if len(ranking) >= depth:
            break
    return list(ranking)[:depth]


async def run_mode(service, dataset: BeirDataset, scope, mode: str,
                   indexed: IndexedCorpus, overrides: dict | None = None) -> ModeResult:
    """Search every judged query once in `mode` (after one untimed warm-up search).

    mode: one of MODES, BASELINES or a SWEEP name. overrides: settings fields changed
    for this mode only (a sweep variant's); the service's settings are restored after.
    """
    if mode == "baseline-dense":
        runs, latencies = await asyncio.to_thread(baseline_dense, dataset, service.embedder)
        return ModeResult(mode, evaluate(runs, dataset.qrels), latencies)
    if mode == "baseline-bm25":
        runs, latencies = await asyncio.to_thread(baseline_bm25, dataset)
        return ModeResult(mode, evaluate(runs, dataset.qrels), latencies)
    if mode in SWEEP:
        args, overrides = SWEEP[mode]
    else:
        args = SEARCH_ARGS[mode]
    base = service.settings
    service.settings = base.model_copy(update=overrides or {})
    try:
        first = next(iter(dataset.queries.values()))
        await service.search(first, scope, k=CHUNK_DEPTH, **args)  # load lazy state
        runs: dict[str, list[str]] = {}
        latencies: list[float] = []
        for query_id, text in dataset.queries.items():
            start = time.perf_counter()
            hits = await service.search(text, scope, k=CHUNK_DEPTH, **args)
            latencies.append((time.perf_counter() - start) * 1000)
            runs[query_id] = rank_documents(hits, indexed.corpus_ids)
    finally:
        service.settings = base
    return ModeResult(mode, evaluate(runs, dataset.qrels), latencies)


def _settings(data_dir: Path, context: bool | None = None):
    """Settings for a private store: the data dir given, never a Chroma server, one
    document indexed at a time (a fixed insertion order); context None = as set. The
    keyword index and registry follow DATABASE_URL (PostgreSQL: a collection of its own,
    removed after the run)."""
    import uuid

    from rag.config import RagSettings

    overrides: dict = {"chroma_host": None, "index_concurrency": 1,
                       "collection": f"eval{uuid.uuid4().hex[:8]}",
                       # the whole corpus is handed to index_texts at once: the per-user
                       # quota of the app (RAG_USER_MAX_PENDING_*) would refuse most of it
                       "user_max_pending_files": 10**9, "user_max_pending_mb": 1e9}
    if context is not None:
        overrides["chunk_context"] = context
    return RagSettings(data_dir=data_dir, **overrides)


async def evaluate_beir(beir_dir: str | Path, split: str = "test",
                        modes: Sequence[str] = ("hybrid",), context: bool | None = None,
                        cache: str | Path | None = DEFAULT_PATH
                        ) -> tuple[BeirDataset, IndexedCorpus, list[ModeResult]]:
    """Index the corpus of a BEIR folder into a temporary store and score each mode.

    Args:
        modes: names from MODES, BASELINES or evaluation.sweep.SWEEP.
        context: index context-carrying chunks (None: settings.chunk_context).
        cache: the embedding cache file; None embeds everything afresh.

    Raises:
        BeirFormatError: the folder is not valid BEIR (see evaluation.beir).
    """
    from rag.models import Scope
    from rag.service import RagService, shared_embedder

    dataset = await asyncio.to_thread(load_beir, beir_dir, split)
    scope = Scope(owner=EVAL_OWNER, thread_id="eval")  # one thread: no owner-wide dedupe
    with tempfile.TemporaryDirectory(prefix="docchat-eval-",
                                     ignore_cleanup_errors=True) as tmp:
        settings = _settings(Path(tmp), context)
        embedder = await asyncio.to_thread(shared_embedder, settings)
        if cache is not None:
            embedder = CachedEmbedder(embedder, cache)
        service = await RagService.open(settings, embedder=embedder)
        try:
            indexed = await index_corpus(service, dataset, scope)
            service.store.dense_search = await asyncio.to_thread(
                exact_dense_search, service.store, scope.owner)
            service.store.doc_search = await asyncio.to_thread(
                exact_dense_search, service.store, scope.owner, True)
            results = [await run_mode(service, dataset, scope, mode, indexed) for mode in modes]
        finally:
            try:
                if indexed_backend(service) == "postgresql":  # shared database: clean up
                    await asyncio.to_thread(service.store.delete_owner, scope.owner)
            finally:
                await service.close()
            if cache is not None:
                embedder.close()
    return dataset, indexed, results


def indexed_backend(service) -> str:
    """"postgresql" or "sqlite": where the service keeps keyword index and registry."""
    from rag.store.backend import backend_name

    return backend_name(service.settings)


def format_report(beir_dir: str | Path, dataset: BeirDataset, indexed: IndexedCorpus,
                  results: Sequence[ModeResult]) -> str:
    """A readable table: one row per mode, with counts and timings above it."""
    lines = [
        (f"BEIR eval of {beir_dir} (split {dataset.split}): {len(dataset.queries)} queries, "
         f"{len(dataset.corpus)} documents, {indexed.chunks} chunks, "
         f"indexed in {indexed.seconds:.1f} s; keyword index: {indexed.backend}"),
        (f"{'mode':<15}{'nDCG@10':>9}{'R@10':>8}{'R@100':>8}{'MRR@10':>8}"
         f"{'p50 ms':>9}{'p95 ms':>9}"),
    ]
    for r in results:
        m = r.metrics
        lines.append(f"{r.mode:<15}{m['ndcg@10']:>9.4f}{m['recall@10']:>8.4f}"
                     f"{m['recall@100']:>8.4f}{m['mrr@10']:>8.4f}"
                     f"{percentile(r.latencies_ms, 50):>9.1f}"
                     f"{percentile(r.latencies_ms, 95):>9.1f}")
    if indexed.failed:
        lines.append(f"{len(indexed.failed)} documents failed to index (they count as misses), "
                     f"first: {indexed.failed[0]}")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The eval options, for `python -m rag eval` and this module's own entry point."""
    parser.add_argument("beir_dir", help="BEIR folder: corpus.jsonl, queries.jsonl, qrels/")
    parser.add_argument("--split", default="test", help="qrels split (default test)")
    parser.add_argument("--mode", default="hybrid", choices=[*MODES, *BASELINES, "all"],
                        help="retrieval mode; all = index once, score dense, bm25, hybrid "
                        "(the default retrieval), hybrid-rrf, baseline-dense, baseline-bm25")
    parser.add_argument("--sweep", nargs="?", const="", default=None, metavar="NAMES",
                        help="also score the variants of evaluation.sweep on the same index "
                        "(all, or those named in a comma-separated list)")
    parser.add_argument("--context", choices=["on", "off"], default=None,
                        help="context-carrying chunks (default: RAG_CHUNK_CONTEXT, on)")
    parser.add_argument("--cache", default=None,
                        help=f"embedding cache file (default {DEFAULT_PATH}); '' = none")
    parser.add_argument("--json", action="store_true",
                        help="end with one JSON line of the results")


def main(args: argparse.Namespace) -> int:
    """Run the evaluation for parsed CLI arguments; returns the process exit code."""
    modes = (*MODES, *BASELINES) if args.mode == "all" else (args.mode,)
    sweep = getattr(args, "sweep", None)
    if sweep is not None:
        chosen = [name for name in sweep.split(",") if name] or list(SWEEP)
        unknown = [name for name in chosen if name not in SWEEP]
        if unknown:
            print(f"error: unknown sweep variant(s) {', '.join(unknown)}; "
                  f"known: {', '.join(SWEEP)}", file=sys.stderr)
            return 2
        modes = (*modes, *chosen)
    context = getattr(args, "context", None)
    cache = getattr(args, "cache", None)
    cache = DEFAULT_PATH if cache is None else (cache or None)
    try:
        dataset, indexed, results = asyncio.run(evaluate_beir(
            args.beir_dir, args.split, modes, None if context is None else context == "on",
            cache))
    except BeirFormatError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_report(args.beir_dir, dataset, indexed, results))
    if args.json:
        rows = {r.mode: r.as_json(len(dataset.queries), len(dataset.corpus), indexed.seconds)
                for r in results}
        print(json.dumps(rows[args.mode] if len(rows) == 1 else rows))
    return 0


if __name__ == "__main__":
    _parser = argparse.ArgumentParser(prog="python -m evaluation.retrieval",
                                      description="Score retrieval on a BEIR folder.")
    add_arguments(_parser)
    sys.exit(main(_parser.parse_args()))
