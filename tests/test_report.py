import numpy as np
import pytest

from finrisk_nlp.evaluation.bootstrap import bootstrap_intervals
from finrisk_nlp.evaluation.calibration import fit_calibration
from finrisk_nlp.evaluation.metrics import compute_metrics, operating_point_metrics, risk_reliability_bins
from finrisk_nlp.evaluation.report import ReportInputs, write_report
from finrisk_nlp.tasks import get_task

AML = get_task("aml_alert")


def test_report_shows_chosen_calibration_intervals_and_abstention(tmp_path):
    rng = np.random.default_rng(0)
    z = rng.normal(-1.5, 1.5, 600)
    labels = (rng.random(600) < 1 / (1 + np.exp(-z))).astype(int)
    logits = np.stack([np.zeros(600), z + np.log(4)], axis=1)
    cal, cal_report = fit_calibration(logits[:300], labels[:300], AML)
    probs = cal.apply(logits[300:])
    threshold = {"target": "f1", "by_label": {"escalate": {"value": 0.3, "precision": 0.5, "recall": 0.5,
                                                           "target_met": True}}, "review_band": 0.05}
    test = compute_metrics(probs, labels[300:], AML)
    test["operating_point"] = operating_point_metrics(probs, labels[300:], AML, threshold)
    test["intervals"] = bootstrap_intervals(probs, labels[300:], AML, threshold, n_resamples=200)
    raw = np.stack([1 - 1 / (1 + np.exp(-logits[300:, 1])), 1 / (1 + np.exp(-logits[300:, 1]))], axis=1)
    inputs = ReportInputs(task=AML, labels=labels[300:], probs_raw=raw, probs=probs, threshold=threshold)
    text = write_report(tmp_path, {"test": test, "threshold": threshold, "calibration": cal_report},
                        inputs).read_text()
    assert f"Method `{cal.method}` (chosen by `auto`)" in text
    assert "| none |" in text and "| mean_risk_probability |" in text
    low, high = test["intervals"]["pr_auc"]
    assert f"| pr_auc | {test['pr_auc']:.3f} | {low:.3f} to {high:.3f} |" in text
    assert f"{test['operating_point']['reviewed']} sent to review" in text
    assert (tmp_path / "report" / "reliability.png").is_file()
    # the diagram is of P(escalate): observed frequency of escalate in each bin, not top-label accuracy
    bins = risk_reliability_bins(probs, labels[300:], AML)
    first = probs[:, 1] <= 1 / 15
    assert bins["frequency"][0] == (labels[300:][first] == 1).mean()


def _shifted_binary(n, seed, shift):
    """Logits of a calibrated model plus a constant shift (what class weights do): calibration should undo it."""
    rng = np.random.default_rng(seed)
    z = rng.normal(-1.5, 1.5, n)
    labels = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
    return np.stack([np.zeros(n), z + shift], axis=1), labels


def test_calibration_is_reported_raw_beside_calibrated_on_validation_out_of_fold_and_on_test(tmp_path):
    from finrisk_nlp.evaluation.calibration import cross_validated_probs
    from finrisk_nlp.evaluation.calibration_check import compare_calibration

    val_logits, val_labels = _shifted_binary(400, 0, np.log(4))
    test_logits, test_labels = _shifted_binary(400, 1, np.log(4))
    cal, report = fit_calibration(val_logits, val_labels, AML, method="isotonic")
    held_out = cross_validated_probs("isotonic", val_logits, val_labels, AML)
    # out of fold is not in-sample: isotonic memorises its own fitting rows, so in-sample ECE flatters
    assert report["after_cross_validated"]["ece"] > report["after"]["ece"]
    raw_val = cross_validated_probs("none", val_logits, val_labels, AML)
    test_raw, test_cal = cross_validated_probs("none", test_logits, test_labels, AML), cal.apply(test_logits)
    report["comparison"] = {"validation": compare_calibration(raw_val, held_out, val_labels, AML, n_resamples=300),
                            "test": compare_calibration(test_raw, test_cal, test_labels, AML, n_resamples=300)}
    change = report["comparison"]["test"]["change"]
    assert change["nll"]["verdict"] == "improved" and change["nll"]["high"] < 0  # the shift is undone
    # the same probabilities on both sides: a change of exactly nothing, said as such
    same = compare_calibration(test_raw, test_raw, test_labels, AML, n_resamples=100)["change"]
    assert all(row["verdict"] == "no measurable change" and row["estimate"] == 0 for row in same.values())
    # a small, noisy change: its interval holds 0 and the report must not call it an improvement
    jitter = np.clip(test_raw + np.random.default_rng(2).normal(0, 0.01, test_raw.shape), 1e-6, 1)
    jitter /= jitter.sum(1, keepdims=True)
    small = compare_calibration(test_raw, jitter, test_labels, AML, n_resamples=300)["change"]["ece"]
    assert small["low"] <= 0 <= small["high"] and small["verdict"] == "no measurable change"

    threshold = {"target": "f1", "by_label": {"escalate": {"value": 0.3, "precision": 0.5, "recall": 0.5,
                                                           "target_met": True}}}
    test = compute_metrics(test_cal, test_labels, AML)
    test["operating_point"] = operating_point_metrics(test_cal, test_labels, AML, threshold)
    results = {"test": test, "test_raw": compute_metrics(test_raw, test_labels, AML), "threshold": threshold,
               "calibration": report, "validation": compute_metrics(raw_val, val_labels, AML),
               "splits": {"kind": "time+group", "time_column": "day", "group_column": "customer",
                          "rows": {"train": 300, "validation": 40, "test": 41}, "out_of_time": True,
                          "periods": {"train": {"min": "2023-01-01", "max": "2023-09-30"}},
                          "groups": {"spanning_groups": 7, "rows_dropped": 19, "rule": "early rows dropped"},
                          "dedup": {"mode": "drop", "test": {"dropped": 3, "near_duplicates": 5}}}}
    inputs = ReportInputs(task=AML, labels=test_labels, probs_raw=test_raw, probs=test_cal, threshold=threshold)
    text = write_report(tmp_path, results, inputs).read_text()
    for side, metrics in (("raw", results["test_raw"]), ("calibrated", test)):  # the same ECE and Brier as metrics
        got = report["comparison"]["test"][side]
        assert got["ece"] == pytest.approx(metrics["ece"]) and got["brier"] == pytest.approx(metrics["brier"])
    assert "| metric | validation (raw, best epoch) | test (raw) | test (calibrated) |" in text
    assert f"| macro_f1 (argmax) | {results['validation']['macro_f1']:.3f} | {results['test_raw']['macro_f1']:.3f} | " \
           f"{test['macro_f1']:.3f} |" in text
    row = next(line for line in text.splitlines() if line.startswith("| nll |"))
    val_nll = report["comparison"]["validation"]
    assert f"| {val_nll['raw']['nll']:.3f} | {val_nll['calibrated']['nll']:.3f} |" in row and "improved" in row
    assert "validation calibrated (cross-validated)" in text and "macro_f1_at_argmax" in text
    # the data splits, with every row left out and why
    assert "| train | 300 | 2023-01-01 | 2023-09-30 |" in text and "starts after train ends" in text
    assert "Rows dropped: 19 rows of 7 group(s) that span a time cut (early rows dropped)." in text
    assert "Repeated texts dropped (`data.dedup=drop`): test 3." in text and "Near-duplicates kept" in text

