"""Operating thresholds: the probability above which a text is flagged, tuned on validation data for a target.

Chosen after training on calibrated validation probabilities and stored with the model::

    accelerate launch recipes/aml_alert.py threshold.target=recall_at_precision=0.9
    finrisk predict runs/aml_alert "..."      # the "decision" field applies the stored threshold

Targets: ``f1`` (best F1), ``recall_at_precision=P`` (most recall with precision >= P: fewest missed cases
for a tolerable alert load), ``precision_at_recall=R`` (most precision with recall >= R: catch at least R
of the risky cases with as few false alerts as possible) and ``min_cost`` (least ``fn * missed + fp * false
alerts`` with ``threshold.costs={fn: 20, fp: 1}``). A flag is raised when ``probability >= threshold``.

Multi-class tasks get thresholds for ``threshold.risk_classes`` only (the others compete by arg-max), tuned
jointly on the decisions :func:`decide` outputs (:mod:`finrisk_nlp.evaluation.decision_rule`). Every target
searches every cut point, "flag nothing" and "flag everything" included. Two
abstention rules send documents to a person (decision ``"review"``): ``threshold.review_band=B`` (the risk
probability lies within B of its threshold) and ``threshold.conformal_alpha=A`` (split-conformal prediction sets
calibrated on validation; a document is decided only when its set holds exactly one label).
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np

from finrisk_nlp.config import TARGET_KINDS, ThresholdTarget, parse_target  # noqa: F401  (public here too)
from finrisk_nlp.errors import ConfigError
from finrisk_nlp.evaluation.decision_rule import multiclass_decisions, search_risk_thresholds
from finrisk_nlp.tasks import Task

logger = logging.getLogger(__name__)

REVIEW = "review"


def never_flag(scores: np.ndarray) -> float:
    """The threshold that flags nothing: above every score and every probability (a valid JSON number)."""
    return float(np.nextafter(max(1.0, float(np.max(scores, initial=0.0))), np.inf))


def _curve(scores: np.ndarray, positive: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every cut point of ``score >= t`` with its true and false alerts: first "flag nothing"
    (:func:`never_flag`), then each distinct score descending, the last of which flags everything."""
    order = np.argsort(-scores, kind="stable")
    sorted_scores, sorted_pos = scores[order], positive[order]
    tp = np.cumsum(sorted_pos)
    fp = np.cumsum(1 - sorted_pos)
    last_of_value = np.r_[np.diff(sorted_scores) != 0, True]  # all tied scores fall on the same side
    thresholds = np.r_[never_flag(scores), sorted_scores[last_of_value]]
    return thresholds, np.r_[0, tp[last_of_value]], np.r_[0, fp[last_of_value]]


def _choose(target: ThresholdTarget, precision: np.ndarray, recall: np.ndarray, f1: np.ndarray, cost: np.ndarray,
            flagged: np.ndarray) -> tuple[int, bool]:
    """Index of the candidate that best meets ``target`` and whether it meets it. Ties go to the candidate
    with the fewest flags (the same quality for fewer alerts), then to the earliest."""
    rank = -np.arange(len(flagged))
    fewer = -np.asarray(flagged, dtype=np.float64)
    if target.kind == "f1":
        return int(np.lexsort((rank, fewer, f1))[-1]), True
    if target.kind == "min_cost":
        return int(np.lexsort((rank, fewer, -cost))[-1]), True
    goal, other = (precision, recall) if target.kind == "recall_at_precision" else (recall, precision)
    feasible = goal >= target.level - 1e-12
    if not feasible.any():
        return int(np.lexsort((rank, fewer, other, goal))[-1]), False
    return int(np.lexsort((rank, fewer, goal, np.where(feasible, other, -1.0)))[-1]), True


def tune_threshold(scores: np.ndarray, positive: np.ndarray, target: ThresholdTarget) -> dict[str, Any]:
    """Pick the threshold on one score column that best meets ``target``, among every cut point: flag nothing,
    flag everything, and each distinct score in between.

    Args:
        scores: ``(n,)`` probabilities of the risk class.
        positive: ``(n,)`` 0/1, whether each example is of the risk class.
        target: what to optimise (:func:`parse_target`).

    Returns:
        ``value`` (flag when ``score >= value``; above 1 when flagging nothing is best), the ``precision``
        (0 when nothing is flagged), ``recall`` and ``f1`` reached on these scores, and ``target_met``: False
        when no threshold reaches the constraint (then the threshold with the best precision, resp. recall, is
        returned and a warning logged) or when there is no positive example. ``min_cost`` adds the ``cost``
        per document and the ``costs``.
    """
    scores = np.asarray(scores, dtype=np.float64)
    positive = np.asarray(positive).astype(int)
    if positive.sum() == 0 or len(scores) == 0:
        logger.warning("threshold tuning: no positive example in the validation data; keeping 0.5")
        return {"value": 0.5, "precision": 0.0, "recall": 0.0, "f1": 0.0, "target_met": False}
    thresholds, tp, fp = _curve(scores, positive)
    n_pos = int(positive.sum())
    precision = tp / np.maximum(tp + fp, 1)
    recall = tp / n_pos
    f1 = 2 * tp / np.maximum(tp + fp + n_pos, 1)
    cost = (target.cost_fn * (n_pos - tp) + target.cost_fp * fp) / len(scores)  # mean cost per document
    best, met = _choose(target, precision, recall, f1, cost, tp + fp)
    if not met:
        goal = precision if target.kind == "recall_at_precision" else recall
        logger.warning(
            f"threshold target {target} is not reachable on validation data (best "
            f"{'precision' if target.kind == 'recall_at_precision' else 'recall'} {goal.max():.3f}); "
            "using the threshold that comes closest"
        )
    extra: dict[str, Any] = {}
    if target.kind == "min_cost":
        extra = {"cost": float(cost[best]), "costs": {"fn": target.cost_fn, "fp": target.cost_fp}}
    return {"value": float(thresholds[best]), "precision": float(precision[best]), "recall": float(recall[best]),
            "f1": float(f1[best]), "target_met": met, **extra}


def threshold_labels(task: Task, risk_classes: list[str] | tuple[str, ...] | None = None) -> list[str]:
    """The labels that get a threshold: the positive class of a binary task, every label of a multi-label
    task, the chosen ``risk_classes`` of a multi-class task (none by default: its decision is the most probable
    class).

    Raises:
        ConfigError: ``risk_classes`` on a task that is not multi-class, naming unknown labels, or every label.
    """
    if risk_classes:
        where = "threshold.risk_classes"
        if task.multi_label or task.is_binary:
            raise ConfigError([f"{where} applies to multi-class tasks; task {task.name!r} gets its thresholds "
                               "from its labels already, so leave it empty"])
        unknown = [c for c in risk_classes if c not in task.labels]
        if unknown:
            raise ConfigError([f"{where}: {unknown} not among the labels of task {task.name!r}: {list(task.labels)}"])
        if len(set(risk_classes)) >= len(task.labels):
            raise ConfigError([f"{where} names every label; leave at least one class to fall back on"])
        return [name for name in task.labels if name in risk_classes]
    if task.multi_label:
        return list(task.labels)
    if task.is_binary:
        return [task.labels[task.positive_index]]
    return []


def conformal_quantile(probs: np.ndarray, labels: np.ndarray, alpha: float) -> float:
    """Split-conformal score quantile on validation: with score ``1 - p(true label)``, the prediction set
    ``{k: p_k >= 1 - q}`` of a new document holds its true label with probability >= 1 - alpha."""
    scores = 1.0 - np.asarray(probs, dtype=np.float64)[np.arange(len(labels)), np.asarray(labels).astype(int)]
    n = len(scores)
    rank = math.ceil((n + 1) * (1 - alpha))
    if rank > n:
        logger.warning(f"conformal_alpha={alpha}: {n} validation documents are too few for that level "
                       f"(needs >= {math.ceil(1 / alpha) - 1}); every document goes to review")
        return 1.0
    return float(np.sort(scores)[rank - 1])


def tune_thresholds(
    probs: np.ndarray, labels: np.ndarray, task: Task, target: ThresholdTarget, *,
    risk_classes: list[str] | None = None, review_band: float | None = None, conformal_alpha: float | None = None,
    conformal_probs: np.ndarray | None = None,
) -> dict[str, Any] | None:
    """Thresholds for every label that gets one (:func:`threshold_labels`), as stored in model metadata.

    Args:
        probs, labels: calibrated validation probabilities and labels.
        task: the task.
        target: what each threshold optimises (:func:`parse_target`).
        risk_classes: multi-class tasks: the classes that get their own threshold.
        review_band: send documents whose risk probability is within this distance of its threshold to review.
        conformal_alpha: send documents to review unless their split-conformal prediction set (level
            1 - alpha, single-label tasks) holds exactly one label.
        conformal_probs: the probabilities the conformal quantile is computed on, when not ``probs``: out-of-fold
            calibrated ones (:func:`~.calibration.cross_validated_probs`), because a calibration map fitted on
            the same rows makes their scores look better than a new document's (isotonic on 300 rows: coverage
            0.84 instead of 0.90 at alpha 0.1; out of fold: 0.90).

    Returns:
        ``{"target": "f1", "by_label": {label: {"value": ..., "precision": ..., ...}}}`` plus ``risk_classes``,
        ``review_band`` and ``conformal`` (``alpha``, ``quantile``) when set; with risk classes also ``search``
        (how the joint thresholds were found) and, for ``min_cost``, ``cost``: the mean cost per validation
        document of the decisions :func:`decide` makes (precision and recall per label are of those decisions
        too). None for a multi-class task with none of them.

    Raises:
        ConfigError: for risk classes or conformal abstention that do not fit the task.
    """
    names = threshold_labels(task, risk_classes)
    if not names and not conformal_alpha:
        return None
    probs, labels = np.asarray(probs), np.asarray(labels)
    by_label = {}
    for name in names:
        k = task.labels.index(name)
        positive = labels[:, k] if task.multi_label else (labels == k)
        by_label[name] = tune_threshold(probs[:, k], positive, target)
    out: dict[str, Any] = {"target": str(target), "by_label": by_label}
    if risk_classes:
        out.update(_tune_jointly(probs, labels, task, names, target, by_label))
    if review_band:
        out["review_band"] = float(review_band)
    if conformal_alpha:
        if task.multi_label:
            raise ConfigError(["threshold.conformal_alpha applies to single-label tasks; for a multi-label task use "
                               "threshold.review_band"])
        held_out = conformal_probs is not None
        out["conformal"] = {"alpha": float(conformal_alpha), "out_of_fold": held_out,
                            "quantile": conformal_quantile(conformal_probs if held_out else probs, labels,
                                                           conformal_alpha)}
    return out


def _tune_jointly(probs: np.ndarray, labels: np.ndarray, task: Task, names: list[str], target: ThresholdTarget,
                  one_vs_rest: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Risk-class thresholds re-tuned on the decisions :func:`decide` outputs (a risk class competes with the
    others), starting from the one-vs-rest ones; the stored precision, recall and cost are of those decisions."""
    cols = [task.labels.index(name) for name in names]
    found = search_risk_thresholds(probs, labels, cols, target, np.array([one_vs_rest[n]["value"] for n in names]))
    by_label = {}
    for j, name in enumerate(names):
        row = {"value": found["cut"][j], "precision": found["precision"][j], "recall": found["recall"][j],
               "f1": found["f1"][j], "target_met": found["target_met"]}
        if target.kind == "min_cost":
            row["costs"] = {"fn": target.cost_fn, "fp": target.cost_fp}
        by_label[name] = row
    out: dict[str, Any] = {"by_label": by_label, "risk_classes": names,
                           "search": {"method": found["search"], "evaluated": found["evaluated"]}}
    if "cost" in found:
        out["cost"] = found["cost"]
    return out


def _near(values: np.ndarray, cut: np.ndarray, band: float) -> np.ndarray:
    """Rows where any value lies within ``band`` of its threshold."""
    return (np.abs(values - cut) < band).any(axis=1) if band else np.zeros(len(values), dtype=bool)


def decide(probs: np.ndarray, task: Task, threshold: dict[str, Any] | None) -> list[Any]:
    """The operating decision for each row of ``probs``.

    Binary: the positive label when its probability >= the threshold, else the other label. Multi-label: the
    list of labels at or above their thresholds (0.5 without one). Multi-class: the risk class whose probability
    passes its own threshold (the most probable of those that do), else the most probable of the other classes;
    without risk classes, the most probable label. With conformal abstention, the one label of the prediction
    set. ``"review"`` (:data:`REVIEW`) where an abstention rule holds.
    """
    probs = np.asarray(probs, dtype=np.float64)
    threshold = threshold or {}
    by_label = threshold.get("by_label") or {}
    band = float(threshold.get("review_band") or 0.0)
    names = [n for n in task.labels if n in by_label]
    cols = [task.labels.index(n) for n in names]
    cut = np.array([by_label[n]["value"] for n in names])
    review = _near(probs[:, cols], cut, band) if cols else np.zeros(len(probs), dtype=bool)
    conformal = threshold.get("conformal")
    in_set = probs >= 1.0 - conformal["quantile"] if conformal else None
    if in_set is not None:
        review |= in_set.sum(axis=1) != 1
    if task.multi_label:
        cut_all = np.array([by_label.get(name, {}).get("value", 0.5) for name in task.labels])
        decided = [[name for name, hit in zip(task.labels, row >= cut_all, strict=True) if hit] for row in probs]
    elif task.is_binary and by_label:
        pos = task.positive_index
        value = by_label[task.labels[pos]]["value"]
        decided = [task.labels[pos] if row[pos] >= value else task.labels[1 - pos] for row in probs]
    elif cols:
        decided = [task.labels[int(k)] for k in multiclass_decisions(probs, cols, cut)]
    else:
        decided = [task.labels[int(i)] for i in probs.argmax(axis=1)]
    if in_set is not None:  # a decided document's set holds one label: the decision is that label
        decided = [task.labels[int(row.argmax())] for row in in_set]
    return [REVIEW if r else d for r, d in zip(review, decided, strict=True)]
