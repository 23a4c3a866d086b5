"""``python -m agents bench [--json]``: latency of the answering flow on a real store.

Indexes real text (Debian's python3.11-doc reST sources) into a real store with the
real embedder until it holds ``--chunks`` chunks (10,000 by default; cached in
``--data-dir`` between runs), then asks ``--questions`` questions (200) through the
shared flow with an instant fake LLM (:class:`bench.fake_llm.ScriptedLLM`) and reports:

- time from question to first answer token, p50 / p95 / max in ms;
- per node: mean duration, mean time inside the store (rag calls), and the flow's own
  overhead (duration minus store time; the fake LLM takes ~0 ms).

The text is read at run time and never committed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from agents.graph import get_flow
from agents.observer import FlowEvent
from agents.runner import ask
from bench.fake_llm import ScriptedLLM

DOC_SOURCES = Path("/usr/share/doc/python3.11/html/_sources")
DEFAULT_DATA_DIR = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / \
    "docchat" / "agents-bench"
OWNER = "bench"
TARGET_P50_MS = 100.0


def source_files(root: Path = DOC_SOURCES) -> list[Path]:
    """The reST sources, sorted (so every run indexes the same text).

    Raises:
        FileNotFoundError: python3.11-doc is not installed (``apt-get install python3.11-doc``).
    """
    files = sorted(root.rglob("*.rst.txt"))
    if not files:
        raise FileNotFoundError(f"no reST sources under {root}: apt-get install python3.11-doc")
    return files


async def ensure_index(rag: Any, scope: Any, target: int, batch: int = 20) -> dict:
    """Index source files in order until the scope holds at least ``target`` chunks.

    Returns:
        ``{"chunks": int, "documents": int, "index_s": float}`` (0 s when cached).
    """
    from rag.models import TextDocument

    started, count = time.perf_counter(), await rag.count_chunks(scope)
    if count < target:
        indexed = {d.filename for d in await rag.list_documents(scope)}
        pending = [p for p in source_files() if _name(p) not in indexed]
        while count < target and pending:
            docs = [TextDocument(name=_name(p), text=p.read_text(encoding="utf-8"))
                    for p in pending[:batch]]
            pending = pending[batch:]
            await rag.index_texts(docs, scope)
            count = await rag.count_chunks(scope)
            print(f"indexed {count} chunks", file=sys.stderr)
    documents = len(await rag.list_documents(scope))
    return {"chunks": count, "documents": documents,
            "index_s": round(time.perf_counter() - started, 1) if count else 0.0}


def make_questions(n: int, seed: int = 7) -> list[str]:
    """``n`` questions about phrases taken from the sources (deterministic)."""
    rng = random.Random(seed)
    files = source_files()
    questions: list[str] = []
    while len(questions) < n:
        text = rng.choice(files).read_text(encoding="utf-8")
        sentences = [s for s in re.split(r"(?<=[.!?])\s+", text)
                     if len(re.findall(r"[A-Za-z]{3,}", s)) >= 6 and not s.lstrip().startswith(("..", ":"))]
        if sentences:
            words = re.findall(r"[A-Za-z_][\w.]*", rng.choice(sentences))[:8]
            questions.append(f"What does the documentation say about {' '.join(words)}?")
    return questions


class TimedRag:
    """Wraps a RagService; ``spent_ms`` is the wall time with at least one call in flight
    (concurrent calls, like Supervisor's count and listing, are not counted twice)."""

    def __init__(self, rag: Any) -> None:
        self.rag, self.spent_ms = rag, 0.0
        self._active, self._since = 0, 0.0

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.rag, name)

        async def timed(*args: Any, **kwargs: Any) -> Any:
            if self._active == 0:
                self._since = time.perf_counter()
            self._active += 1
            try:
                return await method(*args, **kwargs)
            finally:
                self._active -= 1
                if self._active == 0:
                    self.spent_ms += (time.perf_counter() - self._since) * 1000.0
        return timed


class BenchObserver:
    """Notes the first token's time and, per node, duration and store time."""

    def __init__(self, rag: TimedRag, stats: dict) -> None:
        self.rag, self.stats = rag, stats
        self.first_token: float | None = None
        self._store_at_start: dict[str, float] = {}

    async def __call__(self, event: FlowEvent) -> None:
        if event.kind == "token" and self.first_token is None:
            self.first_token = time.perf_counter()
        elif event.kind == "node_start":
            self._store_at_start[event.step_id] = self.rag.spent_ms
        elif event.kind == "node_end":
            store_ms = self.rag.spent_ms - self._store_at_start.pop(event.step_id)
            self.stats[event.node].append((event.duration_ms, store_ms))


async def run_questions(rag: Any, scope: Any, questions: list[str], warmup: int = 5,
                        router: Any = None) -> dict:
    """Ask each question through the shared flow; returns the latency report.

    router: the default is the instant fake LLM; ``--extractive`` passes the router with
    only the extractive provider (the no-key path: sentence scoring with MiniLM and the
    support decision run before the first token).
    """
    timed, llm, flow = TimedRag(rag), router or ScriptedLLM(), get_flow()
    for question in questions[:warmup]:
        await ask(question, scope=scope, rag=timed, router=llm, flow=flow)
    stats: dict[str, list[tuple[float, float]]] = defaultdict(list)
    ttft, totals, routes = [], [], defaultdict(int)
    for question in questions:
        observer = BenchObserver(timed, stats)
        started = time.perf_counter()
        result = await ask(question, scope=scope, rag=timed, router=llm, observer=observer,
                           flow=flow)
        totals.append((time.perf_counter() - started) * 1000.0)
        routes[result.route] += 1
        if observer.first_token is not None:
            ttft.append((observer.first_token - started) * 1000.0)
    return {"first_token_ms": _percentiles(ttft), "run_ms": _percentiles(totals),
            "routes": dict(routes), "nodes": _node_report(stats)}


def _percentiles(values: list[float]) -> dict:
    if not values:
        return {"n": 0}
    ordered = sorted(values)
    pick = lambda q: ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]
    return {"n": len(values), "p50": round(pick(0.5), 2), "p95": round(pick(0.95), 2),
            "max": round(ordered[-1], 2), "mean": round(statistics.fmean(values), 2)}


def _node_report(stats: dict) -> dict:
    report = {}
    for node, rows in stats.items():
        durations = [d for d, _ in rows]
        store = [s for _, s in rows]
        overhead = [max(0.0, d - s) for d, s in rows]
        report[node] = {"runs": len(rows), "mean_ms": round(statistics.fmean(durations), 3),
                        "store_ms": round(statistics.fmean(store), 3),
                        "overhead_ms": round(statistics.fmean(overhead), 3),
                        "overhead_p95_ms": _percentiles(overhead)["p95"]}
    return report


async def run_bench(args: argparse.Namespace) -> int:
    """Build or reuse the index, run the questions, print the report."""
    from rag.config import RagSettings
    from rag.models import Scope
    from rag.service import RagService

    data_dir = Path(args.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    # ensure_index hands 20 files at a time to index_texts: past the per-user upload
    # quota (RAG_USER_MAX_PENDING_FILES, 10), which guards the app's uploads, not a bench
    rag = await RagService.open(RagSettings(data_dir=data_dir, user_max_pending_files=10**9,
                                            user_max_pending_mb=1e9))
    scope = Scope(owner=OWNER)
    try:
        index = await ensure_index(rag, scope, args.chunks)
        report = {"index": {**index, "data_dir": str(data_dir)},
                  **await run_questions(rag, scope, make_questions(args.questions),
                                        router=_extractive_router() if args.extractive
                                        else None)}
    finally:
        await rag.close()
    report["target_p50_ms"] = TARGET_P50_MS
    report["meets_target"] = report["first_token_ms"].get("p50", 1e9) <= TARGET_P50_MS
    print(json.dumps(report, indent=2) if args.json else format_bench(report))
    return 0


def format_bench(report: dict) -> str:
    """A human-readable version of the report."""
    ft, run = report["first_token_ms"], report["run_ms"]
    lines = [(f"store: {report['index']['chunks']} chunks in {report['index']['documents']} "
             f"documents ({report['index']['data_dir']})"),
             (f"first answer token: p50 {ft['p50']} ms, p95 {ft['p95']} ms, max {ft['max']} ms "
             f"over {ft['n']} questions (target p50 <= {TARGET_P50_MS:.0f} ms: "
             f"{'met' if report['meets_target'] else 'NOT met'})"),
             f"whole run: p50 {run['p50']} ms, p95 {run['p95']} ms   routes: {report['routes']}",
             "", f"{'node':<12} {'runs':>5} {'mean ms':>9} {'store ms':>9} {'overhead ms':>12}"]
    for node, row in report["nodes"].items():
        lines.append(f"{node:<12} {row['runs']:>5} {row['mean_ms']:>9.2f} "
                     f"{row['store_ms']:>9.2f} {row['overhead_ms']:>12.3f}")
    return "\n".join(lines)


def add_bench_parser(commands: Any) -> None:
    """Register the ``bench`` subcommand."""
    parser = commands.add_parser("bench", help="time question -> first token on 10k chunks")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--chunks", type=int, default=10_000, help="chunks to index (10000)")
    parser.add_argument("--questions", type=int, default=200, help="questions (200)")
    parser.add_argument("--extractive", action="store_true",
                        help="answer with the extractive provider (no key, no local model) "
                             "instead of the instant fake LLM")
    parser.add_argument("--data-dir", default=str(DEFAULT_DATA_DIR),
                        help=f"where the bench store is cached (default {DEFAULT_DATA_DIR})")


def _extractive_router() -> Any:
    from evaluation.answers import extractive_router

    return extractive_router()


def _name(path: Path) -> str:
    return str(path.relative_to(DOC_SOURCES)) if path.is_relative_to(DOC_SOURCES) else path.name
