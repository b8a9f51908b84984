"""Re-derive the operating-point numbers a model validator checks, on synthetic data whose truth is known.

    python benchmarks/decision_checks.py --out benchmarks/results/decision_checks.md

1. ``min_cost`` on one risk class: for random fn:fp cost ratios from 1:1000 to 1000:1 (log-uniform), the threshold
   the toolkit picks against the cheapest of every cut point (flag nothing and flag everything included), beside
   the old candidate set (distinct scores only, so the top document was always flagged).
2. Multi-class risk classes: thresholds tuned one class at a time (one-vs-rest, what the toolkit did before) against
   the joint search on the decisions ``decide()`` outputs, on validation and on a fresh test sample of the same
   calibrated model, with the cost each one reports beside the cost of its actual decisions.
"""

from __future__ import annotations

import argparse

import numpy as np
from bench_utils import emit, fmt, markdown_table

from finrisk_nlp.evaluation.thresholds import decide, parse_target, tune_threshold, tune_thresholds
from finrisk_nlp.tasks import get_task

MEMO = get_task("transaction_memo")
RISK = ["gambling", "crypto"]


def binary_case(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, float]:
    n = int(rng.integers(20, 400))
    p = 1 / (1 + np.exp(-rng.normal(rng.uniform(-3, 0), 1.5, n)))
    return p, rng.random(n) < p, float(10 ** rng.uniform(-3, 3))


def flag_cost(flagged: np.ndarray, positive: np.ndarray, fn: float) -> float:
    return float((fn * (positive & ~flagged).sum() + (flagged & ~positive).sum()) / len(positive))


def check_min_cost(cases: int, seed: int) -> tuple[str, dict[str, float]]:
    rng = np.random.default_rng(seed)
    agree = old_worse = 0
    worst = (0.0, 0.0, 0.0)
    for _ in range(cases):
        p, positive, fn = binary_case(rng)
        if not positive.any():
            continue
        cuts = np.r_[np.inf, np.unique(p)]
        best = min(flag_cost(p >= c, positive, fn) for c in cuts)
        old = min(flag_cost(p >= c, positive, fn) for c in np.unique(p))  # the old candidates
        picked = tune_threshold(p, positive, parse_target("min_cost", {"fn": fn, "fp": 1.0}))
        agree += abs(flag_cost(p >= picked["value"], positive, fn) - best) < 1e-12
        if old > best + 1e-12:
            old_worse += 1
            if old - best > worst[0] - worst[1]:
                worst = (old, best, fn)
    rows = [["every cut point (now)", f"{agree}/{cases}", "-"],
            ["distinct scores only (before)", f"{cases - old_worse}/{cases}",
             f"{fmt(worst[0])} vs {fmt(worst[1])} (fn:fp {worst[2]:.3g}:1)" if old_worse else "-"]]
    table = markdown_table(["candidates", "cases at the exhaustive optimum", "worst case, cost per document"], rows)
    return table, {"agree": agree, "old_worse": old_worse}


def memo_sample(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Calibrated multi-class probabilities: labels drawn from the probabilities themselves."""
    logits = rng.normal(0, 1.0, (n, len(MEMO.labels)))
    centre = rng.integers(0, len(MEMO.labels), n)
    logits[np.arange(n), centre] += 1.5
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    labels = np.array([rng.choice(len(MEMO.labels), p=row) for row in probs])
    return probs, labels


def decision_cost(decisions: list[str], labels: np.ndarray, fn: float) -> float:
    truth = [MEMO.labels[y] for y in labels]
    return float(np.mean([fn * (t in RISK and d != t) + (d in RISK and d != t) for d, t in
                          zip(decisions, truth, strict=True)]))


def check_multiclass(repeats: int, seed: int, fn: float) -> str:
    rng = np.random.default_rng(seed)
    target = parse_target("min_cost", {"fn": fn, "fp": 1.0})
    rows = []
    for r in range(repeats):
        val_p, val_y = memo_sample(600, rng)
        test_p, test_y = memo_sample(4000, rng)
        ovr = {"by_label": {c: tune_threshold(val_p[:, MEMO.labels.index(c)], val_y == MEMO.labels.index(c), target)
                            for c in RISK}}
        reported_ovr = sum(row["cost"] for row in ovr["by_label"].values())
        joint = tune_thresholds(val_p, val_y, MEMO, target, risk_classes=RISK)
        rows.append([str(r), fmt(reported_ovr), fmt(decision_cost(decide(val_p, MEMO, ovr), val_y, fn)),
                     fmt(decision_cost(decide(test_p, MEMO, ovr), test_y, fn)), fmt(joint["cost"]),
                     fmt(decision_cost(decide(val_p, MEMO, joint), val_y, fn)),
                     fmt(decision_cost(decide(test_p, MEMO, joint), test_y, fn)), joint["search"]["method"]])
    return markdown_table(["sample", "one-vs-rest: reported", "its decisions (val)", "its decisions (test)",
                           "joint: reported", "its decisions (val)", "its decisions (test)", "search"], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--fn", type=float, default=5.0, help="cost of a missed risk document (false alert: 1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out")
    args = parser.parse_args()
    table, _ = check_min_cost(args.cases, args.seed)
    text = "\n".join([
        "# Decision checks on synthetic data", "",
        f"## min_cost, one risk class ({args.cases} random cases, fn:fp from 1:1000 to 1000:1)", "", table, "",
        f"## Multi-class risk classes {RISK} of transaction_memo, fn:fp {args.fn:g}:1 "
        "(mean cost per document; validation 600, test 4000 documents)", "",
        check_multiclass(args.repeats, args.seed, args.fn), "",
        "One-vs-rest 'reported' is the sum of each class's own cost, as the toolkit stored it before; the joint "
        "search reports the cost of the decisions themselves.", ""])
    emit(text, args.out)


if __name__ == "__main__":
    main()
