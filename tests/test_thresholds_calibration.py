import re

import numpy as np
import pytest

from finrisk_nlp.config import load_config
from finrisk_nlp.errors import ConfigError
from finrisk_nlp.evaluation.metrics import operating_point_metrics
from finrisk_nlp.evaluation.thresholds import ThresholdTarget, decide, parse_target, tune_threshold, tune_thresholds
from finrisk_nlp.tasks import get_task

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


def _calibrated_binary(n, seed):
    rng = np.random.default_rng(seed)
    p = 1 / (1 + np.exp(-rng.normal(-2.0, 1.5, n)))
    labels = (rng.random(n) < p).astype(int)
    return np.stack([1 - p, p], axis=1), labels


def test_min_cost_threshold_is_near_the_bayes_threshold_and_beats_f1_on_cost():
    target = parse_target("min_cost", {"fn": 20, "fp": 1})
    val_probs, val_labels = _calibrated_binary(4000, seed=0)
    stored = tune_thresholds(val_probs, val_labels, AML, target)
    row = stored["by_label"]["escalate"]
    assert stored["target"] == "min_cost" and row["costs"] == {"fn": 20.0, "fp": 1.0}
    assert row["value"] == pytest.approx(1 / 21, abs=0.02)  # calibrated probabilities: flag when p >= fp/(fp+fn)
    test_probs, test_labels = _calibrated_binary(4000, seed=1)
    op = operating_point_metrics(test_probs, test_labels, AML, stored)
    f1_stored = tune_thresholds(val_probs, val_labels, AML, parse_target("f1"))
    f1_stored["by_label"]["escalate"]["costs"] = {"fn": 20.0, "fp": 1.0}
    assert op["expected_cost"] < operating_point_metrics(test_probs, test_labels, AML, f1_stored)["expected_cost"]
    # the cost reported on validation is the count of misses and false alerts at that threshold, by hand
    flagged = val_probs[:, 1] >= row["value"]
    by_hand = (20 * (flagged == 0) * (val_labels == 1) + (flagged == 1) * (val_labels == 0)).mean()
    assert row["cost"] == pytest.approx(by_hand)


@pytest.mark.parametrize(("overrides", "message"), [
    (["threshold.target=min_cost", "threshold.costs={fn: 20, fp: -1}"], "threshold.target: min_cost needs costs"),
    (["threshold.target=min_cost", "threshold.costs={fn: 20, tp: 1}"], "threshold.target: min_cost needs costs"),
    (["threshold.review_band=0.7"], "threshold.review_band must be in (0, 0.5) or null, got 0.7"),
    (["threshold.conformal_alpha=0"], "threshold.conformal_alpha must be in (0, 1) or null, got 0.0"),
    (["threshold.review_band=0.1", "threshold.conformal_alpha=0.1"], "are two abstention rules; set one"),
])
def test_bad_decision_settings_are_config_errors(overrides, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(None, overrides)


def test_risk_classes_of_a_multiclass_task_get_their_own_thresholds():
    rng = np.random.default_rng(0)
    n = 600
    labels = rng.integers(0, 8, n)
    probs = np.full((n, 8), 0.02)
    probs[np.arange(n), labels] = 0.5
    gambling = MEMO.labels.index("gambling")
    # gambling is under-predicted: its true cases get 0.3 while a grocery-like class gets 0.5
    rows = labels == gambling
    probs[rows, gambling], probs[rows, 0] = 0.3, 0.5
    probs /= probs.sum(1, keepdims=True)
    stored = tune_thresholds(probs, labels, MEMO, ThresholdTarget("f1"), risk_classes=["gambling", "crypto"])
    assert list(stored["by_label"]) == ["gambling", "crypto"] and stored["risk_classes"] == ["gambling", "crypto"]
    decisions = decide(probs, MEMO, stored)
    assert all(d == "gambling" for d in np.array(decisions)[rows])  # argmax would say groceries
    others = ~rows & (labels != MEMO.labels.index("crypto"))
    assert [d for d in np.array(decisions)[others]] == [MEMO.labels[k] for k in labels[others]]
    op = operating_point_metrics(probs, labels, MEMO, stored)
    assert op["per_label"]["gambling"]["recall"] == 1.0 and set(op["per_label"]) == {"gambling", "crypto"}
    with pytest.raises(ConfigError, match=re.escape("threshold.risk_classes: ['casino'] not among the labels")):
        tune_thresholds(probs, labels, MEMO, ThresholdTarget("f1"), risk_classes=["casino"])
    with pytest.raises(ConfigError, match=re.escape("threshold.risk_classes applies to multi-class tasks")):
        tune_thresholds(probs[:, :2], labels % 2, AML, ThresholdTarget("f1"), risk_classes=["escalate"])


def test_review_band_sends_documents_near_the_threshold_to_review():
    probs = np.array([[0.9, 0.1], [0.62, 0.38], [0.55, 0.45], [0.2, 0.8], [0.45, 0.55]])
    labels = np.array([0, 1, 0, 1, 1])
    stored = {"target": "f1", "by_label": {"escalate": {"value": 0.4}}, "review_band": 0.1}
    assert decide(probs, AML, stored) == ["close", "review", "review", "escalate", "escalate"]
    op = operating_point_metrics(probs, labels, AML, stored)
    assert op["coverage"] == pytest.approx(3 / 5) and op["reviewed"] == 2
    assert op["decided_error_rate"] == 0.0 and op["recall"] == 1.0 and op["flagged"] == 2
    ml = np.array([[0.9, 0.1, 0.1, 0.1], [0.55, 0.1, 0.1, 0.1]])
    ml_stored = {"target": "f1", "by_label": {n: {"value": 0.5} for n in TYPOLOGY.labels}, "review_band": 0.1}
    assert decide(ml, TYPOLOGY, ml_stored) == [["structuring"], "review"]


def test_split_conformal_abstention_controls_the_error_it_promises():
    rng = np.random.default_rng(1)

    def sample(n):
        logits = rng.normal(0, 1.5, (n, 8))
        p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
        return p, (rng.random((n, 1)) > p.cumsum(1)).sum(1)

    val_probs, val_labels = sample(2000)
    alpha = 0.2
    stored = tune_thresholds(val_probs, val_labels, MEMO, ThresholdTarget("f1"), conformal_alpha=alpha)
    test_probs, test_labels = sample(4000)
    quantile = stored["conformal"]["quantile"]
    in_set = test_probs >= 1 - quantile
    assert in_set[np.arange(4000), test_labels].mean() >= 1 - alpha - 0.02  # marginal coverage of the sets
    decisions = np.array(decide(test_probs, MEMO, stored), dtype=object)
    decided = decisions != "review"
    wrong = decided & (decisions != np.array([MEMO.labels[k] for k in test_labels], dtype=object))
    # what split-conformal guarantees: wrong automatic decisions are at most alpha of all documents
    assert wrong.mean() <= alpha + 0.02
    op = operating_point_metrics(test_probs, test_labels, MEMO, stored)
    assert op["coverage"] == pytest.approx(decided.mean()) and 0.05 < op["coverage"] < 1
    assert op["decided_error_rate"] == pytest.approx(wrong.sum() / decided.sum())
    assert op["decided_error_rate"] * op["coverage"] <= alpha + 0.02
    with pytest.raises(ConfigError, match=re.escape("threshold.conformal_alpha applies to single-label tasks")):
        tune_thresholds(np.full((4, 4), 0.5), np.eye(4), TYPOLOGY, ThresholdTarget("f1"), conformal_alpha=0.1)


def _cost_of_flags(flagged, positive, fn, fp):
    return (fn * (positive & ~flagged).sum() + fp * (flagged & ~positive).sum()) / len(positive)


def test_min_cost_flags_nothing_when_a_false_alert_costs_more_than_every_miss():
    # two documents: flagging the top one costs a false alert (2.0), flagging nothing one miss (0.2)
    result = tune_threshold(np.array([0.9, 0.4]), np.array([0, 1]), parse_target("min_cost", {"fn": 0.4, "fp": 4}))
    assert result["cost"] == pytest.approx(0.2) and result["value"] > 1.0 and result["recall"] == 0.0
    assert decide(np.array([[0.0, 1.0]]), AML, {"by_label": {"escalate": {"value": result["value"]}}}) == ["close"]


@pytest.mark.parametrize("seed", range(60))
def test_every_target_agrees_with_an_exhaustive_search_over_all_cut_points(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 40))
    scores = np.round(rng.random(n), 1)  # ties on purpose
    positive = rng.random(n) < rng.uniform(0.05, 0.8)
    positive[rng.integers(n)] = True
    ratio = 10 ** rng.uniform(-3, 3)  # fn:fp from 1:1000 to 1000:1
    cuts = np.r_[np.inf, np.unique(scores)]  # inf: flag nothing; the lowest score: flag everything

    def at(cut):
        flagged = scores >= cut
        tp = (flagged & positive).sum()
        precision = tp / flagged.sum() if flagged.any() else 0.0
        recall = tp / positive.sum()
        return flagged, precision, recall, 2 * tp / (flagged.sum() + positive.sum())

    costs = [_cost_of_flags(at(c)[0], positive, ratio, 1.0) for c in cuts]
    result = tune_threshold(scores, positive, parse_target("min_cost", {"fn": ratio, "fp": 1.0}))
    assert result["cost"] == pytest.approx(min(costs), abs=1e-12)
    assert _cost_of_flags(scores >= result["value"], positive, ratio, 1.0) == pytest.approx(min(costs), abs=1e-12)

    result = tune_threshold(scores, positive, parse_target("f1"))
    assert at(result["value"])[3] == pytest.approx(max(at(c)[3] for c in cuts))
    for kind, level in (("recall_at_precision", 0.6), ("precision_at_recall", 0.7)):
        result = tune_threshold(scores, positive, parse_target(f"{kind}={level}"))
        goal, other = (1, 2) if kind == "recall_at_precision" else (2, 1)
        feasible = [at(c) for c in cuts if at(c)[goal] >= level - 1e-12]
        assert result["target_met"] == bool(feasible)
        if feasible:
            assert at(result["value"])[other] == pytest.approx(max(f[other] for f in feasible))
            assert at(result["value"])[goal] >= level - 1e-12


def _decision_cost(decisions, labels, names, fn, fp):
    cost = 0.0
    for d, y in zip(decisions, labels, strict=True):
        truth = MEMO.labels[y]
        cost += fn * (truth in names and d != truth) + fp * (d in names and d != truth)
    return cost / len(labels)


@pytest.mark.parametrize("seed", range(12))
def test_multiclass_risk_thresholds_are_optimal_for_the_decisions_made(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(6, 14))
    logits = rng.normal(0, 1.5, (n, 8))
    probs = np.round(np.exp(logits) / np.exp(logits).sum(1, keepdims=True), 2)
    labels = rng.integers(0, 8, n)
    labels[:2] = [MEMO.labels.index("gambling"), MEMO.labels.index("crypto")]
    names = ["gambling", "crypto"]
    fn, fp = 10 ** rng.uniform(-1, 1), 1.0
    target = parse_target("min_cost", {"fn": fn, "fp": fp})
    stored = tune_thresholds(probs, labels, MEMO, target, risk_classes=names)
    assert stored["search"]["method"] == "exhaustive"
    reported = stored["cost"]
    # the cost stored is the cost of what decide() outputs with the stored thresholds
    assert reported == pytest.approx(_decision_cost(decide(probs, MEMO, stored), labels, names, fn, fp))
    assert operating_point_metrics(probs, labels, MEMO, stored)["expected_cost"] == pytest.approx(reported)
    # brute force over every pair of cut points, scored through decide() itself
    grids = [np.r_[2.0, np.unique(probs[:, MEMO.labels.index(c)])] for c in names]
    best = min(_decision_cost(decide(probs, MEMO, {"by_label": {"gambling": {"value": a}, "crypto": {"value": b}}}),
                              labels, names, fn, fp) for a in grids[0] for b in grids[1])
    assert reported == pytest.approx(best)
    # macro-F1 of the risk classes' decisions, brute-forced the same way
    f1_stored = tune_thresholds(probs, labels, MEMO, parse_target("f1"), risk_classes=names)

    def risk_f1(decisions):
        out = []
        for c in names:
            hit = np.array([d == c for d in decisions])
            truth = np.array([MEMO.labels[y] == c for y in labels])
            out.append(2 * (hit & truth).sum() / max(hit.sum() + truth.sum(), 1))
        return float(np.mean(out))

    best_f1 = max(risk_f1(decide(probs, MEMO, {"by_label": {"gambling": {"value": a}, "crypto": {"value": b}}}))
                  for a in grids[0] for b in grids[1])
    assert risk_f1(decide(probs, MEMO, f1_stored)) == pytest.approx(best_f1)
    assert np.mean([f1_stored["by_label"][c]["f1"] for c in names]) == pytest.approx(best_f1)


def test_large_multiclass_grids_use_coordinate_descent_and_never_lose_to_one_vs_rest():
    rng = np.random.default_rng(3)
    n = 400
    labels = rng.integers(0, 8, n)
    logits = rng.normal(0, 1, (n, 8))
    logits[np.arange(n), labels] += 1.2
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    names = ["gambling", "crypto", "p2p_transfer"]
    target = parse_target("min_cost", {"fn": 5, "fp": 1})
    stored = tune_thresholds(probs, labels, MEMO, target, risk_classes=names)
    assert stored["search"]["method"] == "coordinate descent"
    assert stored["cost"] == pytest.approx(_decision_cost(decide(probs, MEMO, stored), labels, names, 5, 1))
    one_vs_rest = {"by_label": {c: tune_threshold(probs[:, MEMO.labels.index(c)], labels == MEMO.labels.index(c),
                                                  target) for c in names}}
    assert stored["cost"] <= _decision_cost(decide(probs, MEMO, one_vs_rest), labels, names, 5, 1) + 1e-12


def test_conformal_quantile_on_out_of_fold_probabilities_keeps_its_coverage():
    from finrisk_nlp.evaluation.calibration import cross_validated_probs, fit_calibration

    rng = np.random.default_rng(0)

    def sample(n):
        logits = rng.normal(0, 1.5, (n, 8))
        p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
        return logits * 1.8, np.array([rng.choice(8, p=row) for row in p])  # an over-confident model

    coverage = {"in_sample": [], "out_of_fold": []}
    for r in range(12):
        val_logits, val_labels = sample(300)
        test_logits, test_labels = sample(2000)
        cal, _ = fit_calibration(val_logits, val_labels, MEMO, method="isotonic", seed=r)
        held_out = cross_validated_probs("isotonic", val_logits, val_labels, MEMO, seed=r)
        test_probs = cal.apply(test_logits)
        for kind, extra in (("in_sample", {}), ("out_of_fold", {"conformal_probs": held_out})):
            stored = tune_thresholds(cal.apply(val_logits), val_labels, MEMO, ThresholdTarget("f1"),
                                     conformal_alpha=0.1, **extra)
            assert stored["conformal"]["out_of_fold"] is (kind == "out_of_fold")
            in_set = test_probs >= 1 - stored["conformal"]["quantile"]
            coverage[kind].append(in_set[np.arange(len(test_labels)), test_labels].mean())
    # isotonic fitted on the same rows shrinks their scores: the promised 90% is not kept; out of fold it is
    assert np.mean(coverage["in_sample"]) < 0.87 and np.mean(coverage["out_of_fold"]) >= 0.89
