"""Operating thresholds: the probability above which a text is flagged, tuned on validation data for a target.

Chosen after training on calibrated validation probabilities and stored with the model::

    accelerate launch recipes/aml_alert.py threshold.target=recall_at_precision=0.9
    finrisk predict runs/aml_alert "..."      # the "decision" field applies the stored threshold

Targets: ``f1`` (best F1), ``recall_at_precision=P`` (most recall with precision >= P: fewest missed cases
for a tolerable alert load) and ``precision_at_recall=R`` (most precision with recall >= R: catch at least R
of the risky cases with as few false alerts as possible). A flag is raised when ``probability >= threshold``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from finrisk_nlp.tasks import Task

logger = logging.getLogger(__name__)

TargetKind = Literal["f1", "recall_at_precision", "precision_at_recall"]
TARGET_KINDS: tuple[str, ...] = ("f1", "recall_at_precision", "precision_at_recall")


@dataclass(frozen=True)
class ThresholdTarget:
    """A parsed ``threshold.target``: the kind and, for constrained kinds, the level in (0, 1]."""

    kind: TargetKind
    level: float | None = None

    def __str__(self) -> str:
        return self.kind if self.level is None else f"{self.kind}={self.level:g}"


def parse_target(text: str) -> ThresholdTarget:
    """Parse ``f1``, ``recall_at_precision=0.9`` or ``precision_at_recall=0.95``.

    Raises:
        ValueError: naming the accepted forms when ``text`` is none of them.
    """
    expected = "expected f1, recall_at_precision=P or precision_at_recall=R with P, R in (0, 1]"
    kind, sep, level_text = str(text).strip().partition("=")
    if kind not in TARGET_KINDS:
        raise ValueError(f"{expected}; got {text!r}")
    if kind == "f1":
        if sep:
            raise ValueError(f"{expected} (f1 takes no level); got {text!r}")
        return ThresholdTarget("f1")
    try:
        level = float(level_text)
    except ValueError:
        raise ValueError(f"{expected}; got {text!r}") from None
    if not 0.0 < level <= 1.0:
        raise ValueError(f"{expected}; got level {level}")
    return ThresholdTarget(kind, level)  # type: ignore[arg-type]


def _curve(scores: np.ndarray, positive: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Candidate thresholds (each distinct score, descending) with precision and recall of ``score >= t``."""
    order = np.argsort(-scores, kind="stable")
    sorted_scores, sorted_pos = scores[order], positive[order]
    tp = np.cumsum(sorted_pos)
    fp = np.cumsum(1 - sorted_pos)
    last_of_value = np.r_[np.diff(sorted_scores) != 0, True]  # all tied scores fall on the same side
    tp, fp, thresholds = tp[last_of_value], fp[last_of_value], sorted_scores[last_of_value]
    precision = tp / np.maximum(tp + fp, 1)
    recall = tp / max(int(positive.sum()), 1)
    return thresholds, precision, recall


def tune_threshold(scores: np.ndarray, positive: np.ndarray, target: ThresholdTarget) -> dict[str, Any]:
    """Pick the threshold on one score column that best meets ``target``.

    Args:
        scores: ``(n,)`` probabilities of the risk class.
        positive: ``(n,)`` 0/1, whether each example is of the risk class.
        target: what to optimise (:func:`parse_target`).

    Returns:
        ``value`` (flag when ``score >= value``), the ``precision``, ``recall`` and ``f1`` reached on these
        scores, and ``target_met``: False when no threshold reaches the constraint (then the threshold with the
        best precision, resp. recall, is returned and a warning logged) or when there is no positive example.
    """
    scores = np.asarray(scores, dtype=np.float64)
    positive = np.asarray(positive).astype(int)
    if positive.sum() == 0 or len(scores) == 0:
        logger.warning("threshold tuning: no positive example in the validation data; keeping 0.5")
        return {"value": 0.5, "precision": 0.0, "recall": 0.0, "f1": 0.0, "target_met": False}
    thresholds, precision, recall = _curve(scores, positive)
    f1 = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0.0)
    met = True
    # np.lexsort sorts by the last key first; candidates are in descending threshold order, so on full ties
    # the earliest (highest) threshold wins: the same quality for fewer alerts.
    rank = -np.arange(len(thresholds))
    if target.kind == "f1":
        best = int(np.lexsort((rank, f1))[-1])
    else:
        goal, other = (precision, recall) if target.kind == "recall_at_precision" else (recall, precision)
        feasible = goal >= target.level - 1e-12
        if not feasible.any():
            met = False
            logger.warning(
                f"threshold target {target} is not reachable on validation data (best "
                f"{'precision' if target.kind == 'recall_at_precision' else 'recall'} {goal.max():.3f}); "
                "using the threshold that comes closest"
            )
            best = int(np.lexsort((rank, other, goal))[-1])
        else:
            best = int(np.lexsort((rank, goal, np.where(feasible, other, -1.0)))[-1])
    return {"value": float(thresholds[best]), "precision": float(precision[best]), "recall": float(recall[best]),
            "f1": float(f1[best]), "target_met": met}


def threshold_labels(task: Task) -> list[str]:
    """The labels that get a threshold: the positive class of a binary task, every label of a multi-label
    task, none for a multi-class task (its decision is the most probable class)."""
    if task.multi_label:
        return list(task.labels)
    if task.is_binary:
        return [task.labels[task.positive_index]]
    return []


def tune_thresholds(
    probs: np.ndarray, labels: np.ndarray, task: Task, target: ThresholdTarget
) -> dict[str, Any] | None:
    """Thresholds for every label that gets one (:func:`threshold_labels`), as stored in model metadata.

    Returns:
        ``{"target": "f1", "by_label": {label: {"value": ..., "precision": ..., ...}}}``, or None for a
        multi-class task.
    """
    names = threshold_labels(task)
    if not names:
        return None
    probs, labels = np.asarray(probs), np.asarray(labels)
    by_label = {}
    for name in names:
        k = task.labels.index(name)
        positive = labels[:, k] if task.multi_label else (labels == k)
        by_label[name] = tune_threshold(probs[:, k], positive, target)
    return {"target": str(target), "by_label": by_label}


def decide(probs: np.ndarray, task: Task, threshold: dict[str, Any] | None) -> list[Any]:
    """The operating decision for each row of ``probs``.

    Binary: the positive label when its probability >= the threshold, else the other label. Multi-label: the
    list of labels at or above their thresholds (0.5 without one). Multi-class: the most probable label.
    """
    probs = np.asarray(probs)
    by_label = (threshold or {}).get("by_label", {})
    if task.multi_label:
        cut = np.array([by_label.get(name, {}).get("value", 0.5) for name in task.labels])
        return [[name for name, hit in zip(task.labels, row >= cut, strict=True) if hit] for row in probs]
    if task.is_binary and by_label:
        pos = task.positive_index
        value = by_label[task.labels[pos]]["value"]
        return [task.labels[pos] if row[pos] >= value else task.labels[1 - pos] for row in probs]
    return [task.labels[int(i)] for i in probs.argmax(axis=1)]
