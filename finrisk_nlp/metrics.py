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

from .tasks import Task


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
        macro one-vs-rest), ``per_class`` precision/recall/F1/support, ``confusion_matrix`` (rows: true
        label) and ``num_examples``.
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
        "per_class": {
            name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for name, p, r, f, s in zip(names, precision, recall, f1, support, strict=True)
        },
        "confusion_matrix": matrix,
        "labels": names,
    }


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
    """One line for the terminal: ``test: accuracy 0.871 | macro_f1 0.842 | ...``."""
    keys = ("accuracy", "macro_f1", "roc_auc", "pr_auc")
    parts = [f"{k} {metrics[k]:.3f}" for k in keys if metrics.get(k) is not None]
    return f"{split} ({metrics['num_examples']} examples): " + " | ".join(parts)
