import numpy as np
import pytest

from finrisk_nlp.evaluation.metrics import compute_metrics, format_summary, majority_baseline, operating_point_metrics
from finrisk_nlp.tasks import get_task

CREDIT = get_task("credit_text")  # labels (repaid, default); default is the positive class


def test_binary_metrics_by_hand():
    p_default = np.array([0.9, 0.8, 0.4, 0.3, 0.2, 0.1])
    probs = np.stack([1 - p_default, p_default], axis=1)
    labels = np.array([1, 0, 1, 0, 0, 0])
    m = compute_metrics(probs, labels, CREDIT)
    # predictions: default, default, repaid, repaid, repaid, repaid
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["per_class"]["default"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    assert m["per_class"]["repaid"]["recall"] == pytest.approx(3 / 4)
    assert m["macro_f1"] == pytest.approx((0.5 + 0.75) / 2)
    assert m["confusion_matrix"] == [[3, 1], [1, 1]]
    # positives ranked 1st and 3rd of 6: 7 of 8 (pos, neg) pairs ordered correctly
    assert m["roc_auc"] == pytest.approx(7 / 8)
    assert m["pr_auc"] == pytest.approx((1 / 1 + 2 / 3) / 2)
    assert m["num_examples"] == 6


def test_multiclass_and_missing_class():
    task = get_task("transaction_memo")
    probs = np.eye(8)[[0, 1, 1, 2]]
    m = compute_metrics(probs, np.array([0, 1, 2, 2]), task)
    assert m["accuracy"] == pytest.approx(0.75)
    assert m["per_class"]["gambling"]["support"] == 0  # absent classes stay in the report, by name
    assert m["roc_auc"] is None or 0 <= m["roc_auc"] <= 1


def test_multilabel_metrics():
    task = get_task("aml_typology")
    targets = np.array([[1, 0, 0, 0], [0, 1, 1, 0], [0, 0, 0, 1], [1, 0, 0, 1]])
    probs = np.where(targets == 1, 0.8, 0.1)
    probs[3, 3] = 0.2  # one missed label
    m = compute_metrics(probs, targets, task)
    assert m["accuracy"] == pytest.approx(3 / 4)
    assert m["per_class"]["sanctions"]["recall"] == pytest.approx(0.5)
    assert m["per_class"]["structuring"]["f1"] == pytest.approx(1.0)


def test_majority_baseline():
    labels = np.array([0, 0, 0, 1])
    # always "repaid": F1 of repaid = 2 * 0.75 * 1 / 1.75, F1 of default = 0
    assert majority_baseline(labels, CREDIT) == {"accuracy": 0.75, "macro_f1": pytest.approx((1.5 / 1.75) / 2)}


def test_summary_line_reports_recall_and_precision_at_the_stored_threshold():
    task = get_task("credit_text")  # labels repaid, default; positive: default
    probs = np.array([[0.9, 0.1], [0.6, 0.4], [0.7, 0.3], [0.2, 0.8]])
    labels = np.array([0, 1, 0, 1])
    threshold = {"target": "f1", "by_label": {"default": {"value": 0.35}}}
    metrics = compute_metrics(probs, labels, task)
    metrics["operating_point"] = operating_point_metrics(probs, labels, task, threshold)
    first, second = format_summary(metrics, "test").splitlines()
    assert first.startswith("test (4 examples): accuracy") and "pr_auc" in first
    # 0.4 and 0.8 are flagged (both defaults), 0.3 is not: recall 1, precision 1.
    assert second == "test at threshold 0.350 for default (f1): recall 1.000 | precision 1.000 | f1 1.000 | flagged 2"
    metrics["operating_point"] = operating_point_metrics(probs, labels, task, {"target": "f1",
                                                                              "by_label": {"default": {"value": 0.25}}})
    assert "recall 1.000 | precision 0.667" in format_summary(metrics, "test")
