import re
import time

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
    assert first.startswith("test (4 examples): accuracy (argmax)") and "macro_f1 (argmax)" in first
    assert "pr_auc" in first
    # 0.4 and 0.8 are flagged (both defaults), 0.3 is not: recall 1, precision 1.
    assert second == "test at threshold 0.350 for default (f1): recall 1.000 | precision 1.000 | f1 1.000 | flagged 2"
    metrics["operating_point"] = operating_point_metrics(probs, labels, task, {"target": "f1",
                                                                              "by_label": {"default": {"value": 0.25}}})
    assert "recall 1.000 | precision 0.667" in format_summary(metrics, "test")



def test_a_threshold_that_sends_every_document_to_review_reports_no_decision_metrics():
    task = get_task("credit_text")
    probs = np.array([[0.6, 0.4], [0.55, 0.45], [0.45, 0.55]])
    labels = np.array([0, 1, 1])
    # Every risk probability lies within the review band of the threshold, so nothing is decided.
    threshold = {"target": "f1", "by_label": {"default": {"value": 0.5}}, "review_band": 0.2}
    metrics = compute_metrics(probs, labels, task)
    op = metrics["operating_point"] = operating_point_metrics(probs, labels, task, threshold)
    assert op["coverage"] == 0.0 and op["reviewed"] == 3
    assert op["precision"] is op["recall"] is op["f1"] is op["decided_error_rate"] is None
    assert format_summary(metrics, "test").splitlines()[1].endswith("every example was sent to review")

def _noisy_binary(n, seed, signal=1.0):
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < 0.25).astype(int)
    p = 1 / (1 + np.exp(-(signal * (2 * labels - 1) + rng.normal(0, 1, n))))
    return np.stack([1 - p, p], axis=1), labels


def test_ece_per_class_and_brier_by_hand():
    probs = np.array([[0.8, 0.2], [0.8, 0.2], [0.4, 0.6], [0.4, 0.6]])
    labels = np.array([0, 1, 1, 1])
    m = compute_metrics(probs, labels, CREDIT)
    # risk probability 0.2 -> observed 1/2, 0.6 -> observed 1: gaps 0.3 and 0.4, two documents each
    assert m["ece_positive"] == pytest.approx(0.35)
    assert m["ece_per_class"] == {"repaid": pytest.approx(0.35), "default": pytest.approx(0.35)}
    assert m["brier"] == pytest.approx((0.2**2 + 0.8**2 + 0.4**2 + 0.4**2) / 4)
    memo = get_task("transaction_memo")
    onehot_probs = np.eye(8)[[0, 1, 1]]
    assert compute_metrics(onehot_probs, np.array([0, 1, 2]), memo)["brier"] == pytest.approx(2 / 3)


def test_metric_modules_load_offline_by_path_and_match_scikit_learn():
    import evaluate
    from sklearn.metrics import average_precision_score

    from finrisk_nlp.evaluation.metric_modules import load_metric, metric_path

    probs, labels = _noisy_binary(300, seed=0)
    pr_auc = evaluate.load(str(metric_path("pr_auc")))
    assert pr_auc.compute(prediction_scores=probs, references=labels)["pr_auc"] == pytest.approx(
        average_precision_score(labels, probs[:, 1]))
    assert load_metric("pr_auc") is load_metric("pr_auc")  # loaded once per process
    found = load_metric("recall_at_precision").compute(prediction_scores=probs, references=labels,
                                                       min_precision=0.8)
    flagged = probs[:, 1] >= found["threshold"]
    assert (labels[flagged] == 1).mean() >= 0.8
    assert found["recall_at_precision"] == pytest.approx(flagged[labels == 1].mean())
    cost = load_metric("expected_cost").compute(prediction_scores=probs, references=labels, threshold=0.5,
                                                cost_fn=20, cost_fp=1)
    assert cost["expected_cost"] == pytest.approx((20 * (~flagged_at(probs, 0.5) & (labels == 1))
                                                   + (flagged_at(probs, 0.5) & (labels == 0))).mean())
    with pytest.raises(ValueError, match=re.escape("unknown finrisk metric 'f2'; shipped metrics are")):
        metric_path("f2")


def flagged_at(probs, t):
    return probs[:, 1] >= t


def test_bootstrap_intervals_cover_the_estimate_and_are_fast():
    from finrisk_nlp.evaluation.bootstrap import bootstrap_intervals, metric_samples

    probs, labels = _noisy_binary(400, seed=1)
    threshold = {"target": "f1", "by_label": {"default": {"value": 0.4}}}
    start = time.perf_counter()
    intervals = bootstrap_intervals(probs, labels, CREDIT, threshold, n_resamples=1000)
    assert time.perf_counter() - start < 2.0
    m = compute_metrics(probs, labels, CREDIT)
    m["recall"] = operating_point_metrics(probs, labels, CREDIT, threshold)["recall"]
    for key in ("macro_f1", "pr_auc", "roc_auc", "recall"):
        low, high = intervals[key]
        assert low < m[key] < high and high - low < 0.3
    # the weighted metrics equal scikit-learn's on an explicit resample
    rng = np.random.default_rng(5)
    idx = rng.integers(0, 400, 400)
    weights = np.bincount(idx, minlength=400)[None, :]
    for key in ("macro_f1", "pr_auc", "roc_auc"):
        assert metric_samples(probs, labels, CREDIT, key, weights)[0] == pytest.approx(
            compute_metrics(probs[idx], labels[idx], CREDIT)[key])
    wider = bootstrap_intervals(probs[:100], labels[:100], CREDIT, n_resamples=1000)
    assert wider["pr_auc"][1] - wider["pr_auc"][0] > intervals["pr_auc"][1] - intervals["pr_auc"][0]


def test_paired_bootstrap_tells_a_better_model_from_noise():
    from finrisk_nlp.evaluation.bootstrap import paired_bootstrap

    rng = np.random.default_rng(2)
    labels = (rng.random(400) < 0.25).astype(int)
    noise = rng.normal(0, 1, 400)

    def model(signal, jitter):
        p = 1 / (1 + np.exp(-(signal * (2 * labels - 1) + noise + jitter)))
        return np.stack([1 - p, p], axis=1)

    strong, weak = model(1.5, 0), model(0.5, 0)
    better = paired_bootstrap(strong, weak, labels, CREDIT, "pr_auc")
    assert better["diff"] > 0 and better["low"] > 0 and better["p_value"] < 0.01
    same = paired_bootstrap(model(1.0, rng.normal(0, 0.05, 400)), model(1.0, 0), labels, CREDIT, "roc_auc")
    assert same["low"] < 0 < same["high"] and same["p_value"] > 0.05
    with pytest.raises(ValueError, match=re.escape("paired bootstrap needs both models' probabilities")):
        paired_bootstrap(strong[:10], weak, labels, CREDIT)
