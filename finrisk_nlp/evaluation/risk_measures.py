"""Risk metrics in plain numpy, weighted by row so that one pass scores many bootstrap resamples at once.

Used by ``accelerate launch recipes/aml_alert.py`` through :func:`~finrisk_nlp.evaluation.metrics.compute_metrics`
(via the ``evaluate`` modules in ``metric_modules/``) and by :mod:`~finrisk_nlp.evaluation.bootstrap`.

A resample of ``n`` rows drawn with replacement is the same as the original rows weighted by how often each was
drawn, so every function here takes ``weights`` of shape ``(B, n)`` (``None``: each row once) and returns one
value per resample. Sorting happens once, on the original scores; the weights only change cumulative sums.
"""

from __future__ import annotations

import numpy as np

from finrisk_nlp.tasks import Task

EPS = 1e-12


def as_weights(weights: np.ndarray | None, n: int) -> np.ndarray:
    """``(B, n)`` float weights; ``None`` gives one row of ones (the data as it is)."""
    if weights is None:
        return np.ones((1, n))
    weights = np.asarray(weights, dtype=np.float64)
    return weights[None, :] if weights.ndim == 1 else weights


def resample_weights(n: int, n_resamples: int, seed: int = 0) -> np.ndarray:
    """``(n_resamples, n)`` counts of how often each row is drawn in each bootstrap resample."""
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n, size=(n_resamples, n)) + np.arange(n_resamples)[:, None] * n
    return np.bincount(draws.ravel(), minlength=n_resamples * n).reshape(n_resamples, n).astype(np.float64)


def _ranked_counts(scores: np.ndarray, targets: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted true- and false-positive counts of ``score >= t`` at each distinct score, descending: ``(B, T)``."""
    order = np.argsort(-scores, kind="stable")
    sorted_scores, sorted_pos = scores[order], targets[order].astype(np.float64)
    w = weights[:, order]
    tp = np.cumsum(w * sorted_pos, axis=1)
    fp = np.cumsum(w * (1.0 - sorted_pos), axis=1)
    last_of_value = np.r_[np.diff(sorted_scores) != 0, True]  # tied scores fall on the same side
    return tp[:, last_of_value], fp[:, last_of_value]


def average_precision(scores: np.ndarray, targets: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """PR-AUC as scikit-learn's ``average_precision_score``: sum of precision x recall increments; NaN where a
    resample has no positive."""
    scores, targets = np.asarray(scores, dtype=np.float64), np.asarray(targets)
    tp, fp = _ranked_counts(scores, targets, as_weights(weights, len(scores)))
    positives = tp[:, -1:]
    precision = tp / np.maximum(tp + fp, EPS)
    recall = tp / np.maximum(positives, EPS)
    step = np.diff(np.concatenate([np.zeros_like(recall[:, :1]), recall], axis=1), axis=1)
    out = (step * precision).sum(axis=1)
    return np.where(positives[:, 0] > 0, out, np.nan)


def roc_auc(scores: np.ndarray, targets: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """ROC-AUC (trapezoids, ties counted half); NaN where a resample lacks positives or negatives."""
    scores, targets = np.asarray(scores, dtype=np.float64), np.asarray(targets)
    tp, fp = _ranked_counts(scores, targets, as_weights(weights, len(scores)))
    tpr = np.concatenate([np.zeros_like(tp[:, :1]), tp / np.maximum(tp[:, -1:], EPS)], axis=1)
    fpr = np.concatenate([np.zeros_like(fp[:, :1]), fp / np.maximum(fp[:, -1:], EPS)], axis=1)
    out = (np.diff(fpr, axis=1) * (tpr[:, 1:] + tpr[:, :-1]) / 2).sum(axis=1)
    return np.where((tp[:, -1] > 0) & (fp[:, -1] > 0), out, np.nan)


def recall_at_precision(
    scores: np.ndarray, targets: np.ndarray, min_precision: float, weights: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The most recall of ``score >= t`` with precision >= ``min_precision``, and that ``t`` (0 recall and NaN
    threshold where no threshold reaches the precision)."""
    scores, targets = np.asarray(scores, dtype=np.float64), np.asarray(targets)
    tp, fp = _ranked_counts(scores, targets, as_weights(weights, len(scores)))
    thresholds = np.unique(scores)[::-1]
    precision = tp / np.maximum(tp + fp, EPS)
    recall = np.where(precision >= min_precision - 1e-12, tp / np.maximum(tp[:, -1:], EPS), -1.0)
    best = recall.argmax(axis=1)
    value = recall[np.arange(len(best)), best]
    return np.maximum(value, 0.0), np.where(value >= 0, thresholds[best], np.nan)


def risk_columns(probs: np.ndarray, labels: np.ndarray, task: Task) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The probability columns a risk metric is about, with their 0/1 targets: the positive class of a binary task,
    every label of a multi-label task, every class one-vs-rest of a multi-class task."""
    probs, labels = np.asarray(probs, dtype=np.float64), np.asarray(labels)
    if task.multi_label:
        return probs, labels.astype(int), list(task.labels)
    onehot = np.eye(len(task.labels), dtype=int)[labels.astype(int)]
    if task.is_binary:
        k = task.positive_index
        return probs[:, [k]], onehot[:, [k]], [task.labels[k]]
    return probs, onehot, list(task.labels)


def calibration_bins(
    scores: np.ndarray, targets: np.ndarray, n_bins: int = 15, weights: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Equal-width bins of one probability column: weighted ``count``, mean ``probability`` and observed
    ``frequency`` per bin, each ``(B, n_bins)`` (empty bins: count 0, NaN means)."""
    scores, targets = np.asarray(scores, dtype=np.float64), np.asarray(targets, dtype=np.float64)
    w = as_weights(weights, len(scores))
    which = np.clip(np.digitize(scores, np.linspace(0.0, 1.0, n_bins + 1)[1:-1], right=True), 0, n_bins - 1)
    member = np.eye(n_bins)[which]  # (n, n_bins)
    count = w @ member
    with np.errstate(invalid="ignore", divide="ignore"):
        probability = (w * scores) @ member / count
        frequency = (w * targets) @ member / count
    return count, probability, frequency


def classwise_ece(
    probs: np.ndarray, targets: np.ndarray, n_bins: int = 15, weights: np.ndarray | None = None
) -> np.ndarray:
    """ECE of each column against its own 0/1 outcome (not the top-label confidence): ``(B, columns)``."""
    probs, targets = np.asarray(probs, dtype=np.float64), np.asarray(targets)
    out = []
    for j in range(probs.shape[1]):
        count, probability, frequency = calibration_bins(probs[:, j], targets[:, j], n_bins, weights)
        gaps = np.nan_to_num(np.abs(probability - frequency)) * count
        out.append(gaps.sum(axis=1) / np.maximum(count.sum(axis=1), EPS))
    return np.stack(out, axis=1)


def brier_score(probs: np.ndarray, targets: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Mean squared error of the probability columns against 0/1 targets, summed over columns: ``(B,)``. For
    one column (a binary task's risk class) this is the usual binary Brier score; for the softmax columns of a
    multi-class task it is the multi-class Brier score (0 best, 2 worst)."""
    probs, targets = np.asarray(probs, dtype=np.float64), np.asarray(targets, dtype=np.float64)
    w = as_weights(weights, len(probs))
    per_row = ((probs - targets) ** 2).sum(axis=1)
    return (w @ per_row) / np.maximum(w.sum(axis=1), EPS)


def expected_cost(
    flagged: np.ndarray, positive: np.ndarray, cost_fn: float, cost_fp: float, weights: np.ndarray | None = None
) -> np.ndarray:
    """Mean cost per document of the decisions ``flagged``: ``cost_fn`` per missed positive, ``cost_fp`` per false
    alert: ``(B,)``."""
    flagged, positive = np.asarray(flagged, dtype=bool), np.asarray(positive, dtype=bool)
    w = as_weights(weights, len(flagged))
    per_row = cost_fn * (positive & ~flagged) + cost_fp * (flagged & ~positive)
    return (w @ per_row) / np.maximum(w.sum(axis=1), EPS)


def f1_scores(preds: np.ndarray, targets: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """F1 of each column of 0/1 ``preds`` against 0/1 ``targets``: ``(B, columns)``, 0 where undefined."""
    preds, targets = np.asarray(preds, dtype=np.float64), np.asarray(targets, dtype=np.float64)
    w = as_weights(weights, len(preds))
    tp, fp, fn = w @ (preds * targets), w @ (preds * (1 - targets)), w @ ((1 - preds) * targets)
    return np.where(2 * tp + fp + fn > 0, 2 * tp / np.maximum(2 * tp + fp + fn, EPS), 0.0)


def recalls(preds: np.ndarray, targets: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Recall of each column of 0/1 ``preds``: ``(B, columns)``, NaN where a resample has no positive."""
    preds, targets = np.asarray(preds, dtype=np.float64), np.asarray(targets, dtype=np.float64)
    w = as_weights(weights, len(preds))
    tp, positives = w @ (preds * targets), w @ targets
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(positives > 0, tp / positives, np.nan)


def task_brier(probs: np.ndarray, labels: np.ndarray, task: Task, weights: np.ndarray | None = None) -> np.ndarray:
    """The task's Brier score ``(B,)``: binary, of the risk class; multi-class, summed over classes; multi-label,
    the mean over labels (so it stays in [0, 1] whatever the number of labels)."""
    columns, targets, _ = risk_columns(probs, labels, task)
    value = brier_score(columns, targets, weights)
    return value / columns.shape[1] if task.multi_label else value
