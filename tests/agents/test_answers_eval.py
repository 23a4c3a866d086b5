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
