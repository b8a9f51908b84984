"""metrics.json: one shape for a run of one task or three, and the reader of the shapes earlier releases wrote.

The files under ``tests/assets/metrics/`` were written by the release before this shape (a one-task run of the
credit recipe, and a three-task run), unchanged.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from runs import RUN_KEYS

from finrisk_nlp.evaluation.run_metrics import SELECTION, TASK_KEYS, read_metrics, run_metrics, task_view
from finrisk_nlp.tasks import get_task

OLD = Path(__file__).parent / "assets" / "metrics"
THREE = ["credit_text", "transaction_memo", "aml_alert"]


def _old(name: str) -> dict:
    return json.loads((OLD / name).read_text())


def _task_results(name: str, value: float, n: int) -> dict:
    task = get_task(name)
    return {"test": {"num_examples": n, task.primary_metric: value}, "primary_metric": task.primary_metric,
            "validation": {task.primary_metric: value + 0.1}, "pii_redactions": None}


@pytest.mark.parametrize("names", [THREE[:1], THREE], ids=["one task", "three tasks"])
def test_one_shape_for_one_task_and_three(names):
    per_task = {name: _task_results(name, 0.5 + i / 10, 10 * (i + 1)) for i, name in enumerate(names)}
    run = {key: 0 for key in RUN_KEYS - {"tasks", "primary_metric", "validation", "test", "best_score"}}
    metrics = run_metrics(per_task, {name: get_task(name) for name in names}, 0.7, **run)
    assert set(metrics) == RUN_KEYS and metrics["tasks"] == per_task and metrics["primary_metric"] == SELECTION
    assert metrics["validation"] == {SELECTION: 0.7}
    assert metrics["test"][SELECTION] == pytest.approx(0.5 + (len(names) - 1) / 20)  # the mean of 0.5, 0.6, 0.7
    assert metrics["test"]["num_examples"] == sum(10 * (i + 1) for i in range(len(names)))
    assert read_metrics(metrics) == metrics  # this release's files are read as they are
    view = task_view(metrics, names[-1])
    assert view["primary_metric"] == get_task(names[-1]).primary_metric and view["world_size"] == 0


def test_an_undefined_primary_metric_is_left_out_of_the_mean():
    per_task = {"credit_text": _task_results("credit_text", float("nan"), 4),
                "aml_alert": _task_results("aml_alert", 0.4, 4)}
    metrics = run_metrics(per_task, {name: get_task(name) for name in per_task}, None)
    assert metrics["test"][SELECTION] == 0.4 and metrics["validation"] == {SELECTION: None}


def test_a_previous_release_one_task_file_reads_in_the_one_shape():
    raw = _old("one_task_previous_release.json")
    assert "tasks" not in raw  # its task's metrics sat at the top level
    metrics = read_metrics(raw, "credit_text")
    assert list(metrics["tasks"]) == ["credit_text"]
    entry = metrics["tasks"]["credit_text"]
    assert {key: entry[key] for key in TASK_KEYS if key in raw} == {key: raw[key] for key in TASK_KEYS if key in raw}
    assert entry["explanations"] and entry["pii_redactions"] == raw["pii_redactions"]
    assert metrics["primary_metric"] == SELECTION and metrics["validation"] == {SELECTION: raw["best_score"]}
    assert metrics["test"] == {SELECTION: raw["test"]["pr_auc"], "num_examples": raw["test"]["num_examples"]}
    assert set(metrics) == RUN_KEYS - {"strategy"}  # the old file does not say (a one-task run is hard sharing)
    view = task_view(metrics)
    assert {key: view[key] for key in raw} == raw  # a one-task reader sees what the old file held


def test_a_previous_release_three_task_file_is_already_the_one_shape():
    raw = _old("three_tasks_previous_release.json")
    metrics = read_metrics(raw)
    assert metrics == raw and list(metrics["tasks"]) == THREE
    assert set(metrics) == RUN_KEYS
    with pytest.raises(KeyError, match="name one of them"):
        task_view(metrics)
    assert read_metrics({}) == {}
