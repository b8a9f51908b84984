import re

import numpy as np
import pytest
import torch

from finrisk_nlp.config import load_config
from finrisk_nlp.data.windows import WindowScores, aggregate_windows
from finrisk_nlp.errors import ConfigError
from finrisk_nlp.evaluation.calibration import fit_temperature
from finrisk_nlp.evaluation.metrics import compute_metrics, expected_calibration_error, operating_point_metrics
from finrisk_nlp.evaluation.thresholds import ThresholdTarget, decide, parse_target, tune_threshold, tune_thresholds
from finrisk_nlp.tasks import Task, get_task

AML = get_task("aml_alert")  # close, escalate (positive)
TYPOLOGY = get_task("aml_typology")
MEMO = get_task("transaction_memo")

# Scores in descending order with their labels. Flagging score >= t gives, per threshold:
#   t:   0.9  0.8  0.7  0.6  0.4  0.3  0.2  0.1
#   P:   1    1    .67  .75  .6   .5   .57  .5
#   R:   .25  .5   .5   .75  .75  .75  1    1
#   F1:  .4   .67  .57  .75  .67  .6   .73  .67
SCORES = np.array([0.9, 0.8, 0.7, 0.6, 0.4, 0.3, 0.2, 0.1])
POSITIVE = np.array([1, 1, 0, 1, 0, 0, 1, 0])


@pytest.mark.parametrize(("target", "expected", "precision", "recall"), [
    ("f1", 0.6, 0.75, 0.75),
    ("recall_at_precision=0.9", 0.8, 1.0, 0.5),
    ("recall_at_precision=0.7", 0.6, 0.75, 0.75),
    ("precision_at_recall=0.95", 0.2, 4 / 7, 1.0),
    ("precision_at_recall=0.7", 0.6, 0.75, 0.75),
])
def test_threshold_meets_each_target_kind(target, expected, precision, recall):
    order = np.random.default_rng(0).permutation(len(SCORES))  # input order must not matter
    result = tune_threshold(SCORES[order], POSITIVE[order], parse_target(target))
    assert result["value"] == pytest.approx(expected)
    assert result["precision"] == pytest.approx(precision) and result["recall"] == pytest.approx(recall)
    assert result["target_met"] is True


def test_unreachable_target_is_reported_not_hidden():
    result = tune_threshold(np.array([0.9, 0.8, 0.7]), np.array([0, 1, 1]), parse_target("recall_at_precision=1.0"))
    assert result["target_met"] is False
    assert result["value"] == pytest.approx(0.7)  # the best precision there is (2/3)


def test_tied_scores_fall_on_the_same_side():
    result = tune_threshold(np.array([0.5, 0.5, 0.5, 0.1]), np.array([1, 0, 1, 0]), ThresholdTarget("f1"))
    assert result["value"] == 0.5 and result["precision"] == pytest.approx(2 / 3)


@pytest.mark.parametrize("bad", ["f2", "recall_at_precision", "recall_at_precision=1.5", "f1=0.3", "precision=0.9"])
def test_bad_targets_are_config_errors(bad):
    with pytest.raises(ConfigError, match=re.escape("threshold.target: expected f1, min_cost, recall_at_precision=P")):
        load_config(None, [f"threshold.target={bad}"])


def test_threshold_target_parses_from_the_command_line():
    assert parse_target(load_config(None, ["threshold.target=precision_at_recall=0.95"]).threshold.target) == \
        ThresholdTarget("precision_at_recall", 0.95)


def test_binary_and_multilabel_decisions_use_the_stored_thresholds():
    probs = np.array([[0.7, 0.3], [0.9, 0.1]])
    labels = np.array([1, 0])
    stored = tune_thresholds(probs, labels, AML, ThresholdTarget("f1"))
    assert list(stored["by_label"]) == ["escalate"] and stored["by_label"]["escalate"]["value"] == pytest.approx(0.3)
    assert decide(probs, AML, stored) == ["escalate", "close"]  # argmax would say close for both
    op = operating_point_metrics(probs, labels, AML, stored)
    assert op["recall"] == 1.0 and op["precision"] == 1.0 and op["flagged"] == 1

    ml_probs = np.array([[0.2, 0.6, 0.1, 0.05], [0.1, 0.2, 0.4, 0.9], [0.05, 0.1, 0.2, 0.02]])
    ml_labels = np.array([[1, 1, 0, 0], [0, 0, 1, 1], [0, 0, 0, 0]], dtype=float)
    stored = tune_thresholds(ml_probs, ml_labels, TYPOLOGY, ThresholdTarget("f1"))
    assert set(stored["by_label"]) == set(TYPOLOGY.labels)
    assert decide(ml_probs, TYPOLOGY, stored) == [["structuring", "layering"], ["trade_based", "sanctions"], []]
    assert operating_point_metrics(ml_probs, ml_labels, TYPOLOGY, stored)["recall"] == 1.0
    assert tune_thresholds(np.eye(8), np.arange(8), MEMO, ThresholdTarget("f1")) is None  # multi-class: argmax


def _overconfident(task, n=4000, scale=5.0, seed=0):
    """Logits whose probabilities are right, then scaled up: the model is too sure of itself."""
    rng = np.random.default_rng(seed)
    k = len(task.labels)
    true_logits = rng.normal(0, 1.0, size=(n, k))
    if task.multi_label:
        labels = (rng.random((n, k)) < 1 / (1 + np.exp(-true_logits))).astype(np.float32)
    else:
        p = np.exp(true_logits) / np.exp(true_logits).sum(1, keepdims=True)
        labels = np.array([rng.choice(k, p=row) for row in p])
    return WindowScores(logits=(scale * true_logits).astype(np.float32), doc_index=np.arange(n), labels=labels)


@pytest.mark.parametrize("task", [AML, MEMO, TYPOLOGY], ids=lambda t: t.name)
def test_temperature_scaling_lowers_ece_of_an_overconfident_model(task):
    scores = _overconfident(task)
    temperature = fit_temperature(scores, task)
    before = expected_calibration_error(scores.probs(task, "max"), scores.labels, task)
    after = expected_calibration_error(scores.probs(task, "max", temperature), scores.labels, task)
    assert 3.5 < temperature < 7.0  # the scale put in is found again
    assert after < before / 2
    # One temperature for all outputs does not reorder a binary or multi-label score column: PR-AUC is kept.
    if not task.multi_label and not task.is_binary:
        return
    raw = compute_metrics(scores.probs(task, "max"), scores.labels, task)["pr_auc"]
    assert compute_metrics(scores.probs(task, "max", temperature), scores.labels, task)["pr_auc"] == pytest.approx(raw)


def test_window_aggregation():
    probs = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    doc = torch.tensor([0, 0, 1])
    top = aggregate_windows(probs, doc, 2, "max", AML)
    assert top.flatten().tolist() == pytest.approx([0.2, 0.8, 0.6, 0.4])  # the risk-class maximum decides
    mean = aggregate_windows(probs, doc, 2, "mean", AML)
    assert mean.flatten().tolist() == pytest.approx([0.55, 0.45, 0.6, 0.4])
    three = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.5, 0.4]])
    out = aggregate_windows(three, torch.tensor([0, 0]), 1, "max", Task("x", "t", "l", labels=("a", "b", "c")))
    assert out[0].tolist() == pytest.approx([0.7 / 1.6, 0.5 / 1.6, 0.4 / 1.6])  # per-class maxima, renormalised
