"""Did calibration help? Raw and calibrated probabilities compared on the same documents, with paired intervals.

Run at the end of every training run (``accelerate launch recipes/credit_text.py``) on validation (calibrated
out of fold, never in-sample) and on test; shown side by side in ``report.md`` and kept in ``metrics.json`` under
``calibration.comparison``. A change whose 95% paired-bootstrap interval holds 0 is reported as "no measurable
change", never as an improvement. Accuracy and macro-F1 here are of the most probable label (arg-max), not of the
operating threshold, and are labelled so.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from finrisk_nlp.evaluation import risk_measures as rm
from finrisk_nlp.evaluation.bootstrap import metric_samples
from finrisk_nlp.evaluation.calibration import PROB_EPS
from finrisk_nlp.evaluation.metrics import confidence_and_correct
from finrisk_nlp.tasks import Task

CHANGE_METRICS: tuple[str, ...] = ("ece", "brier", "nll")  # lower is better for each
NO_CHANGE = "no measurable change"


def _nll_rows(probs: np.ndarray, labels: np.ndarray, task: Task) -> np.ndarray:
    p = np.clip(probs, PROB_EPS, 1 - PROB_EPS)
    if task.multi_label:
        y = np.asarray(labels, dtype=np.float64)
        return -(y * np.log(p) + (1 - y) * np.log(1 - p)).mean(axis=1)
    return -np.log(p[np.arange(len(p)), np.asarray(labels).astype(int)])


def calibration_samples(probs: np.ndarray, labels: np.ndarray, task: Task,
                        weights: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """ECE (top label, 15 bins; per output for multi-label tasks), the task's Brier score and mean NLL on each
    weighted resample: ``{metric: (B,)}``."""
    probs = np.asarray(probs, dtype=np.float64)
    w = rm.as_weights(weights, len(probs))
    confidence, correct = confidence_and_correct(probs, labels, task)
    # multi-label ECE pools every (document, label) pair: each document's weight applies to its row of labels
    pair_w = np.repeat(w, probs.shape[1], axis=1) if task.multi_label else w
    count, probability, frequency = rm.calibration_bins(confidence, correct, 15, pair_w)
    ece = (np.nan_to_num(np.abs(probability - frequency)) * count).sum(axis=1) / np.maximum(count.sum(axis=1),
                                                                                             rm.EPS)
    nll = (w @ _nll_rows(probs, labels, task)) / np.maximum(w.sum(axis=1), rm.EPS)
    return {"ece": ece, "brier": rm.task_brier(probs, labels, task, weights), "nll": nll}


def _argmax_metrics(probs: np.ndarray, labels: np.ndarray, task: Task) -> dict[str, float]:
    labels = np.asarray(labels)
    if task.multi_label:
        accuracy = float(((probs >= 0.5) == (labels > 0.5)).all(axis=1).mean())
    else:
        accuracy = float((probs.argmax(axis=1) == labels.astype(int)).mean())
    return {"accuracy_at_argmax": accuracy, "macro_f1_at_argmax": float(metric_samples(probs, labels, task,
                                                                                        "macro_f1")[0])}


def verdict(low: float, high: float) -> str:
    """"improved" (the whole interval of calibrated minus raw is below 0), "worse" (above 0) or
    :data:`NO_CHANGE`."""
    return "improved" if high < 0 else "worse" if low > 0 else NO_CHANGE


def compare_calibration(raw: np.ndarray, calibrated: np.ndarray, labels: np.ndarray, task: Task, *,
                        n_resamples: int = 1000, seed: int = 0, confidence: float = 0.95) -> dict[str, Any]:
    """Raw and calibrated probabilities of the same documents side by side.

    Returns:
        ``num_examples``; ``raw`` and ``calibrated``: ``ece``, ``brier``, ``nll``, ``accuracy_at_argmax``,
        ``macro_f1_at_argmax``; ``change``: for each of :data:`CHANGE_METRICS`, calibrated minus raw as
        ``estimate``, the paired percentile interval ``low``/``high`` and the ``verdict``.
    """
    raw, calibrated = np.asarray(raw, dtype=np.float64), np.asarray(calibrated, dtype=np.float64)
    labels = np.asarray(labels)
    n = len(labels)
    out: dict[str, Any] = {"num_examples": int(n)}
    if not n:
        return out
    point = {name: calibration_samples(p, labels, task) for name, p in (("raw", raw), ("calibrated", calibrated))}
    for name, p in (("raw", raw), ("calibrated", calibrated)):
        out[name] = {**{m: float(point[name][m][0]) for m in CHANGE_METRICS}, **_argmax_metrics(p, labels, task)}
    weights = rm.resample_weights(n, n_resamples, seed)
    before, after = calibration_samples(raw, labels, task, weights), calibration_samples(calibrated, labels, task,
                                                                                         weights)
    tail = (1 - confidence) / 2 * 100
    out["change"] = {}
    for m in CHANGE_METRICS:
        low, high = (float(v) for v in np.percentile(after[m] - before[m], [tail, 100 - tail]))
        out["change"][m] = {"estimate": out["calibrated"][m] - out["raw"][m], "low": low, "high": high,
                            "verdict": verdict(low, high)}
    return out
