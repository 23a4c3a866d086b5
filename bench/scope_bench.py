"""Measure how a thread's own files should be preferred: filter, no preference or boost.

A BEIR set is split as a user's chats would be: ``--thread-queries`` queries have their
relevant document attached in the current thread, together with ``--thread-extra``
random distractors; every other document sits in other threads of the same owner.
Each query is searched (k = the app's default 5) with:

- ``filter``: this thread's documents only (the old default scope);
- ``all``: every document of the owner, no preference;
- ``boost=w``: :class:`chat.scope.ThreadPreferringRetriever` with weight ``w``.

Printed: Recall@5 (the relevant document among the 5 passages the answer sees) for the
queries about the thread's files and for the queries about other chats' files.

    python -m bench.scope_bench /tmp/faq_small [--thread-queries 40] [--seed 7]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from pathlib import Path

OWNER = "bench-user"
THREAD = "thread-current"


async def main(args: argparse.Namespace) -> None:
    from chat.scope import ThreadPreferringRetriever
    from evaluation.beir import load_beir
    from evaluation.retrieval import _settings
    from rag.models import Scope, TextDocument
    from rag.service import RagService

    data = load_beir(Path(args.beir), split=args.split)
    rng = random.Random(args.seed)
    judged = [(q, next(iter(data.qrels[q]))) for q in data.queries if data.qrels.get(q)]
    rng.shuffle(judged)
    inside = judged[:args.thread_queries]
    thread_docs = {doc for _, doc in inside}
    others = [d for d in data.corpus if d not in thread_docs]
    thread_docs |= set(rng.sample(others, min(args.thread_extra, len(others))))
    outside = [(q, d) for q, d in judged[args.thread_queries:] if d not in thread_docs]
    outside = outside[:args.other_queries]

    with tempfile.TemporaryDirectory() as tmp:
        service = await RagService.open(_settings(Path(tmp)))
        try:
            start = time.perf_counter()
            threads: dict[str, list[TextDocument]] = {}
            for i, (doc_id, entry) in enumerate(data.corpus.items()):
                thread = THREAD if doc_id in thread_docs else f"thread-other-{i % 7}"
                text = f"{entry.title}\n\n{entry.text}" if entry.title else entry.text
                threads.setdefault(thread, []).append(TextDocument(name=doc_id, text=text))
            for thread, documents in sorted(threads.items()):
                await service.index_texts(documents, Scope(owner=OWNER, thread_id=thread))
            print(f"indexed {len(data.corpus)} documents ({len(thread_docs)} in the thread) "
                  f"in {time.perf_counter() - start:.0f} s")
            everywhere = Scope(owner=OWNER)
            local = Scope(owner=OWNER, thread_id=THREAD)
            variants = {"filter": (service, local), "all": (service, everywhere)}
            for w in args.boosts:
                variants[f"boost={w:g}"] = (ThreadPreferringRetriever(service, THREAD, w),
                                            everywhere)
            print(f"{'variant':<12} R@{args.k} thread files ({len(inside)} q)   "
                  f"R@{args.k} other chats' files ({len(outside)} q)")
            for name, (retriever, scope) in variants.items():
                rates = []
                for queries in (inside, outside):
                    hits = 0
                    for query_id, doc in queries:
                        found = await retriever.search(data.queries[query_id], scope, k=args.k)
                        hits += any(h.source == doc for h in found)
                    rates.append(hits / max(1, len(queries)))
                print(f"{name:<12} {rates[0]:>26.3f}   {rates[1]:>28.3f}")
        finally:
            await service.close()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("beir", help="BEIR folder (corpus.jsonl, queries.jsonl, qrels/)")
    parser.add_argument("--split", default="test")
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--thread-queries", type=int, default=40)
    parser.add_argument("--thread-extra", type=int, default=40)
    parser.add_argument("--other-queries", type=int, default=80)
    parser.add_argument("--boosts", type=float, nargs="+", default=[0.5, 1.0, 2.0])
    parser.add_argument("--seed", type=int, default=7)
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
