"""The multi-class decision rule with risk classes, and the search that tunes its thresholds jointly.

Used after training when a multi-class task names ``threshold.risk_classes``::

    accelerate launch recipes/transaction_memo.py threshold.risk_classes=[gambling,crypto] threshold.target=min_cost

A document goes to the most probable risk class whose probability passes that class's threshold, else to the most
probable of the other classes (:func:`multiclass_decisions`; :func:`~.thresholds.decide` applies it). Because a
risk class competes with the others, thresholds tuned one class at a time (one-vs-rest) do not optimise the
decisions the model makes. :func:`search_risk_thresholds` therefore scores every candidate set of thresholds by
the decisions this rule outputs: exhaustively while the grid of cut points (each distinct probability plus "flag
nothing") holds at most :data:`MAX_EXHAUSTIVE` combinations, else by coordinate descent (each step an exhaustive
search over one class's cut points) from the one-vs-rest thresholds and from "flag nothing".
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from finrisk_nlp.config import ThresholdTarget

MAX_EXHAUSTIVE = 20_000
MAX_ROUNDS = 20


def multiclass_decisions(probs: np.ndarray, cols: list[int] | np.ndarray, cut: np.ndarray) -> np.ndarray:
    """Decided class index per row: the most probable risk class (``cols``) at or above its threshold
    (``cut``), else the most probable other class."""
    probs = np.asarray(probs, dtype=np.float64)
    cols = np.asarray(cols, dtype=int)
    risk = probs[:, cols]
    passed = risk >= np.asarray(cut, dtype=np.float64)
    best_risk = np.where(passed, risk, -1.0).argmax(axis=1)
    others = probs.copy()
    others[:, cols] = -1.0
    return np.where(passed.any(axis=1), cols[best_risk], others.argmax(axis=1))


def decision_counts(decided: np.ndarray, labels: np.ndarray, cols: list[int] | np.ndarray,
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True alerts, false alerts and misses of each risk class, counted on the decisions themselves."""
    hit = np.asarray(decided)[:, None] == np.asarray(cols)[None, :]
    truth = np.asarray(labels).astype(int)[:, None] == np.asarray(cols)[None, :]
    return (hit & truth).sum(axis=0), (hit & ~truth).sum(axis=0), (~hit & truth).sum(axis=0)


def decision_cost(fp: np.ndarray, fn: np.ndarray, n: int, target: ThresholdTarget) -> float:
    """Mean cost per document: ``cost_fn`` per missed risk document, ``cost_fp`` per document decided as a risk
    class it is not (a document of one risk class decided as another is both)."""
    return float((target.cost_fn * fn.sum() + target.cost_fp * fp.sum()) / max(n, 1))


def _rates(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    precision = tp / np.maximum(tp + fp, 1)
    recall = tp / np.maximum(tp + fn, 1)
    f1 = 2 * tp / np.maximum(2 * tp + fp + fn, 1)
    return precision, recall, f1


def objective(target: ThresholdTarget, tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, n: int,
              ) -> tuple[bool, float, float, int]:
    """A sortable score of one set of decisions (higher is better): whether the target's constraint holds for
    every risk class, the quantity optimised (mean F1, minus the cost, mean recall or precision; when the
    constraint fails, the worst class's precision or recall), a second key, and minus the alerts raised."""
    precision, recall, f1 = _rates(tp, fp, fn)
    flags = -int((tp + fp).sum())
    if target.kind == "f1":
        return True, float(f1.mean()), 0.0, flags
    if target.kind == "min_cost":
        return True, -decision_cost(fp, fn, n, target), 0.0, flags
    goal, other = (precision, recall) if target.kind == "recall_at_precision" else (recall, precision)
    met = bool((goal >= target.level - 1e-12).all())
    return (met, float(other.mean()), float(goal.mean()), flags) if met else \
        (met, float(goal.min()), float(other.mean()), flags)


def _candidates(scores: np.ndarray) -> np.ndarray:
    """Cut points of one class, highest first: "flag nothing", then each distinct score."""
    never = float(np.nextafter(max(1.0, float(np.max(scores, initial=0.0))), np.inf))
    return np.r_[never, np.unique(scores)[::-1]]


def search_risk_thresholds(probs: np.ndarray, labels: np.ndarray, cols: list[int], target: ThresholdTarget,
                           start: np.ndarray) -> dict[str, Any]:
    """Thresholds of the risk classes ``cols`` that best meet ``target`` on the decisions of
    :func:`multiclass_decisions`.

    Args:
        probs: ``(n, num_labels)`` calibrated validation probabilities.
        labels: ``(n,)`` class ids.
        cols: column of each risk class.
        target: what the decisions optimise.
        start: one-vs-rest thresholds, a starting point when the grid is too large to search exhaustively.

    Returns:
        ``cut`` (one threshold per risk class), per-class ``precision``/``recall``/``f1`` of the decisions,
        ``target_met``, ``cost`` (mean cost per document of the decisions, for ``min_cost``) and ``search``
        (``exhaustive`` or ``coordinate descent``) with ``evaluated`` (candidate sets scored).
    """
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels).astype(int)
    n = len(labels)
    grids = [_candidates(probs[:, k]) for k in cols]

    def score(cut: np.ndarray) -> tuple[bool, float, float, int]:
        return objective(target, *decision_counts(multiclass_decisions(probs, cols, cut), labels, cols), n)

    evaluated = 0
    size = int(np.prod([len(g) for g in grids], dtype=np.float64))
    if size <= MAX_EXHAUSTIVE:
        best_cut, best = None, None
        for combo in itertools.product(*grids):  # grids run from fewest flags to most: ties keep the first
            cut = np.asarray(combo)
            value = score(cut)
            evaluated += 1
            if best is None or value > best:
                best_cut, best = cut, value
        search = "exhaustive"
    else:
        best_cut, best = None, None
        for first in (np.asarray(start, dtype=np.float64), np.array([g[0] for g in grids])):
            cut, value = first.copy(), score(first)
            evaluated += 1
            for _ in range(MAX_ROUNDS):
                changed = False
                for j, grid in enumerate(grids):
                    for candidate in grid:
                        trial = cut.copy()
                        trial[j] = candidate
                        trial_value = score(trial)
                        evaluated += 1
                        if trial_value > value:
                            cut, value, changed = trial, trial_value, True
                if not changed:
                    break
            if best is None or value > best:
                best_cut, best = cut, value
        search = "coordinate descent"
    tp, fp, fn = decision_counts(multiclass_decisions(probs, cols, best_cut), labels, cols)
    precision, recall, f1 = _rates(tp, fp, fn)
    out: dict[str, Any] = {"cut": [float(c) for c in best_cut], "precision": precision.tolist(),
                           "recall": recall.tolist(), "f1": f1.tolist(), "target_met": bool(best[0]),
                           "search": search, "evaluated": evaluated}
    if target.kind == "min_cost":
        out["cost"] = decision_cost(fp, fn, n, target)
    return out
