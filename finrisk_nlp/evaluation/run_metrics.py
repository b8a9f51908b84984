"""A training run's final metrics (``RUN_DIR/metrics.json``): one shape for one task or many, and the reader of the
shapes earlier releases wrote.

    accelerate launch recipes/credit_text.py                # writes RUN_DIR/metrics.json
    finrisk registry push runs/credit_text --name credit    # the model card reads it

The shape, whatever the number of tasks::

    {"tasks": {name: {"test", "test_raw", "test_intervals", "majority_baseline", "threshold", "calibration",
                      "chunking", "splits", "fitted", "primary_metric", "validation", "pii_redactions",
                      "fairness" (with eval.slice_columns), "explanations" (with the explain extra)}},
     "primary_metric": "mean_primary",     # the best epoch's selection score: the mean of the tasks' primary metrics
     "validation": {"mean_primary": ...}, "test": {"mean_primary": ..., "num_examples": ...},
     "strategy", "best_epoch", "best_score", "parameters", "world_size", "optimizer_steps", "micro_batches",
     "train_seconds", "epochs", "epoch_curve", "stopped_by", "pii_redactions"}

With one task the mean is that task's primary metric. Releases before this one wrote a one-task run's metrics at
the top level (no ``tasks``); :func:`read_metrics` turns such a file into this shape.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from finrisk_nlp.tasks import Task

METRICS_FILE = "metrics.json"
SELECTION = "mean_primary"
# A task's entries; in an earlier release's one-task file they sat at the top level beside the run's.
TASK_KEYS = ("test", "test_raw", "test_intervals", "majority_baseline", "threshold", "calibration", "chunking",
             "splits", "fitted", "primary_metric", "validation", "fairness", "explanations")


def mean_primary(metrics: Mapping[str, Mapping[str, Any]], tasks: Mapping[str, Task]) -> float | None:
    """Mean of the tasks' primary metrics (tasks whose metric is undefined are left out; None when all are)."""
    values = [metrics[n].get(t.primary_metric) for n, t in tasks.items()]
    values = [v for v in values if v is not None and not math.isnan(v)]
    return float(np.mean(values)) if values else None


def run_metrics(per_task: dict[str, dict[str, Any]], tasks: Mapping[str, Task], best_score: float | None,
                **run: Any) -> dict[str, Any]:
    """``metrics.json`` of a run: every task's results (``per_task``), the selection score on validation
    (``best_score``) and on test, and the run's own facts (``run``: epochs, steps, parameters ...)."""
    test = {name: result["test"] for name, result in per_task.items()}
    return {"tasks": per_task, "primary_metric": SELECTION, "validation": {SELECTION: best_score},
            "test": {SELECTION: mean_primary(test, tasks),
                     "num_examples": sum(result["num_examples"] for result in test.values())},
            "best_score": best_score, **run}


def read_metrics(raw: Mapping[str, Any], task: str | None = None) -> dict[str, Any]:
    """``metrics.json`` of any release in the shape of this one ({} stays {}: no metrics known).

    Args:
        task: the task's name, for an earlier release's one-task file (which does not hold it); ``task`` in
            ``run_info.json`` or ``config.yaml``, or the model's only task.
    """
    if not raw or "tasks" in raw:
        return dict(raw)
    entry = {key: raw[key] for key in TASK_KEYS if key in raw}
    entry["pii_redactions"] = raw.get("pii_redactions")
    run = {key: value for key, value in raw.items() if key not in TASK_KEYS}
    test = entry.get("test") or {}
    return {"tasks": {task or "task": entry}, "primary_metric": SELECTION,
            "validation": {SELECTION: raw.get("best_score")},
            "test": {SELECTION: test.get(entry.get("primary_metric", "")), "num_examples": test.get("num_examples")},
            **run}


def task_view(metrics: Mapping[str, Any], task: str | None = None) -> dict[str, Any]:
    """One task's results with the run's facts beside them (what a one-task model card reads); ``task`` may be
    left out for a run of one task.

    Raises:
        KeyError: for an unknown task, or no task named in a run of several.
    """
    tasks = metrics["tasks"]
    if task is None:
        if len(tasks) != 1:
            raise KeyError(f"the run has tasks {list(tasks)}; name one of them")
        task = next(iter(tasks))
    run = {key: value for key, value in metrics.items() if key != "tasks"}
    return {**run, **tasks[task]}
