"""Choose the support thresholds of agents.evidence from a dev-set run.

``python -m evaluation.calibration DETAILS.jsonl`` reads the per-question lines written
by ``python -m agents eval BEIR_DIR --details DETAILS.jsonl`` and, for every pair of
thresholds on a grid (first quoted sentence similarity x distinctness), computes what the eval
would report: answerable questions answered with a relevant document selected, and
unanswerable questions declined. It prints the best pairs by the smaller of the two
shares (neither side may be sacrificed for the other) and, among the pairs within 0.01
of the best that no other pair beats on both shares, the one in the middle of that
plateau (the farthest from a cliff on unseen data). Use it on the dev set only.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

SIMILARITIES = [round(0.20 + 0.02 * i, 2) for i in range(31)]   # 0.20 .. 0.80
DISTINCTNESSES = [round(0.02 * i, 2) for i in range(11)]          # 0.0 .. 0.2


def score(rows: list[dict], min_similarity: float, min_distinctness: float
          ) -> tuple[float, float]:
    """(answerable answered with gold selected, unanswerable declined) at these thresholds."""
    def supported(r: dict) -> bool:
        return r.get("best_similarity", 0.0) >= min_similarity and \
            (r.get("distinctness") or 0.0) >= min_distinctness

    answerable = [r for r in rows if r["kind"] == "answerable"]
    unanswerable = [r for r in rows if r["kind"] == "unanswerable"]
    a = sum(supported(r) and r.get("gold_selected", False) for r in answerable)
    u = sum(not supported(r) for r in unanswerable)
    return a / max(1, len(answerable)), u / max(1, len(unanswerable))


def grid(rows: list[dict]) -> list[tuple[float, float, float, float]]:
    """(min_similarity, min_distinctness, answerable share, unanswerable share), best first."""
    out = [(s, c, *score(rows, s, c)) for s in SIMILARITIES for c in DISTINCTNESSES]
    return sorted(out, key=lambda r: (-min(r[2], r[3]), -(r[2] + r[3])))


def choose(rows: list[dict]) -> tuple[float, float, float, float]:
    """The middle of the plateau of undominated pairs within 0.01 of the best min-share."""
    ranked = grid(rows)
    best = min(ranked[0][2], ranked[0][3])
    near = [r for r in ranked if min(r[2], r[3]) >= best - 0.01]
    plateau = sorted((r for r in near if not any(
        o[2] >= r[2] and o[3] >= r[3] and (o[2], o[3]) != (r[2], r[3]) for o in near)),
        key=lambda r: (r[1], r[0]))
    return plateau[len(plateau) // 2]


def main(argv: list[str]) -> int:
    """Print the grid's best pairs and the chosen one."""
    if len(argv) != 1:
        print("usage: python -m evaluation.calibration DETAILS.jsonl", file=sys.stderr)
        return 2
    rows = [json.loads(line) for line in Path(argv[0]).read_text().splitlines() if line]
    ceiling = sum(r.get("gold_selected", False) for r in rows if r["kind"] == "answerable")
    print(f"{len(rows)} questions; answerable with a relevant document selected at all: "
          f"{ceiling}")
    print(f"{'min_sim':>8} {'min_dist':>8} {'answered':>9} {'declined':>9}")
    for s, c, a, u in grid(rows)[:15]:
        print(f"{s:>8.2f} {c:>8.2f} {a:>9.3f} {u:>9.3f}")
    s, c, a, u = choose(rows)
    print(f"chosen: min_similarity={s} min_distinctness={c} -> answered {a:.3f}, "
          f"declined {u:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
