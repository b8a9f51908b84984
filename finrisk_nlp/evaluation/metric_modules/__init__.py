"""Risk metrics as ``evaluate`` modules shipped inside the package, loadable offline by path.

Used by :func:`finrisk_nlp.evaluation.metrics.compute_metrics` (``accelerate launch recipes/aml_alert.py``) and by
anyone's ``transformers.Trainer(compute_metrics=...)``::

    from finrisk_nlp.evaluation.metric_modules import load_metric
    pr_auc = load_metric("pr_auc")          # == evaluate.load(str(metric_path("pr_auc")))
    pr_auc.compute(prediction_scores=probs, references=labels)   # {"pr_auc": ..., "pr_auc_per_class": [...]}

Every module takes ``prediction_scores`` (``(n, num_labels)`` probabilities) and ``references`` (class ids, or
0/1 rows with ``multi_label=True``); ``positive_index`` names the risk class of a two-column (binary) input.
The numbers come from :mod:`finrisk_nlp.evaluation.risk_measures`, so the modules and the bootstrap agree.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import datasets
import numpy as np

from finrisk_nlp.tasks import Task

METRIC_NAMES: tuple[str, ...] = ("pr_auc", "recall_at_precision", "classwise_ece", "brier_score", "expected_cost")
INPUTS_DESCRIPTION = """
Args:
    prediction_scores: (n, num_labels) probabilities (softmax rows, or sigmoids with multi_label=True).
    references: (n,) class ids, or (n, num_labels) 0/1 rows with multi_label=True.
    multi_label: the columns are independent labels rather than one distribution.
    positive_index: the risk class of a two-column single-label input (default 1).
"""


def metric_path(name: str) -> Path:
    """The directory of a shipped metric module, for ``evaluate.load(str(path))``."""
    if name not in METRIC_NAMES:
        raise ValueError(f"unknown finrisk metric {name!r}; shipped metrics are {list(METRIC_NAMES)}")
    return Path(__file__).parent / name


@functools.cache
def load_metric(name: str) -> Any:
    """``evaluate.load`` of a shipped metric by path (no Hub access), kept in memory and cached per process."""
    import evaluate

    return evaluate.load(str(metric_path(name)), keep_in_memory=True)


def features() -> list[datasets.Features]:
    """Single-label (class id) and multi-label (0/1 row) input formats; ``evaluate`` picks the one that fits."""
    scores = datasets.Sequence(datasets.Value("float64"))
    return [datasets.Features({"prediction_scores": scores, "references": datasets.Value("int64")}),
            datasets.Features({"prediction_scores": scores, "references": datasets.Sequence(datasets.Value("int64"))})]


def as_task(prediction_scores: Any, multi_label: bool, positive_index: int | None) -> tuple[np.ndarray, Task]:
    """The probabilities as an array and a throwaway :class:`Task` of the same shape."""
    probs = np.asarray(prediction_scores, dtype=np.float64)
    if probs.ndim != 2:
        raise ValueError(f"prediction_scores must be (n, num_labels) probabilities; got shape {probs.shape}")
    names = tuple(str(i) for i in range(probs.shape[1]))
    positive = None if multi_label or len(names) != 2 else names[1 if positive_index is None else positive_index]
    return probs, Task("metric", "text", "label", labels=names, multi_label=multi_label, positive_label=positive)


def none_if_nan(values: Any) -> Any:
    """JSON-friendly: NaN (undefined, e.g. a class without examples) becomes None."""
    if np.ndim(values) == 0:
        return None if np.isnan(values) else float(values)
    return [none_if_nan(v) for v in values]
