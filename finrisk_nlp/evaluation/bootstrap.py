"""Bootstrap uncertainty of test metrics: 95% intervals, and paired comparisons of two models on the same texts.

Used at the end of a run (``accelerate launch recipes/aml_alert.py``: intervals in ``metrics.json`` and the
report) and by hand to compare models::

    from finrisk_nlp.evaluation.bootstrap import paired_bootstrap
    paired_bootstrap(probs_new, probs_old, labels, task, "pr_auc")   # {"diff", "low", "high", "p_value"}

Resamples are row weights (:func:`~.risk_measures.resample_weights`), so 1000 resamples cost a few matrix
products rather than 1000 metric calls. A paired bootstrap draws the same rows for both models, which cancels
the difficulty of the particular test texts out of the difference.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

import numpy as np

from finrisk_nlp.evaluation import risk_measures as rm
from finrisk_nlp.evaluation.thresholds import REVIEW, decide
from finrisk_nlp.tasks import Task

logger = logging.getLogger(__name__)

BOOTSTRAP_METRICS: tuple[str, ...] = ("macro_f1", "pr_auc", "roc_auc", "recall")


def _onehot_targets(labels: np.ndarray, task: Task) -> np.ndarray:
    labels = np.asarray(labels)
    return labels.astype(int) if task.multi_label else np.eye(len(task.labels), dtype=int)[labels.astype(int)]


def metric_samples(
    probs: np.ndarray, labels: np.ndarray, task: Task, metric: str, weights: np.ndarray | None = None,
    threshold: dict[str, Any] | None = None,
) -> np.ndarray:
    """``metric`` on each weighted resample: ``(B,)`` (one value per row of ``weights``; NaN where undefined).

    Args:
        probs, labels: as for :func:`~.metrics.compute_metrics`.
        task: the task.
        metric: ``macro_f1`` (most probable label, 0.5 for multi-label tasks, as in ``compute_metrics``),
            ``pr_auc``, ``roc_auc`` (risk class, else macro) or ``recall`` (of the risk class at the operating
            point ``threshold``, else macro; documents sent to review count as not flagged).
        weights: ``(B, n)`` row weights; None: the data as it is.
        threshold: the stored operating threshold for ``recall``.
    """
    probs = np.asarray(probs, dtype=np.float64)
    if metric in ("pr_auc", "roc_auc"):
        columns, targets, _ = rm.risk_columns(probs, labels, task)
        fn = rm.average_precision if metric == "pr_auc" else rm.roc_auc
        values = np.stack([fn(columns[:, j], targets[:, j], weights) for j in range(columns.shape[1])], axis=1)
        return _nanmean_rows(values)
    targets = _onehot_targets(labels, task)
    if metric == "macro_f1":
        preds = (probs >= 0.5).astype(int) if task.multi_label else np.eye(len(task.labels), dtype=int)[
            probs.argmax(axis=1)]
        return rm.f1_scores(preds, targets, weights).mean(axis=1)
    if metric == "recall":
        decisions = decide(probs, task, threshold)
        preds = np.array([[name == d or (isinstance(d, list) and name in d) for name in task.labels]
                          for d in decisions], dtype=int).reshape(len(probs), -1)
        preds[np.array([d == REVIEW for d in decisions], dtype=bool)] = 0
        values = rm.recalls(preds, targets, weights)
        if task.is_binary:
            return values[:, task.positive_index]
        return _nanmean_rows(values)
    raise ValueError(f"unknown bootstrap metric {metric!r}; expected one of {list(BOOTSTRAP_METRICS)}")


def _nanmean_rows(values: np.ndarray) -> np.ndarray:
    """Row means ignoring NaN; a row that is all NaN (a class drawn zero times) stays NaN without a warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(values, axis=1)


def bootstrap_intervals(
    probs: np.ndarray, labels: np.ndarray, task: Task, threshold: dict[str, Any] | None = None,
    n_resamples: int = 1000, seed: int = 0, confidence: float = 0.95,
    metrics: tuple[str, ...] = BOOTSTRAP_METRICS,
) -> dict[str, list[float | None]]:
    """Percentile bootstrap intervals of test metrics.

    Args:
        probs, labels: test probabilities and labels.
        task: the task.
        threshold: the stored operating threshold (for ``recall``).
        n_resamples: bootstrap resamples.
        seed: the resampling seed.
        confidence: the interval's coverage.
        metrics: which of :data:`BOOTSTRAP_METRICS`.

    Returns:
        ``{metric: [low, high]}``; ``[None, None]`` where the metric is undefined on the data (e.g. ROC-AUC
        without a positive).
    """
    n = len(probs)
    weights = rm.resample_weights(n, n_resamples, seed) if n else None
    tail = (1 - confidence) / 2 * 100
    out: dict[str, list[float | None]] = {}
    for metric in metrics:
        values = metric_samples(probs, labels, task, metric, weights, threshold) if n else np.array([np.nan])
        values = values[np.isfinite(values)]
        out[metric] = [float(v) for v in np.percentile(values, [tail, 100 - tail])] if len(values) else [None, None]
    return out


def paired_bootstrap(
    probs_a: np.ndarray, probs_b: np.ndarray, labels: np.ndarray, task: Task, metric: str = "pr_auc",
    threshold_a: dict[str, Any] | None = None, threshold_b: dict[str, Any] | None = None,
    n_resamples: int = 1000, seed: int = 0, confidence: float = 0.95,
) -> dict[str, float]:
    """Is model A better than model B on these texts? The same resamples score both.

    Args:
        probs_a, probs_b: the two models' probabilities for the same documents, in the same order.
        labels: the documents' labels.
        task: the task.
        metric: one of :data:`BOOTSTRAP_METRICS`.
        threshold_a, threshold_b: each model's operating threshold (for ``recall``).
        n_resamples, seed, confidence: as for :func:`bootstrap_intervals`.

    Returns:
        ``diff`` (A minus B on all documents), ``low``/``high`` (percentile interval of the difference) and
        ``p_value`` (two-sided, for no difference: how often a resampled difference lies at least ``|diff|``
        from the observed one, the bootstrap's stand-in for the null distribution).

    Raises:
        ValueError: when the two models scored different numbers of documents.
    """
    if np.shape(probs_a) != np.shape(probs_b) or len(probs_a) != len(labels):
        raise ValueError(f"paired bootstrap needs both models' probabilities for the same documents; got shapes "
                         f"{np.shape(probs_a)} and {np.shape(probs_b)} for {len(labels)} labels")
    diff = float(metric_samples(probs_a, labels, task, metric, None, threshold_a)[0]
                 - metric_samples(probs_b, labels, task, metric, None, threshold_b)[0])
    weights = rm.resample_weights(len(labels), n_resamples, seed)
    samples = (metric_samples(probs_a, labels, task, metric, weights, threshold_a)
               - metric_samples(probs_b, labels, task, metric, weights, threshold_b))
    samples = samples[np.isfinite(samples)]
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(samples, [tail, 100 - tail])
    p_value = (1 + int((np.abs(samples - diff) >= abs(diff)).sum())) / (len(samples) + 1)
    return {"diff": diff, "low": float(low), "high": float(high), "p_value": float(p_value)}
