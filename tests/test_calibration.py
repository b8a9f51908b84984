import json
import re

import numpy as np
import pytest

from finrisk_nlp.config import load_config
from finrisk_nlp.errors import ConfigError
from finrisk_nlp.evaluation.calibration import (
    Calibration,
    calibration_methods,
    fit_calibration,
    logits_to_probs,
    negative_log_likelihood,
)
from finrisk_nlp.evaluation.metrics import compute_metrics, expected_calibration_error
from finrisk_nlp.tasks import get_task

AML = get_task("aml_alert")  # close, escalate (positive)
TYPOLOGY = get_task("aml_typology")
MEMO = get_task("transaction_memo")
CLASS_WEIGHT = 4.0


def _weighted_binary(n, seed):
    """A risk class at ~19% whose model logits carry log(4): what class weight 4 on the risk class does."""
    rng = np.random.default_rng(seed)
    z = rng.normal(-2.0, 1.5, n)
    labels = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
    logits = np.stack([np.zeros(n), z + np.log(CLASS_WEIGHT)], axis=1)
    return logits, labels


def _overconfident(task, n=3000, scale=5.0, seed=0):
    """Logits whose probabilities are right, then scaled up: the model is too sure of itself."""
    rng = np.random.default_rng(seed)
    k = len(task.labels)
    true_logits = rng.normal(0, 1.0, size=(n, k))
    if task.multi_label:
        labels = (rng.random((n, k)) < 1 / (1 + np.exp(-true_logits))).astype(np.float32)
    else:
        p = np.exp(true_logits) / np.exp(true_logits).sum(1, keepdims=True)
        labels = (rng.random((n, 1)) > p.cumsum(1)).sum(1)
    return scale * true_logits, labels


def test_class_weighted_prior_shift_is_undone_by_auto_but_not_by_temperature():
    val_logits, val_labels = _weighted_binary(2000, seed=0)
    test_logits, test_labels = _weighted_binary(4000, seed=1)
    base_rate = test_labels.mean()
    assert 0.16 < base_rate < 0.22
    raw = logits_to_probs(test_logits, False)[:, AML.positive_index].mean()
    temperature, _ = fit_calibration(val_logits, val_labels, AML, method="temperature")
    auto, report = fit_calibration(val_logits, val_labels, AML, method="auto")
    assert abs(raw - base_rate) > 0.1
    assert abs(temperature.apply(test_logits)[:, 1].mean() - base_rate) > 0.02  # one scale cannot move the mean
    assert abs(auto.apply(test_logits)[:, 1].mean() - base_rate) < 0.02
    assert report["method"] in ("platt", "isotonic") and report["requested"] == "auto"
    assert report["cv_nll"][report["method"]] < report["cv_nll"]["temperature"] < report["cv_nll"]["none"] + 1e-3
    assert report["after"]["nll"] < report["before"]["nll"]
    assert report["after"]["mean_risk_probability"] == pytest.approx(val_labels.mean(), abs=0.01)
    platt, _ = fit_calibration(val_logits, val_labels, AML, method="platt")
    assert platt.params["b"] == pytest.approx(-np.log(CLASS_WEIGHT), abs=0.25)  # the shift put in is found again


@pytest.mark.parametrize("task", [AML, MEMO, TYPOLOGY], ids=lambda t: t.name)
def test_temperature_scaling_lowers_ece_of_an_overconfident_model(task):
    logits, labels = _overconfident(task)
    cal, report = fit_calibration(logits, labels, task, method="temperature")
    before = expected_calibration_error(logits_to_probs(logits, task.multi_label), labels, task)
    after = expected_calibration_error(cal.apply(logits), labels, task)
    assert 3.5 < cal.params["temperature"] < 7.0
    assert after < before / 2 and report["after"]["ece"] == pytest.approx(after)
    if task.multi_label or task.is_binary:  # one scale keeps every column's ranking: PR-AUC unchanged
        raw = compute_metrics(logits_to_probs(logits, task.multi_label), labels, task)["pr_auc"]
        assert compute_metrics(cal.apply(logits), labels, task)["pr_auc"] == pytest.approx(raw)


def test_vector_scaling_fixes_per_class_shifts_and_platt_is_per_label():
    rng = np.random.default_rng(3)
    logits, labels = _overconfident(MEMO, scale=1.0, seed=3)
    shift = rng.normal(0, 1.5, len(MEMO.labels))
    cal, _ = fit_calibration(logits + shift, labels, MEMO, method="vector")
    freq = np.bincount(labels, minlength=8) / len(labels)
    assert np.abs(cal.apply(logits + shift).mean(0) - freq).max() < 0.01
    assert np.abs(logits_to_probs(logits + shift, False).mean(0) - freq).max() > 0.05
    ml_logits, ml_labels = _overconfident(TYPOLOGY, scale=1.0, seed=4)
    ml_shift = np.array([2.0, -1.0, 0.0, 1.0])
    cal, _ = fit_calibration(ml_logits + ml_shift, ml_labels, TYPOLOGY, method="platt")
    assert np.asarray(cal.params["b"]) == pytest.approx(-ml_shift, abs=0.3)
    assert np.asarray(cal.params["a"]) == pytest.approx(np.ones(4), abs=0.2)


@pytest.mark.parametrize("task", [AML, MEMO, TYPOLOGY], ids=lambda t: t.name)
def test_isotonic_output_is_a_distribution_and_lowers_nll(task):
    logits, labels = _overconfident(task, n=1500, seed=5)
    cal, report = fit_calibration(logits, labels, task, method="isotonic")
    probs = cal.apply(logits)
    assert ((probs > 0) & (probs < 1)).all()
    if not task.multi_label:
        assert probs.sum(1) == pytest.approx(np.ones(len(probs)))
    assert report["after"]["nll"] < report["before"]["nll"]


def test_auto_does_not_let_a_flexible_method_win_by_memorising_a_small_validation_set():
    rng = np.random.default_rng(7)
    logits = np.stack([np.zeros(80), rng.normal(0, 1, 80)], axis=1)  # already calibrated: sigmoid of the diff
    labels = (rng.random(80) < 1 / (1 + np.exp(-logits[:, 1]))).astype(int)
    iso, iso_report = fit_calibration(logits, labels, AML, method="isotonic")
    cal, report = fit_calibration(logits, labels, AML, method="auto")
    assert iso_report["after"]["nll"] < iso_report["before"]["nll"]  # in-sample, isotonic looks better
    assert report["cv_nll"]["isotonic"] > report["cv_nll"]["none"]  # held out, it is not
    assert report["method"] != "isotonic"
    assert report["cv_nll"][report["method"]] <= report["cv_nll"]["none"]


def test_auto_keeps_none_when_nothing_beats_it_held_out():
    logits = np.array([[0.0, 1.0], [0.0, -1.0], [0.0, 0.5], [0.0, -0.5], [0.0, 2.0], [0.0, -2.0]])
    cal, report = fit_calibration(logits, np.array([1, 0, 0, 1, 1, 0]), AML)
    assert report["folds"] == 3 and set(report["cv_nll"]) == {"none", "temperature", "platt", "isotonic"}
    if cal.method != "none":
        assert report["cv_nll"][cal.method] < report["cv_nll"]["none"]
    cal, report = fit_calibration(logits[:2], np.array([1, 0]), AML)  # one per class: no folds possible
    assert cal.method == "none" and report["folds"] == 0


@pytest.mark.parametrize("method", ["temperature", "platt", "isotonic", "none"])
def test_calibration_survives_json(method):
    logits, labels = _weighted_binary(500, seed=2)
    cal, _ = fit_calibration(logits, labels, AML, method=method)
    again = Calibration.from_dict(json.loads(json.dumps(cal.to_dict())))
    assert again.apply(logits) == pytest.approx(cal.apply(logits))
    legacy = Calibration.from_dict({"method": "temperature_scaling", "temperature": 2.0}, AML)
    assert legacy.apply(logits) == pytest.approx(logits_to_probs(logits / 2.0, False))


def test_methods_that_do_not_fit_the_task_are_config_errors():
    assert calibration_methods(MEMO) == ("none", "temperature", "vector", "isotonic")
    with pytest.raises(ConfigError, match=re.escape("calibration.method: 'platt' does not apply to task "
                                                    "'transaction_memo' (multiclass); expected auto or one of")):
        fit_calibration(np.zeros((4, 8)), np.arange(4), MEMO, method="platt")
    with pytest.raises(ConfigError, match=re.escape("calibration.method: vector is for multi-class tasks, not "
                                                    "['credit_text']; use auto, temperature or isotonic")):
        load_config(None, ["calibration.method=vector"])
    with pytest.raises(ConfigError, match=re.escape("calibration.method: expected one of ['auto', 'none'")):
        load_config(None, ["calibration.method=beta"])
    assert load_config(None, ["task=transaction_memo", "calibration.method=vector"]).calibration.method == "vector"


def test_nll_is_finite_for_confident_misses():
    assert np.isfinite(negative_log_likelihood(np.array([[1.0, 0.0]]), np.array([1]), False))
