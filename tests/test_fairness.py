"""Slice metrics against values worked out by hand, and the markdown that reports them."""

from __future__ import annotations

import numpy as np
import pytest

from finrisk_nlp.errors import DataError
from finrisk_nlp.evaluation.fairness import render_fairness_markdown, slice_metrics, slice_values_of
from finrisk_nlp.evaluation.run_metrics import task_view
from finrisk_nlp.tasks import Task, get_task

CREDIT = get_task("credit_text")  # labels (repaid, default), positive label "default"
R, D = 0, 1
# Hand-made test table. north: TP, FN, FP, TN, TN.  south: TP, TP, TP, TN.
LABELS = [D, D, R, R, R, D, D, D, R]
PREDS = [D, R, D, R, R, D, D, D, R]
REGION = ["north"] * 5 + ["south"] * 4
CHANNEL = ["web", "web", "branch", None, "web", "branch", "branch", "web", "web"]


def test_binary_slices_match_hand_computation():
    result = slice_metrics(PREDS, LABELS, {"region": REGION}, CREDIT, min_slice_size=4)
    north, south = (result["columns"]["region"]["slices"][k] for k in ("north", "south"))
    assert north == {"support": 5, "positives": 2, "recall": 1 / 2, "precision": 1 / 2,
                     "false_positive_rate": 1 / 3, "judged": True}
    assert south == {"support": 4, "positives": 3, "recall": 1.0, "precision": 1.0,
                     "false_positive_rate": 0.0, "judged": True}
    # overall: TP 4, FN 1, FP 1, TN 3
    assert result["overall"] == {"support": 9, "positives": 5, "recall": 4 / 5, "precision": 4 / 5,
                                 "false_positive_rate": 1 / 4}
    gaps = result["columns"]["region"]["gaps"]
    assert gaps["recall"] == {"gap": pytest.approx(0.5), "highest": "south", "lowest": "north"}
    assert gaps["precision"] == {"gap": pytest.approx(0.5), "highest": "south", "lowest": "north"}
    assert gaps["false_positive_rate"] == {"gap": pytest.approx(1 / 3), "highest": "north", "lowest": "south"}
    assert result["warnings"] == []
    assert "'default'" in result["basis"]


def test_probabilities_give_the_same_result_as_predicted_ids():
    probs = np.eye(2)[PREDS] * 0.6 + 0.2  # argmax is the prediction
    assert slice_metrics(probs, LABELS, {"region": REGION}, CREDIT, 4) == slice_metrics(
        PREDS, LABELS, {"region": REGION}, CREDIT, 4
    )


def test_small_slices_warn_and_stay_out_of_the_gaps():
    result = slice_metrics(PREDS, LABELS, {"region": REGION}, CREDIT, min_slice_size=5)
    block = result["columns"]["region"]
    assert block["slices"]["south"]["judged"] is False and block["slices"]["north"]["judged"] is True
    assert all(gap is None for gap in block["gaps"].values())
    assert any("region=south: 4 test rows" in w for w in result["warnings"])
    assert any("column region: fewer than two slices" in w for w in result["warnings"])


def test_missing_values_form_their_own_slice_and_undefined_rates_are_none():
    result = slice_metrics(PREDS, LABELS, {"channel": CHANNEL}, CREDIT, min_slice_size=1)
    # The one row with no channel is a true negative: no positive, so recall and precision are undefined.
    missing = result["columns"]["channel"]["slices"]["(missing)"]
    assert missing == {"support": 1, "positives": 0, "recall": None, "precision": None,
                       "false_positive_rate": 0.0, "judged": True}
    # branch rows: FP, TP, TP -> recall 1, precision 2/3, FPR 1/1
    branch = result["columns"]["channel"]["slices"]["branch"]
    assert (branch["recall"], branch["precision"], branch["false_positive_rate"]) == (1.0, 2 / 3, 1.0)
    # A gap ignores slices where the metric is undefined.
    assert result["columns"]["channel"]["gaps"]["recall"]["lowest"] == "web"


def test_multiclass_is_macro_over_classes_one_vs_rest():
    task = Task(name="three", text_column="text", label_column="y", labels=("a", "b", "c"))
    result = slice_metrics([0, 1, 1, 1], [0, 0, 1, 2], {"all": ["x"] * 4}, task, min_slice_size=1)
    s = result["columns"]["all"]["slices"]["x"]
    # a: recall 1/2, precision 1, FPR 0;  b: recall 1, precision 1/3, FPR 2/3;  c: recall 0, precision undefined, FPR 0
    assert s["recall"] == pytest.approx(0.5)
    assert s["precision"] == pytest.approx((1 + 1 / 3) / 2)
    assert s["false_positive_rate"] == pytest.approx(2 / 9)
    assert "positives" not in s and "one-vs-rest" in result["basis"]


def test_multilabel_thresholds_each_label_at_one_half():
    task = Task(name="tags", text_column="text", label_column="y", labels=("p", "q"), multi_label=True)
    targets = np.array([[1, 0], [1, 1], [0, 1], [0, 0]])
    probs = np.array([[0.9, 0.2], [0.4, 0.7], [0.6, 0.1], [0.1, 0.8]])
    s = slice_metrics(probs, targets, {"k": ["v"] * 4}, task, min_slice_size=1)["columns"]["k"]["slices"]["v"]
    # p: TP 1, FN 1, FP 1, TN 1;  q: TP 1, FN 1, FP 1, TN 1
    assert (s["recall"], s["precision"], s["false_positive_rate"]) == (0.5, 0.5, 0.5)


def test_misaligned_inputs_are_rejected():
    with pytest.raises(ValueError, match="3 values for 9"):
        slice_metrics(PREDS, LABELS, {"region": REGION[:3]}, CREDIT)


def test_slice_values_of_names_a_missing_column():
    import datasets

    table = datasets.Dataset.from_dict({"text": ["a", "b"], "region": ["north", None], "score_band": [1, 2]})
    assert slice_values_of(table, ["region", "score_band"], "test.csv") == {
        "region": ["north", "(missing)"], "score_band": ["1", "2"]
    }
    with pytest.raises(DataError, match=r"test.csv: eval.slice_columns names \['channel'\].*columns found"):
        slice_values_of(table, ["region", "channel"], "test.csv")


def test_markdown_lists_every_slice_gap_and_warning():
    result = slice_metrics(PREDS, LABELS, {"region": REGION, "channel": CHANNEL}, CREDIT, min_slice_size=2)
    text = render_fairness_markdown(result)
    assert "## Fairness slices (test split)" in text and "### region" in text and "### channel" in text
    assert "| north | 5 | 0.500 | 0.500 | 0.333 |" in text
    assert "| south | 4 | 1.000 | 1.000 | 0.000 |" in text
    assert "| **largest gap** | | 0.500 (south vs north) | 0.500 (south vs north) | 0.333 (north vs south) |" in text
    assert "| (missing) † | 1 | n/a | n/a | 0.000 |" in text
    assert "### Warnings" in text and "channel=(missing)" in text
    assert render_fairness_markdown(result, heading_level=3).startswith("### Fairness slices")


def test_equal_slices_have_a_zero_gap_between_two_different_slices():
    result = slice_metrics([D, D], [D, D], {"region": ["north", "south"]}, CREDIT, min_slice_size=1)
    assert result["columns"]["region"]["gaps"]["recall"] == {"gap": 0.0, "highest": "south", "lowest": "north"}
    assert "| **largest gap** | | 0.000 (all equal) |" in render_fairness_markdown(result)


# ------------------------------------------------------------------------------------------------
# The training loop writes the slice report for eval.slice_columns.

def _run_args(tmp_path, tiny_model_dir, *extra: str) -> list[str]:
    from conftest import make_credit_records, tiny_overrides, write_jsonl

    data = write_jsonl(tmp_path / "loans.jsonl", make_credit_records(48))
    return tiny_overrides(tiny_model_dir, data, tmp_path / "run") + ["train.epochs=2", *extra]


def test_training_writes_fairness_results(tmp_path, tiny_model_dir):
    import json

    from finrisk_nlp.cli.main import DEFAULT_CONFIG
    from finrisk_nlp.cli.recipe import run_recipe
    from finrisk_nlp.config import load_config
    from finrisk_nlp.data.tables import load_splits
    from finrisk_nlp.inference.predictor import Predictor

    argv = _run_args(tmp_path, tiny_model_dir, "eval.slice_columns=[region, channel]", "eval.min_slice_size=5")
    assert run_recipe(argv, DEFAULT_CONFIG) == 0
    run = tmp_path / "run"
    fairness = task_view(json.loads((run / "metrics.json").read_text()))["fairness"]
    assert (run / "fairness.md").read_text() == render_fairness_markdown(fairness)

    # The same test rows, loaded again: the slices must line up with them row by row.
    cfg = load_config(DEFAULT_CONFIG, argv)
    task, splits = load_splits(cfg.data, get_task(cfg.task), cfg.seed)
    test = splits["test"]
    for column in ("region", "channel"):
        for value, s in fairness["columns"][column]["slices"].items():
            rows = [i for i, v in enumerate(test[column]) if v == value]
            assert s["support"] == len(rows)
            assert s["positives"] == sum(test["outcome"][i] == "default" for i in rows)
    # And the rates equal those of the saved model's own predictions on those rows.
    probs = Predictor.load(run).predict_proba(test["text"])
    expected = slice_metrics(probs, test["labels"], slice_values_of(test, ["region", "channel"], "test"), task, 5)
    assert fairness == json.loads(json.dumps(expected))
    # Reviewers find the slices and the riskiest examples' evidence in report.md, and in the model card.
    metrics = task_view(json.loads((run / "metrics.json").read_text()))
    report = (run / "report.md").read_text()
    assert render_fairness_markdown(fairness).strip() in report
    assert "## Example explanations" in report and len(metrics["explanations"]) == 3
    top_word = metrics["explanations"][0]["evidence"][0]["text"]
    assert f"**{top_word}**" in report
    from finrisk_nlp.modeling import ModelMetadata
    from finrisk_nlp.registry.model_card import render_model_card

    metadata = ModelMetadata.read(run / "model")
    card = render_model_card(name="credit-text", metadata=metadata, metrics=metrics, config={}, provenance={})
    assert "## Fairness slices" in card and "## What the model relies on" in card and f"`{top_word}`" in card


def test_training_rejects_a_missing_slice_column_before_training(tmp_path, tiny_model_dir):
    from finrisk_nlp.cli.main import DEFAULT_CONFIG
    from finrisk_nlp.config import load_config
    from finrisk_nlp.training.engine import train

    cfg = load_config(DEFAULT_CONFIG, _run_args(tmp_path, tiny_model_dir, "eval.slice_columns=[regoin]"))
    with pytest.raises(DataError, match=r"eval.slice_columns names \['regoin'\].*'region'"):
        train(cfg)
    assert not (tmp_path / "run" / "model").exists()


def test_validate_command_checks_slice_columns(tmp_path, tiny_model_dir):
    from finrisk_nlp.cli.main import main

    argv = _run_args(tmp_path, tiny_model_dir)
    assert main(["validate", *argv, "eval.slice_columns=[region, channel]"]) == 0
    assert main(["validate", *argv, "eval.slice_columns=[segment]"]) == 2
