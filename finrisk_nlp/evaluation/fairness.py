"""Error rates per data slice (fairness slices), computed on the test split when a run sets ``eval.slice_columns``::

    finrisk train --config recipes/configs/credit_text.yaml "eval.slice_columns=[region, channel]"

The run then writes ``fairness.md`` and a ``fairness`` entry in ``metrics.json``: per slice the support, recall,
precision and false positive rate, and per column the largest gap of each metric between its slices.

Which "positive" the rates refer to:

* binary tasks: the task's positive label (``data.positive_label``, e.g. ``default``);
* multi-class tasks: the macro average over classes, each class taken one-vs-rest;
* multi-label tasks: the macro average over labels, each label on its own.

A class that a slice gives no denominator for (e.g. no true member, so no recall) is left out of that slice's
macro average; a metric no class defines is ``None``. Slices smaller than ``min_slice_size`` are reported but
left out of the gaps, with a warning: a rate over a handful of rows says little about the population.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from finrisk_nlp.errors import DataError
from finrisk_nlp.formatting import fmt
from finrisk_nlp.tasks import Task

METRICS = ("recall", "precision", "false_positive_rate")
METRIC_TITLES = {"recall": "recall", "precision": "precision", "false_positive_rate": "false positive rate"}
MISSING = "(missing)"


def slice_values_of(table: Any, columns: Sequence[str], source: str) -> dict[str, list[str]]:
    """The values of ``columns`` in ``table`` (a ``datasets.Dataset`` or anything with ``column_names``), as strings.

    Empty cells become ``"(missing)"`` so that they form a slice of their own.

    Raises:
        DataError: if a column is not in the table.
    """
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise DataError(
            f"{source}: eval.slice_columns names {missing}, but the data has no such column (columns found: "
            f"{table.column_names}). Add the column to the data or fix eval.slice_columns, e.g. "
            "'eval.slice_columns=[region]'."
        )
    return {c: [MISSING if v is None or v == "" else str(v) for v in table[c]] for c in columns}


def _one_vs_rest(
    preds_or_probs: np.ndarray, labels: np.ndarray, task: Task
) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """0/1 matrices ``(n, num_labels)`` of true and predicted membership, and the classes the rates average over."""
    values = np.asarray(preds_or_probs)
    labels = np.asarray(labels)
    num = len(task.labels)
    if task.multi_label:
        return labels.astype(int), (values >= 0.5).astype(int), list(range(num))
    predicted = values.argmax(axis=1) if values.ndim == 2 else values.astype(int)
    eye = np.eye(num, dtype=int)
    classes = [task.positive_index] if task.is_binary else list(range(num))
    return eye[labels.astype(int)], eye[predicted], classes


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def _rates(truth: np.ndarray, predicted: np.ndarray, classes: list[int]) -> dict[str, float | None]:
    per_metric: dict[str, list[float]] = {m: [] for m in METRICS}
    for c in classes:
        t, p = truth[:, c].astype(bool), predicted[:, c].astype(bool)
        tp, fp = int((t & p).sum()), int((~t & p).sum())
        fn, tn = int((t & ~p).sum()), int((~t & ~p).sum())
        for name, value in (("recall", _ratio(tp, tp + fn)), ("precision", _ratio(tp, tp + fp)),
                            ("false_positive_rate", _ratio(fp, fp + tn))):
            if value is not None:
                per_metric[name].append(value)
    return {m: float(np.mean(v)) if v else None for m, v in per_metric.items()}


def _summary(truth: np.ndarray, predicted: np.ndarray, classes: list[int], binary: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"support": int(len(truth))}
    if binary:  # the real sample size behind a binary recall
        out["positives"] = int(truth[:, classes[0]].sum())
    out.update(_rates(truth, predicted, classes))
    return out


def slice_metrics(
    preds_or_probs: np.ndarray | Sequence[Any],
    labels: np.ndarray | Sequence[Any],
    slice_values: Mapping[str, Sequence[str]],
    task: Task,
    min_slice_size: int = 30,
) -> dict[str, Any]:
    """Support, recall, precision and false positive rate per slice, and the largest gap per metric and column.

    Args:
        preds_or_probs: ``(n,)`` predicted class ids, or ``(n, num_labels)`` probabilities (argmax; multi-label:
            each label at 0.5).
        labels: ``(n,)`` true class ids, or ``(n, num_labels)`` 0/1 targets for multi-label tasks.
        slice_values: column name -> ``n`` slice values, row-aligned with ``labels``.
        task: gives the labels, the positive label of binary tasks and whether the task is multi-label.
        min_slice_size: slices with fewer rows are reported, flagged ``judged: false`` and left out of the gaps.

    Returns:
        A JSON-ready dict: ``basis`` (what the rates refer to), ``num_examples``, ``min_slice_size``, ``overall``,
        ``columns`` (per column: ``slices`` by value and ``gaps`` by metric, each gap ``{"gap", "highest",
        "lowest"}`` or None when fewer than two judged slices define the metric) and ``warnings``.
    """
    truth, predicted, classes = _one_vs_rest(np.asarray(preds_or_probs), np.asarray(labels), task)
    n = len(truth)
    if len(predicted) != n:
        raise ValueError(f"got {len(predicted)} predictions for {n} labels")
    binary = task.is_binary
    result: dict[str, Any] = {
        "basis": (f"positive label {task.labels[task.positive_index]!r}" if binary
                  else "macro average over labels, each on its own" if task.multi_label
                  else "macro average over classes, one-vs-rest"),
        "num_examples": n,
        "min_slice_size": min_slice_size,
        "overall": _summary(truth, predicted, classes, binary),
        "columns": {},
        "warnings": [],
    }
    for column, values in slice_values.items():
        values = np.asarray([MISSING if v is None else str(v) for v in values], dtype=object)
        if len(values) != n:
            raise ValueError(f"slice column {column!r} has {len(values)} values for {n} predictions")
        slices: dict[str, dict[str, Any]] = {}
        for value in sorted(set(values)):
            rows = values == value
            summary = _summary(truth[rows], predicted[rows], classes, binary)
            summary["judged"] = summary["support"] >= min_slice_size
            if not summary["judged"]:
                result["warnings"].append(
                    f"slice {column}={value}: {summary['support']} test rows, fewer than "
                    f"eval.min_slice_size={min_slice_size}; shown, but too few to judge and left out of the gaps"
                )
            slices[value] = summary
        gaps = {metric: _gap(slices, metric) for metric in METRICS}
        if sum(s["judged"] for s in slices.values()) < 2:
            result["warnings"].append(
                f"column {column}: fewer than two slices have at least {min_slice_size} test rows; no gaps computed"
            )
        result["columns"][column] = {"slices": slices, "gaps": gaps}
    return result


def _gap(slices: dict[str, dict[str, Any]], metric: str) -> dict[str, Any] | None:
    scored = {name: s[metric] for name, s in slices.items() if s["judged"] and s[metric] is not None}
    if len(scored) < 2:
        return None
    ordered = sorted(scored, key=scored.__getitem__)  # stable: ties keep the slices' sorted order
    lowest, highest = ordered[0], ordered[-1]
    return {"gap": scored[highest] - scored[lowest], "highest": highest, "lowest": lowest}


def _cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def render_fairness_markdown(result: dict[str, Any], heading_level: int = 2) -> str:
    """Markdown for a :func:`slice_metrics` result: one table per slice column, then the warnings.

    Args:
        result: the dict returned by :func:`slice_metrics` (as stored under ``fairness`` in ``metrics.json``).
        heading_level: level of the section heading (``##`` by default), so it nests in a larger document.
    """
    h = "#" * heading_level
    lines = [
        f"{h} Fairness slices (test split)",
        "",
        f"Rates with respect to the {result['basis']}, over {result['num_examples']} test rows. "
        f"Slices with fewer than {result['min_slice_size']} rows are marked † and left out of the gaps.",
    ]
    overall = result["overall"]
    for column, block in result["columns"].items():
        lines += ["", f"{h}# {_cell(column)}", "", "| slice | support | recall | precision | false positive rate |",
                  "|---|---:|---:|---:|---:|",
                  f"| (all) | {overall['support']} | " + " | ".join(fmt(overall[m]) for m in METRICS) + " |"]
        for value, s in block["slices"].items():
            mark = "" if s["judged"] else " †"
            lines.append(f"| {_cell(value)}{mark} | {s['support']} | " + " | ".join(fmt(s[m]) for m in METRICS) + " |")
        gap_cells = []
        for metric in METRICS:
            gap = block["gaps"][metric]
            gap_cells.append("n/a" if gap is None else f"{gap['gap']:.3f} (all equal)" if gap["gap"] == 0 else
                             f"{gap['gap']:.3f} ({_cell(gap['highest'])} vs {_cell(gap['lowest'])})")
        lines.append("| **largest gap** | | " + " | ".join(gap_cells) + " |")
    if result["warnings"]:
        lines += ["", f"{h}# Warnings", ""] + [f"- {_cell(w)}" for w in result["warnings"]]
    return "\n".join(lines) + "\n"
