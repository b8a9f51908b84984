"""Classification metrics for risk tasks, computed offline with numpy and scikit-learn.

Used by the training loop (validation every epoch, test at the end; written to ``RUN_DIR/metrics.json``)
and by the benchmarks. Pure functions: probabilities and labels in, a JSON-ready dict out. PR-AUC, per-class
ECE and the Brier score come from the ``evaluate`` modules in :mod:`finrisk_nlp.evaluation.metric_modules`.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
    roc_auc_score,
)

from finrisk_nlp.config import ThresholdTarget
from finrisk_nlp.evaluation import risk_measures
from finrisk_nlp.evaluation.decision_rule import decision_cost, decision_counts
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
        macro one-vs-rest over the classes present), ``ece`` (top-label, :func:`expected_calibration_error`),
        ``ece_per_class`` (each class's probability against its own outcome) and for binary tasks
        ``ece_positive`` (the risk class's), ``brier`` (:func:`~.risk_measures.task_brier`), ``per_class``
        precision/recall/F1/support, ``confusion_matrix`` (rows: true label) and ``num_examples``.
    """
    from finrisk_nlp.evaluation.metric_modules import load_metric

    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels)
    names = list(task.labels)
    if task.multi_label:
        targets = labels.astype(int)
        preds = (probs >= 0.5).astype(int)
        accuracy = float((preds == targets).all(axis=1).mean())
        macro_f1 = float(f1_score(targets, preds, average="macro", zero_division=0))
        roc_auc = _safe(roc_auc_score, targets, probs, average="macro")
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
        else:
            onehot = np.eye(len(names), dtype=int)[targets]
            roc_auc = _safe(roc_auc_score, onehot, probs, average="macro", multi_class="ovr")
        precision, recall, f1, support = precision_recall_fscore_support(
            targets, preds, labels=range(len(names)), zero_division=0
        )
        matrix = confusion_matrix(targets, preds, labels=range(len(names))).tolist()
    inputs = {"prediction_scores": probs, "references": targets, "multi_label": task.multi_label,
              "positive_index": task.positive_index if task.is_binary else None}
    calibration = load_metric("classwise_ece").compute(**inputs) if len(labels) else {"ece_per_class": []}
    extra: dict[str, Any] = {
        "ece_per_class": dict(zip(names, calibration["ece_per_class"], strict=False)),
        "brier": load_metric("brier_score").compute(**inputs)["brier_score"] if len(labels) else None,
    }
    if task.is_binary and len(labels):
        extra["ece_positive"] = calibration["ece_positive"]
    pr_auc = load_metric("pr_auc").compute(**inputs)["pr_auc"] if len(labels) else None
    return {
        "num_examples": int(len(labels)),
        "accuracy": accuracy,
        "macro_f1": macro_f1,
        "roc_auc": roc_auc,
        "pr_auc": pr_auc,
        "ece": expected_calibration_error(probs, labels, task),
        **extra,
        "per_class": {
            name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for name, p, r, f, s in zip(names, precision, recall, f1, support, strict=True)
        },
        "confusion_matrix": matrix,
        "labels": names,
    }


def confidence_and_correct(probs: np.ndarray, labels: np.ndarray, task: Task) -> tuple[np.ndarray, np.ndarray]:
    """What calibration is judged on: each sigmoid output against its 0/1 target (multi-label), else the
    top-class probability against whether the top class is right."""
    probs, labels = np.asarray(probs, dtype=np.float64), np.asarray(labels)
    if task.multi_label:
        return probs.ravel(), labels.astype(float).ravel()
    return probs.max(axis=1), (probs.argmax(axis=1) == labels.astype(int)).astype(float)


def reliability_bins(probs: np.ndarray, labels: np.ndarray, task: Task, n_bins: int = 15) -> dict[str, list[float]]:
    """Equal-width confidence bins: mean ``confidence``, observed ``accuracy`` and ``count`` of each non-empty bin."""
    confidence, correct = confidence_and_correct(probs, labels, task)
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


def risk_reliability_bins(
    probs: np.ndarray, labels: np.ndarray, task: Task, n_bins: int = 15
) -> dict[str, list[float]]:
    """Reliability of P(risk class), not of the top-label confidence: mean predicted ``probability``, observed
    ``frequency`` and ``count`` per non-empty equal-width bin. Binary tasks: the risk class; others: every class
    (or label) probability against its own outcome, pooled."""
    columns, targets, _ = risk_measures.risk_columns(probs, labels, task)
    count, probability, frequency = risk_measures.calibration_bins(columns.ravel(), targets.ravel(), n_bins)
    keep = count[0] > 0
    return {"probability": probability[0][keep].tolist(), "frequency": frequency[0][keep].tolist(),
            "count": count[0][keep].astype(int).tolist()}


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

    Binary: of the positive class, plus how many texts are flagged and, for a ``min_cost`` target, the
    ``expected_cost`` per document. Multi-label: per label and macro. Multi-class: macro precision/recall, and
    ``per_label`` for the risk classes that have thresholds (and ``expected_cost`` of the decisions for a
    ``min_cost`` target). With an abstention rule, ``coverage`` (the share
    of documents decided), ``reviewed`` (how many were not) and ``decided_error_rate`` (wrong decisions among
    the decided: any label wrong for multi-label tasks) are added, and precision/recall are of the decided ones.
    """
    from finrisk_nlp.evaluation.thresholds import REVIEW, decide

    threshold = threshold or {}
    by_label = threshold.get("by_label") or {}
    decisions = decide(probs, task, threshold)
    labels = np.asarray(labels)
    decided = np.array([d != REVIEW for d in decisions], dtype=bool)
    out: dict[str, Any] = {"target": threshold.get("target", "argmax")}
    if threshold.get("review_band") or threshold.get("conformal"):
        out.update(coverage=float(decided.mean()) if len(decided) else 0.0, reviewed=int((~decided).sum()))
    names = list(task.labels)
    if not decided.any():  # every row went to review: there is no decision to measure
        out.update(precision=None, recall=None, f1=None, decided_error_rate=None)
        return out
    kept = [d for d, keep in zip(decisions, decided, strict=True) if keep]
    labels = labels[decided]
    if task.multi_label:
        preds = np.array([[name in d for name in names] for d in kept], dtype=int).reshape(len(labels), -1)
        targets = labels.astype(int).reshape(len(labels), -1)
        p, r, f, _ = precision_recall_fscore_support(targets, preds, zero_division=0)
        out["per_label"] = {
            n: {"threshold": by_label.get(n, {}).get("value", 0.5),
                "precision": float(a), "recall": float(b), "f1": float(c)}
            for n, a, b, c in zip(names, p, r, f, strict=True)
        }
        out.update(precision=float(p.mean()), recall=float(r.mean()), f1=float(f.mean()))
        errors = (preds != targets).any(axis=1)
    else:
        preds = np.array([names.index(d) for d in kept], dtype=int)
        targets = labels.astype(int)
        errors = preds != targets
        if task.is_binary:
            pos = task.positive_index
            p, r, f, _ = precision_recall_fscore_support(
                targets == pos, preds == pos, average="binary", zero_division=0
            )
            row = by_label.get(names[pos], {})
            # Macro-F1 of the decisions themselves: what the model delivers at its operating point.
            macro = f1_score(targets, preds, labels=range(len(names)), average="macro", zero_division=0)
            out.update(label=names[pos], threshold=row.get("value"), precision=float(p), recall=float(r),
                       f1=float(f), macro_f1=float(macro), flagged=int((preds == pos).sum()))
            if "costs" in row:
                cost = risk_measures.expected_cost(preds == pos, targets == pos, row["costs"]["fn"],
                                                   row["costs"]["fp"])
                out["expected_cost"] = float(cost[0]) if len(preds) else 0.0
        else:
            p, r, f, _ = precision_recall_fscore_support(
                targets, preds, labels=range(len(names)), average=None, zero_division=0
            )
            out.update(precision=float(p.mean()), recall=float(r.mean()), f1=float(f.mean()))
            if by_label:
                out["per_label"] = {n: {"threshold": by_label[n]["value"], "precision": float(p[names.index(n)]),
                                        "recall": float(r[names.index(n)]), "f1": float(f[names.index(n)])}
                                    for n in by_label}
                costs = next((row["costs"] for row in by_label.values() if "costs" in row), None)
                if costs:  # the cost of the decisions made, as the thresholds were tuned for
                    cols = [names.index(n) for n in by_label]
                    _, fp, fn = decision_counts(preds, targets, cols)
                    out["expected_cost"] = decision_cost(fp, fn, len(preds), ThresholdTarget(
                        "min_cost", cost_fn=costs["fn"], cost_fp=costs["fp"]))
    if "coverage" in out:
        out["decided_error_rate"] = float(errors.mean()) if len(errors) else 0.0
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
    """One line for the terminal: ``test: accuracy (argmax) 0.871 | macro_f1 (argmax) 0.842 | ...`` (accuracy
    and macro-F1 of the most probable label, said so), then the decisions at the operating point when the
    metrics have one: ``at threshold 0.43 for default (f1): recall 0.650, ...``."""
    keys = ("accuracy", "macro_f1", "roc_auc", "pr_auc")
    shown = {"accuracy": "accuracy (argmax)", "macro_f1": "macro_f1 (argmax)"}
    parts = [f"{shown.get(k, k)} {metrics[k]:.3f}" for k in keys if metrics.get(k) is not None]
    line = f"{split} ({metrics['num_examples']} examples): " + " | ".join(parts)
    op = metrics.get("operating_point")
    if op:
        where = (f"at threshold {op['threshold']:.3f} for {op['label']}" if op.get("threshold") is not None
                 else "at the per-label thresholds" if "per_label" in op else "at argmax")
        target = "" if op["target"] == "argmax" else f" ({op['target']})"
        avg = "" if "flagged" in op else "macro "  # binary tasks report the risk class; others average labels
        if op.get("recall") is None:
            return line + f"\n{split} {where}{target}: every example was sent to review"
        line += (f"\n{split} {where}{target}: {avg}recall {op['recall']:.3f} | {avg}precision "
                 f"{op['precision']:.3f} | {avg}f1 {op['f1']:.3f}")
        if "flagged" in op:
            line += f" | flagged {op['flagged']}"
    return line
