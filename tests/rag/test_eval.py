"""BEIR loading and `python -m rag eval` end to end on a tiny BEIR folder made here.

The end-to-end tests use the real RagService (Chroma, the MiniLM embedder, the keyword
index) on a temporary store.
"""

import argparse
import json
from pathlib import Path

import pytest

from evaluation.beir import BeirFormatError, load_beir

FILLER = ("The quarterly report lists revenue, staffing, office moves and the cafeteria "
          "menu for each region in turn. ")

CORPUS = [
    {"_id": "volcano", "title": "Volcanoes",
     "text": "Magma rises through the crust and erupts as lava from a volcano."},
    {"_id": "bread", "title": "Baking",
     "text": "Sourdough bread needs a starter of flour and water fermented by wild yeast."},
    {"_id": "chess", "title": "Board games",
     "text": "In chess, castling moves the king two squares towards a rook."},
    {"_id": "orbit", "title": "",
     "text": "Satellites in geostationary orbit circle the Earth once per sidereal day."},
    # long: many chunks; the answer sits in the last one
    {"_id": "report", "title": "Annual report",
     "text": FILLER * 60 + "Finally, the lighthouse keeper polishes the brass lantern lens."},
    # identical text to "bread": stored once, must still count as its own document
    {"_id": "bread-copy", "title": "Baking",
     "text": "Sourdough bread needs a starter of flour and water fermented by wild yeast."},
]
QUERIES = [
    {"_id": "q1", "text": "how does lava come out of a volcano"},
    {"_id": "q2", "text": "sourdough starter wild yeast"},
    {"_id": "q3", "text": "castling the king towards the rook in chess"},
    {"_id": "q4", "text": "lighthouse keeper polishes the brass lantern"},
    {"_id": "q5", "text": "a query nobody judged"},
]
QRELS = ("query-id\tcorpus-id\tscore\n"
         "q1\tvolcano\t1\n"
         "q2\tbread\t1\nq2\tbread-copy\t1\n"
         "q3\tchess\t2\nq3\tbread\t0\n"
         "q4\treport\t1\n")


def write_beir(folder: Path, corpus=CORPUS, queries=QUERIES, qrels=QRELS) -> Path:
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text("".join(json.dumps(r) + "\n" for r in corpus))
    (folder / "queries.jsonl").write_text("".join(json.dumps(r) + "\n" for r in queries))
    (folder / "qrels" / "test.tsv").write_text(qrels)
    return folder


def test_load_beir_keeps_judged_queries(tmp_path: Path) -> None:
    data = load_beir(write_beir(tmp_path / "beir"))
    assert list(data.corpus) == [d["_id"] for d in CORPUS]
    assert data.corpus["orbit"].title == ""
    assert list(data.queries) == ["q1", "q2", "q3", "q4"]  # q5 has no judgement
    assert data.qrels["q3"] == {"chess": 2, "bread": 0}


@pytest.mark.parametrize(
    ("file", "content", "message"),
    [
        ("corpus.jsonl", '{"_id": "a", "text": "x"}\n\n{"_id": "b", "text": 3}\n',
         'corpus.jsonl:3: "text" must be a string'),
        ("corpus.jsonl", '{"_id": "a", "text": "x"}\n{"_id": "a", "text": "y"}\n',
         "corpus.jsonl:2: duplicate \"_id\" 'a'"),
        ("queries.jsonl", '{"_id": "q1", "text": "x"}\n{"_id": "q2", "text": "y"\n',
         "queries.jsonl:2: not valid JSON"),
        ("queries.jsonl", '["q1", "x"]\n', "queries.jsonl:1: expected a JSON object"),
        ("qrels/test.tsv", "query-id corpus-id score\nq1 volcano 1\n",
         "test.tsv:1: header must be"),
        ("qrels/test.tsv", "query-id\tcorpus-id\tscore\nq1\tvolcano\n",
         "test.tsv:2: expected 3 tab-separated fields"),
        ("qrels/test.tsv", "query-id\tcorpus-id\tscore\nq1\tvolcano\thigh\n",
         "test.tsv:2: score 'high' is not an integer"),
        ("qrels/test.tsv", "query-id\tcorpus-id\tscore\nq1\tnowhere\t1\n",
         "document 'nowhere' (query 'q1') is not in corpus.jsonl"),
        ("qrels/test.tsv", "query-id\tcorpus-id\tscore\nq9\tvolcano\t1\n",
         "query 'q9' is not in queries.jsonl"),
        ("qrels/test.tsv", "query-id\tcorpus-id\tscore\nq1\tvolcano\t0\n",
         "no query has a relevant document"),
    ],
)
def test_load_beir_names_file_and_line(tmp_path: Path, file: str, content: str,
                                       message: str) -> None:
    folder = write_beir(tmp_path / "beir")
    (folder / file).write_text(content)
    with pytest.raises(BeirFormatError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_beir(folder)


def test_load_beir_missing_split_lists_the_others(tmp_path: Path) -> None:
    folder = write_beir(tmp_path / "beir")
    with pytest.raises(BeirFormatError, match=r"dev.tsv: missing \(splits found: test\)"):
        load_beir(folder, split="dev")
    (folder / "corpus.jsonl").unlink()
    with pytest.raises(BeirFormatError, match="corpus.jsonl: missing"):
        load_beir(folder)


def test_rank_documents_keeps_best_chunk_and_expands_identical_texts() -> None:
    from evaluation.retrieval import rank_documents
    from rag.models import SearchResult

    def hit(chunk: str, doc: str, corpus_id: str) -> SearchResult:
        return SearchResult(chunk_id=chunk, doc_id=doc, text="", score=0.0, rank=0,
                            source=corpus_id, page=None, heading=None,
                            metadata={"corpus_id": corpus_id})

    hits = [hit("c1", "D2", "b"), hit("c2", "D1", "a"), hit("c3", "D2", "b"),
            hit("c4", "D3", "c")]
    corpus_ids = {"D1": ["a"], "D2": ["b", "b2"]}
    assert rank_documents(hits, corpus_ids) == ["b", "b2", "a", "c"]
    assert rank_documents(hits, corpus_ids, depth=2) == ["b", "b2"]


async def test_eval_end_to_end_all_modes(tmp_path: Path) -> None:
    from evaluation.retrieval import RESULT_KEYS, evaluate_beir

    folder = write_beir(tmp_path / "beir")
    data, indexed, results = await evaluate_beir(folder, "test", ("dense", "bm25", "hybrid"),
                                                 cache=tmp_path / "cache.sqlite")

    assert indexed.failed == []
    stored = [cid for ids in indexed.corpus_ids.values() for cid in ids]
    assert sorted(stored) == sorted(d["_id"] for d in CORPUS)
    assert indexed.chunks > len(CORPUS) - 1  # the long report is several chunks
    for result in results:
        assert len(result.latencies_ms) == 4
        assert result.metrics["recall@100"] == 1.0, result.mode  # every relevant doc found
    hybrid = results[2].as_json(len(data.queries), len(data.corpus), indexed.seconds)
    assert tuple(hybrid) == RESULT_KEYS
    assert (hybrid["queries"], hybrid["docs"]) == (4, 6)
    # Distinct vocabulary per topic: hybrid puts every relevant document first.
    assert hybrid["ndcg@10"] == 1.0
    assert hybrid["mrr@10"] == 1.0


def test_eval_main_json_last_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from evaluation.retrieval import RESULT_KEYS, main

    folder = write_beir(tmp_path / "beir")
    code = main(argparse.Namespace(beir_dir=str(folder), split="test", mode="bm25", json=True,
                                  cache=str(tmp_path / "cache.sqlite")))
    out = capsys.readouterr()
    assert code == 0
    lines = out.out.strip().splitlines()
    assert lines[1].split() == ["mode", "nDCG@10", "R@10", "R@100", "MRR@10", "p50", "ms",
                                "p95", "ms"]
    assert lines[2].startswith("bm25 ")
    row = json.loads(lines[-1])
    assert list(row) == list(RESULT_KEYS)
    assert (row["queries"], row["docs"]) == (4, 6)
    assert "indexing: 6/6 documents" in out.err


def test_eval_main_reports_bad_folder(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from evaluation.retrieval import main

    code = main(argparse.Namespace(beir_dir=str(tmp_path / "nope"), split="test",
                                   mode="hybrid", json=False))
    assert code == 2
    assert "nope: not a folder" in capsys.readouterr().err


async def test_eval_baselines_and_repeatable_runs(tmp_path: Path) -> None:
    from evaluation.retrieval import evaluate_beir

    folder = write_beir(tmp_path / "beir")
    cache = tmp_path / "cache.sqlite"
    modes = ("hybrid", "baseline-dense", "baseline-bm25", "hyb-exact-a0.7-p0.0")
    _, _, first = await evaluate_beir(folder, "test", modes, cache=cache)
    _, _, second = await evaluate_beir(folder, "test", modes, cache=cache)
    assert [r.mode for r in first] == list(modes)
    assert [r.metrics for r in first] == [r.metrics for r in second]  # exact search + cache
    by_mode = {r.mode: r.metrics for r in first}
    assert by_mode["baseline-dense"]["recall@100"] == 1.0
    # the answer of q4 sits past the first 256 tokens of "report": the truncated whole-
    # document vector misses it at rank 1, the chunked index does not
    assert by_mode["hybrid"]["mrr@10"] == 1.0
    assert by_mode["baseline-dense"]["mrr@10"] < 1.0
    assert by_mode["baseline-bm25"]["ndcg@10"] > 0.9
    assert len(first[1].latencies_ms) == 4


async def test_eval_indexes_a_corpus_larger_than_the_upload_quota(tmp_path: Path) -> None:
    """The per-user upload quota (RAG_USER_MAX_PENDING_FILES, default 10) must not
    refuse corpus entries: the eval hands them all to one index_texts call."""
    from rag.config import RagSettings

    from evaluation.retrieval import evaluate_beir

    extra = [{"_id": f"planet-{name}", "title": name.title(),
              "text": f"{name.title()} is a planet of the solar system; {fact}."}
             for name, fact in [("mercury", "it has almost no atmosphere"),
                                ("venus", "its clouds hold sulphuric acid"),
                                ("mars", "its soil is red with iron oxide"),
                                ("jupiter", "its great red spot is a storm"),
                                ("saturn", "its rings are ice and rock"),
                                ("uranus", "it rotates on its side"),
                                ("neptune", "its winds are the fastest measured")]]
    corpus = CORPUS + extra
    assert len(corpus) > RagSettings().user_max_pending_files
    folder = write_beir(tmp_path / "beir", corpus=corpus)
    _, indexed, results = await evaluate_beir(folder, "test", ("bm25",),
                                              cache=tmp_path / "cache.sqlite")
    assert indexed.failed == []
    stored = sorted(cid for ids in indexed.corpus_ids.values() for cid in ids)
    assert stored == sorted(d["_id"] for d in corpus)
    assert results[0].metrics["recall@100"] == 1.0
