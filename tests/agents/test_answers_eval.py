"""The answer evaluation's split and the committed follow-up dev set (no flow run here;
the flow itself is covered by test_honest_answers.py)."""

from __future__ import annotations

import json

import pytest

from evaluation.answers import make_split, run_eval
from evaluation.beir import BeirDataset, CorpusEntry
from evaluation.followups import MIN_PAIRS, FollowUp, load_followups


def dataset(n_queries: int = 8, extra: int = 20) -> BeirDataset:
    corpus = {f"a{i}": CorpusEntry(f"a{i}", "", f"answer {i}") for i in range(n_queries)}
    corpus |= {f"d{i}": CorpusEntry(f"d{i}", "", f"other {i}") for i in range(extra)}
    queries = {f"q{i}": f"question {i}?" for i in range(n_queries)}
    qrels = {f"q{i}": {f"a{i}": 1} for i in range(n_queries)}
    qrels["q0"]["d0"] = 1  # a second relevant document
    return BeirDataset(corpus, queries, qrels, "test")


def test_split_indexes_answers_withholds_the_unanswerable_and_adds_distractors():
    data = dataset()
    follow = [FollowUp("x?", "and y?", "a7")]
    split = make_split(data, n=3, distractors=10, followups=follow)
    assert len(split.answerable) == len(split.unanswerable) == 3
    assert not set(split.answerable) & set(split.unanswerable)
    indexed = set(split.indexed)
    for q in split.answerable:
        assert set(data.qrels[q]) <= indexed
    for q in split.unanswerable:
        assert not set(data.qrels[q]) & indexed  # none of its relevant documents
    assert "a7" in indexed and "q7" not in split.unanswerable  # the follow-up's document
    assert len(indexed) >= 10 and split == make_split(data, 3, 10, follow)  # deterministic


def test_split_needs_enough_queries():
    with pytest.raises(ValueError, match="needs 20"):
        make_split(dataset(), n=10, distractors=0, followups=[])


def test_committed_follow_up_set_has_enough_hand_written_pairs():
    pairs = load_followups()
    assert len(pairs) >= MIN_PAIRS
    assert len({p.followup for p in pairs}) == len(pairs)
    assert all(p.doc.startswith("faq.") for p in pairs)


def test_a_bad_follow_up_line_names_the_file_and_line(tmp_path):
    path = tmp_path / "pairs.jsonl"
    path.write_text(json.dumps({"question": "a?", "followup": "b?", "doc": "x"}) + "\n"
                    + json.dumps({"question": "a?", "followup": ""}) + "\n")
    with pytest.raises(ValueError, match=r"pairs.jsonl:2: needs non-empty strings"):
        load_followups(path)


async def test_eval_cli_reports_a_missing_folder(tmp_path, capsys):
    import argparse

    args = argparse.Namespace(beir_dir=str(tmp_path / "nope"), n=2, distractors=0, seed=11,
                              followups=None, data_dir=None, details=None, json=True)
    assert await run_eval(args) == 2
    assert "not a folder" in capsys.readouterr().err


def _row(kind: str, sim: float, dist: float, cosines: list[float], gold: bool = True
         ) -> dict:
    return {"kind": kind, "best_similarity": sim, "distinctness": dist,
            "doc_cosines": cosines, "gold_selected": gold}


def test_calibration_auc_counts_ties_half_and_the_document_gap_reads_the_kth_cosine():
    from evaluation.calibration import FEATURES, auc

    rows = [_row("answerable", 0.7, 0.2, [0.6, 0.3]), _row("answerable", 0.5, 0.1, [0.5]),
            _row("unanswerable", 0.5, 0.0, [0.5, 0.45, 0.4, 0.4, 0.39])]
    assert auc(rows, FEATURES["best_similarity"]) == 0.75  # one win, one tie
    assert FEATURES["doc_gap2"](rows[0]) == pytest.approx(0.3)
    assert FEATURES["doc_gap5"](rows[1]) == pytest.approx(0.5)  # missing rank: 0.0
    assert FEATURES["doc_gap5"](rows[2]) == pytest.approx(0.11)
    assert auc(rows, FEATURES["doc_gap5"]) == 1.0
    assert auc([r | {"doc_cosines": None} for r in rows], FEATURES["doc_gap2"]) is None


def test_rank_average_of_a_separating_and_a_useless_measurement_separates_less():
    from evaluation.calibration import auc, rank_average

    rows = [_row("answerable", 0.7, 0.1, [0.5]), _row("answerable", 0.6, 0.2, [0.5]),
            _row("unanswerable", 0.5, 0.3, [0.5]), _row("unanswerable", 0.4, 0.4, [0.5])]
    assert auc(rows, rank_average(rows, ("best_similarity",))) == 1.0
    assert auc(rows, rank_average(rows, ("best_similarity", "distinctness"))) == 0.5
    assert rank_average([r | {"doc_cosines": None} for r in rows],
                        ("best_similarity", "doc_gap2")) is None


def test_calibration_third_threshold_can_only_add_a_condition():
    from evaluation.calibration import choose, grid, score

    rows = [_row("answerable", 0.7, 0.2, [0.6, 0.3]), _row("answerable", 0.7, 0.2, [0.6, 0.58]),
            _row("unanswerable", 0.7, 0.2, [0.5, 0.49])]
    assert score(rows, 0.54, 0.08) == (1.0, 0.0)   # the two thresholds cannot tell them
    assert score(rows, 0.54, 0.08, ("doc_gap2", 0.05)) == (0.5, 1.0)
    assert len(grid(rows, "doc_gap2")[0]) == 5 and len(grid(rows)[0]) == 4
    assert choose(rows, "doc_gap2")[-2:] == (1.0, 1.0) and min(choose(rows)[-2:]) == 0.0


def test_quoted_gold_replays_the_selection_with_the_nearest_document_first():
    from evaluation.calibration import quoted_gold

    row = {"sentence_gold": [[False, 0.80], [False, 0.78], [False, 0.75], [True, 0.74],
                             [True, 0.60]],
           "sentence_docs": [["x", 0.80], ["y", 0.78], ["z", 0.75], ["g", 0.74],
                             ["g", 0.60]], "top_docs": ["g", "x"]}
    assert quoted_gold(row, None) is False      # 3 sentences within 0.08: none relevant
    assert quoted_gold(row, 0.02) is False      # g's best is 0.06 below the best
    assert quoted_gold(row, 0.1) is True and quoted_gold(row, 1.0) is True
    assert quoted_gold({"sentence_gold": []}, 1.0) is None
