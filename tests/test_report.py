import numpy as np

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
