"""Choose the support thresholds of agents.evidence from a dev-set run.

``python -m evaluation.calibration DETAILS.jsonl`` reads the per-question lines written
by ``python -m agents eval BEIR_DIR --details DETAILS.jsonl`` and, for every pair of
thresholds on a grid (first quoted sentence similarity x distinctness), computes what the eval
would report: answerable questions answered with a relevant document selected, and
unanswerable questions declined. It prints the best pairs by the smaller of the two
shares (neither side may be sacrificed for the other) and, among the pairs within 0.01
of the best that no other pair beats on both shares, the one in the middle of that
plateau (the farthest from a cliff on unseen data). Use it on the dev set only.

It also prints the AUC (answerable against unanswerable) of every measurement in the
dump (``FEATURES``: the two deciding ones and the measured whole-document cosines), and
with ``--third FEATURE`` the same grid with one more threshold on that measurement (its
own grid, ``THIRD_GRIDS``; threshold 0 included, so the two-threshold rule is one row).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

SIMILARITIES = [round(0.20 + 0.02 * i, 2) for i in range(31)]   # 0.20 .. 0.80
DISTINCTNESSES = [round(0.02 * i, 2) for i in range(11)]          # 0.0 .. 0.2
Feature = Callable[[dict], "float | None"]


def doc_gap(k: int) -> Feature:
    """Nearest minus ``k``-th whole-document cosine of a row (missing ranks count 0.0)."""
    def gap(row: dict) -> float | None:
        cosines = row.get("doc_cosines")
        if cosines is None:
            return None
        if not cosines:
            return 0.0
        return cosines[0] - (cosines[k - 1] if len(cosines) >= k else 0.0)
    return gap


#: measurement name -> its value in a details row (None: not in this dump)
FEATURES: dict[str, Feature] = {
    "best_similarity": lambda r: r.get("best_similarity"),
    "distinctness": lambda r: r.get("distinctness"),
    "coverage": lambda r: r.get("coverage"),
    "doc_best": lambda r: r.get("doc_best"),
    **{f"doc_gap{k}": doc_gap(k) for k in (2, 3, 5, 10)},
}
#: the thresholds ``--third`` tries for each measurement
THIRD_GRIDS: dict[str, list[float]] = {
    "doc_best": [0.0] + [round(0.30 + 0.02 * i, 2) for i in range(26)],   # 0.30 .. 0.80
    **{f"doc_gap{k}": [round(0.01 * i, 2) for i in range(31)] for k in (2, 3, 5, 10)},
    "coverage": [round(0.05 * i, 2) for i in range(11)],
}


def auc(rows: list[dict], feature: Feature) -> float | None:
    """Probability that an answerable question scores above an unanswerable one on
    ``feature`` (ties count half; Mann-Whitney), over rows where it is measured; None
    when either kind has no measured row."""
    pos = [v for r in rows if r["kind"] == "answerable" and (v := feature(r)) is not None]
    neg = [v for r in rows if r["kind"] == "unanswerable" and (v := feature(r)) is not None]
    if not pos or not neg:
        return None
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


#: sets of measurements whose rank average AUC reports (does one add to the others?)
COMBINATIONS = [("best_similarity", "distinctness"),
                ("best_similarity", "distinctness", "doc_best"),
                ("best_similarity", "distinctness", "doc_gap2"),
                ("best_similarity", "distinctness", "doc_gap10")]


def rank_average(rows: list[dict], names: tuple[str, ...]) -> Feature | None:
    """A feature: the mean over ``names`` of a row's rank share (0..1, ties share the
    lowest rank) among ``rows``; a threshold-free way to ask whether a measurement adds
    to others. None when one of them is missing from a row."""
    columns = {n: [FEATURES[n](r) for r in rows] for n in names}
    if any(v is None for values in columns.values() for v in values):
        return None
    ordered = {n: sorted(values) for n, values in columns.items()}

    def mean_rank(row: dict) -> float:
        return sum(ordered[n].index(FEATURES[n](row)) for n in names) / (
            len(names) * len(rows))
    return mean_rank


def score(rows: list[dict], min_similarity: float, min_distinctness: float,
          third: tuple[str, float] | None = None) -> tuple[float, float]:
    """(answerable answered with gold selected, unanswerable declined) at these thresholds;
    ``third`` = (a FEATURES name, its minimum) adds one more condition."""
    def supported(r: dict) -> bool:
        return r.get("best_similarity", 0.0) >= min_similarity and \
            (r.get("distinctness") or 0.0) >= min_distinctness and \
            (third is None or (FEATURES[third[0]](r) or 0.0) >= third[1])

    answerable = [r for r in rows if r["kind"] == "answerable"]
    unanswerable = [r for r in rows if r["kind"] == "unanswerable"]
    a = sum(supported(r) and r.get("gold_selected", False) for r in answerable)
    u = sum(not supported(r) for r in unanswerable)
    return a / max(1, len(answerable)), u / max(1, len(unanswerable))


Row = tuple[float, ...]  # (min_similarity, min_distinctness[, third], answered, declined)


def grid(rows: list[dict], third: str | None = None) -> list[Row]:
    """(min_similarity, min_distinctness[, min of ``third``], answerable share,
    unanswerable share), best first (by the smaller share, then the sum)."""
    extra = THIRD_GRIDS[third] if third else [None]
    out = [(s, c, *([] if t is None else [t]),
            *score(rows, s, c, None if t is None or third is None else (third, t)))
           for s in SIMILARITIES for c in DISTINCTNESSES for t in extra]
    return sorted(out, key=lambda r: (-min(r[-2], r[-1]), -(r[-2] + r[-1])))


def choose(rows: list[dict], third: str | None = None) -> Row:
    """The middle of the plateau of undominated rules within 0.01 of the best min-share
    (ordered by distinctness, then the third threshold, then similarity)."""
    ranked = grid(rows, third)
    best = min(ranked[0][-2], ranked[0][-1])
    near = [r for r in ranked if min(r[-2], r[-1]) >= best - 0.01]
    plateau = sorted((r for r in near if not any(
        o[-2] >= r[-2] and o[-1] >= r[-1] and (o[-2], o[-1]) != (r[-2], r[-1])
        for o in near)), key=lambda r: (r[1], *r[2:-2], r[0]))
    return plateau[len(plateau) // 2]


def quoted_gold(row: dict, margin: float | None, max_sentences: int = 3,
                select_margin: float = 0.08) -> bool | None:
    """Whether the quoted sentences include a relevant document, recomputed from the
    row's best sentences (``sentence_gold``, ``sentence_docs``) as agents.evidence.select
    picks them; with ``margin`` (not None) the best sentence of the nearest whole
    document (``top_docs[0]``) is quoted first when it scores within ``margin`` of the
    best sentence. None when the row lacks the sentences."""
    gold, docs = row.get("sentence_gold"), row.get("sentence_docs")
    if not gold or not docs:
        return None
    best = gold[0][1]
    picked = [i for i, (_, s) in enumerate(gold) if s >= best - select_margin][:max_sentences]
    top = (row.get("top_docs") or [None])[0]
    if margin is not None and top is not None:
        own = [i for i, (d, _) in enumerate(docs) if d == top and gold[i][1] >= best - margin]
        if own and own[0] not in picked:
            picked = [own[0]] + picked[:max_sentences - 1]
    return any(gold[i][0] for i in picked)


def main(argv: list[str]) -> int:
    """Print the AUCs, the grid's best rules and the chosen one."""
    parser = argparse.ArgumentParser(prog="python -m evaluation.calibration")
    parser.add_argument("details", type=Path, help="the --details file of python -m agents eval")
    parser.add_argument("--third", choices=sorted(THIRD_GRIDS),
                        help="add one more threshold on this measurement")
    args = parser.parse_args(argv)
    rows = [json.loads(line) for line in args.details.read_text().splitlines() if line]
    answerable = [r for r in rows if r["kind"] == "answerable"]
    ceiling = sum(r.get("gold_selected", False) for r in answerable)
    print(f"{len(rows)} questions; answerable with a relevant document selected at all: "
          f"{ceiling}")
    print("AUC answerable vs unanswerable: " + ", ".join(
        f"{name} {value:.3f}" for name, feature in FEATURES.items()
        if (value := auc(rows, feature)) is not None))
    for names in COMBINATIONS:
        feature = rank_average(rows, names)
        value = None if feature is None else auc(rows, feature)
        if value is not None:
            print(f"AUC of the rank average of {' + '.join(names)}: {value:.3f}")
    if any("top_docs" in r for r in rows):
        print(f"nearest whole document relevant: "
              f"{sum(r.get('top_doc_gold', False) for r in answerable)} of {len(answerable)}")
        for margin in (None, 0.04, 0.08, 0.12, 0.16, 1.0):
            n = sum(bool(quoted_gold(r, margin)) for r in answerable)
            when = "never (the selection before)" if margin is None else f"within {margin}"
            print(f"relevant document quoted, nearest document's sentence first {when}: {n}")
    names = ["min_sim", "min_dist"] + ([f"min_{args.third}"] if args.third else [])
    print(" ".join(f"{n:>12}" for n in names + ["answered", "declined"]))
    for row in grid(rows, args.third)[:15]:
        print(" ".join(f"{v:>12.3f}" for v in row))
    chosen = choose(rows, args.third)
    print("chosen: " + " ".join(f"{n}={v}" for n, v in zip(names, chosen, strict=False))
          + f" -> answered {chosen[-2]:.3f}, declined {chosen[-1]:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
