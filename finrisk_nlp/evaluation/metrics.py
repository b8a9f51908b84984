"""Classification metrics for risk tasks, computed offline with numpy and scikit-learn.

Used by the training loop (validation every epoch, test at the end; written to ``RUN_DIR/metrics.json``)
and by the benchmarks. Pure functions: probabilities and labels in, a JSON-ready dict out.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
    roc_auc_score,
)

from finrisk_nlp.tasks import Task


def _safe(fn: Any, *args: Any, **kwargs: Any) -> float | None:
    """A ranking metric, or None where it is undefined (a class absent from the labels)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = float(fn(*args, **kwargs))
        return None if np.isnan(value) else value
    except ValueError:
        return None


def compute_metrics(probs: np.ndarray, labels: np.ndarray, task: Task) -> dict[str, Any]:
    """Metrics for one evaluation set.

    Args:
        probs: ``(n, num_labels)`` class probabilities (softmax rows, or independent sigmoids for multi-label).
        labels: ``(n,)`` class ids, or ``(n, num_labels)`` 0/1 targets for multi-label tasks.
        task: gives the label names, the positive class of binary tasks and whether the task is multi-label.

    Returns:
        ``accuracy``, ``macro_f1``, ``roc_auc``, ``pr_auc`` (for binary tasks: of the positive class; else
        macro one-vs-rest), ``ece`` (:func:`expected_calibration_error`), ``per_class`` precision/recall/F1/
        support, ``confusion_matrix`` (rows: true label) and ``num_examples``.
    """
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels)
    names = list(task.labels)
    if task.multi_label:
        targets = labels.astype(int)
        preds = (probs >= 0.5).astype(int)
        accuracy = float((preds == targets).all(axis=1).mean())
        macro_f1 = float(f1_score(targets, preds, average="macro", zero_division=0))
        roc_auc = _safe(roc_auc_score, targets, probs, average="macro")
        pr_auc = _safe(average_precision_score, targets, probs, average="macro")
        precision, recall, f1, support = precision_recall_fscore_support(targets, preds, zero_division=0)
        matrix = None
    else:
        targets = labels.astype(int)
        preds = probs.argmax(axis=1)
        accuracy = float(accuracy_score(targets, preds))
        macro_f1 = float(f1_score(targets, preds, average="macro", labels=range(len(names)), zero_division=0))
        if task.is_binary:
            positive = probs[:, task.positive_index]
            is_positive = (targets == task.positive_index).astype(int)
            roc_auc = _safe(roc_auc_score, is_positive, positive)
            pr_auc = _safe(average_precision_score, is_positive, positive)
        else:
            onehot = np.eye(len(names), dtype=int)[targets]
            roc_auc = _safe(roc_auc_score, onehot, probs, average="macro", multi_class="ovr")
            pr_auc = _safe(average_precision_score, onehot, probs, average="macro")
        precision, recall, f1, support = precision_recall_fscore_support(
            targets, preds, labels=range(len(names)), zero_division=0
        )
        matrix = confusion_matrix(targets, preds, labels=range(len(names))).tolist()
    return {
        "num_examples": int(len(labels)),
        "accuracy": accuracy,
        "macro_f1": macro_f1,
        "roc_auc": roc_auc,
        "pr_auc": pr_auc,
        "ece": expected_calibration_error(probs, labels, task),
        "per_class": {
            name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for name, p, r, f, s in zip(names, precision, recall, f1, support, strict=True)
        },
        "confusion_matrix": matrix,
        "labels": names,
    }


def _confidence_and_correct(probs: np.ndarray, labels: np.ndarray, task: Task) -> tuple[np.ndarray, np.ndarray]:
    """What calibration is judged on: each sigmoid output against its 0/1 target (multi-label), else the
    top-class probability against whether the top class is right."""
    probs, labels = np.asarray(probs, dtype=np.float64), np.asarray(labels)
    if task.multi_label:
        return probs.ravel(), labels.astype(float).ravel()
    return probs.max(axis=1), (probs.argmax(axis=1) == labels.astype(int)).astype(float)


def reliability_bins(probs: np.ndarray, labels: np.ndarray, task: Task, n_bins: int = 15) -> dict[str, list[float]]:
    """Equal-width confidence bins: mean ``confidence``, observed ``accuracy`` and ``count`` of each non-empty bin."""
    confidence, correct = _confidence_and_correct(probs, labels, task)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, n_bins - 1)
    out: dict[str, list[float]] = {"confidence": [], "accuracy": [], "count": []}
    for b in range(n_bins):
        mask = which == b
        if mask.any():
            out["confidence"].append(float(confidence[mask].mean()))
            out["accuracy"].append(float(correct[mask].mean()))
            out["count"].append(int(mask.sum()))
    return out


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, task: Task, n_bins: int = 15) -> float:
    """ECE: the count-weighted mean gap between confidence and accuracy over :func:`reliability_bins`."""
    bins = reliability_bins(probs, labels, task, n_bins)
    total = sum(bins["count"])
    if total == 0:
        return 0.0
    gaps = np.abs(np.asarray(bins["confidence"]) - np.asarray(bins["accuracy"]))
    return float((gaps * np.asarray(bins["count"])).sum() / total)


def operating_point_metrics(
    probs: np.ndarray, labels: np.ndarray, task: Task, threshold: dict[str, Any] | None
) -> dict[str, Any]:
    """Precision and recall of the decisions made at the stored threshold (:func:`~.thresholds.decide`).

    Binary: of the positive class, plus how many texts are flagged. Multi-label: per label and macro.
    Multi-class (arg-max decision): macro precision/recall.
    """
    from finrisk_nlp.evaluation.thresholds import decide

    decisions = decide(probs, task, threshold)
    labels = np.asarray(labels)
    out: dict[str, Any] = {"target": (threshold or {}).get("target", "argmax")}
    if task.multi_label:
        names = list(task.labels)
        preds = np.array([[name in d for name in names] for d in decisions], dtype=int).reshape(len(labels), -1)
        p, r, f, _ = precision_recall_fscore_support(labels.astype(int), preds, zero_division=0)
        out["per_label"] = {
            n: {"threshold": (threshold or {}).get("by_label", {}).get(n, {}).get("value", 0.5),
                "precision": float(a), "recall": float(b), "f1": float(c)}
            for n, a, b, c in zip(names, p, r, f, strict=True)
        }
        out.update(precision=float(p.mean()), recall=float(r.mean()), f1=float(f.mean()))
        return out
    preds = np.array([task.labels.index(d) for d in decisions], dtype=int)
    targets = labels.astype(int)
    if task.is_binary:
        pos = task.positive_index
        p, r, f, _ = precision_recall_fscore_support(
            targets == pos, preds == pos, average="binary", zero_division=0
        )
        value = (threshold or {}).get("by_label", {}).get(task.labels[pos], {}).get("value")
        out.update(label=task.labels[pos], threshold=value, precision=float(p), recall=float(r), f1=float(f),
                   flagged=int((preds == pos).sum()))
        return out
    p, r, f, _ = precision_recall_fscore_support(
        targets, preds, labels=range(len(task.labels)), average="macro", zero_division=0
    )
    out.update(precision=float(p), recall=float(r), f1=float(f))
    return out


def majority_baseline(labels: np.ndarray, task: Task) -> dict[str, float]:
    """Accuracy and macro-F1 of always predicting the most frequent class: the floor a model must beat."""
    if task.multi_label:
        return {"accuracy": float((np.asarray(labels) == 0).all(axis=1).mean()), "macro_f1": 0.0}
    labels = np.asarray(labels).astype(int)
    majority = np.bincount(labels, minlength=len(task.labels)).argmax()
    preds = np.full_like(labels, majority)
    return {
        "accuracy": float(accuracy_score(labels, preds)),
        "macro_f1": float(f1_score(labels, preds, average="macro", labels=range(len(task.labels)), zero_division=0)),
    }


def format_summary(metrics: dict[str, Any], split: str) -> str:
    """One line for the terminal: ``test: accuracy 0.871 | macro_f1 0.842 | ...``, then the decisions at the
    operating point when the metrics have one: ``at threshold 0.43 for default (f1): recall 0.650, ...``."""
    keys = ("accuracy", "macro_f1", "roc_auc", "pr_auc")
    parts = [f"{k} {metrics[k]:.3f}" for k in keys if metrics.get(k) is not None]
    line = f"{split} ({metrics['num_examples']} examples): " + " | ".join(parts)
    op = metrics.get("operating_point")
    if op:
        where = (f"at threshold {op['threshold']:.3f} for {op['label']}" if op.get("threshold") is not None
                 else "at the per-label thresholds" if "per_label" in op else "at argmax")
        target = "" if op["target"] == "argmax" else f" ({op['target']})"
        avg = "" if "flagged" in op else "macro "  # binary tasks report the risk class; others average labels
        line += (f"\n{split} {where}{target}: {avg}recall {op['recall']:.3f} | {avg}precision "
                 f"{op['precision']:.3f} | {avg}f1 {op['f1']:.3f}")
        if "flagged" in op:
            line += f" | flagged {op['flagged']}"
    return line
