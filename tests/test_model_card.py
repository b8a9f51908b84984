"""Model cards: YAML front matter the Hub can read, and a markdown body written from the run."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from finrisk_nlp.evaluation.fairness import slice_metrics
from finrisk_nlp.modeling import ModelMetadata
from finrisk_nlp.registry.model_card import hub_base_model, parse_model_card, render_model_card
from finrisk_nlp.tasks import Task, get_task, list_tasks


def _metadata(**changes):
    """A one-task model's metadata, read from ``finrisk_model.json`` as the previous release wrote it."""
    return ModelMetadata.from_json(_metadata_json(**changes))


def _metadata_json(**changes):
    task = get_task("credit_text")
    meta = {
        "task": {"name": task.name, "text_column": task.text_column, "label_column": task.label_column,
                 "labels": list(task.labels), "multi_label": False, "primary_metric": "pr_auc",
                 "positive_label": "default", "description": task.description},
        "base_model": "all-MiniLM-L6-v2", "max_length": 128, "lora": True, "format_version": 2, "extra": {},
    }
    meta.update(changes)
    return meta


METRICS = {
    "test": {"num_examples": 40, "accuracy": 0.875, "macro_f1": 0.8421, "roc_auc": 0.91, "pr_auc": 0.8123,
             "per_class": {"repaid": {"precision": 0.9, "recall": 0.92, "f1": 0.91, "support": 27},
                           "default": {"precision": 0.8, "recall": 0.77, "f1": 0.78, "support": 13}}},
    "validation": {"num_examples": 40, "accuracy": 0.85, "macro_f1": 0.83, "roc_auc": 0.9, "pr_auc": 0.79},
    "majority_baseline": {"accuracy": 0.675, "macro_f1": 0.403}, "best_epoch": 2, "primary_metric": "pr_auc",
}
CONFIG = {"seed": 42, "lora": {"r": 8, "alpha": 16, "target_modules": ["query", "value"]},
          "train": {"epochs": 3, "lr": 0.001}}
PROVENANCE = {"dataset": [{"role": "train", "path": "loans.jsonl", "sha256": "ab" * 32, "bytes": 12345}],
              "versions": {"finrisk_nlp": "0.1.0", "transformers": "5.23.0"}, "git_commit": "c0ffee" * 6}


def _card(**meta_changes) -> tuple[dict, str]:
    text = render_model_card(name="credit-text", metadata=_metadata(**meta_changes), metrics=METRICS, config=CONFIG,
                             provenance=PROVENANCE)
    assert text.startswith("---\n")
    header_text = text[4:].split("\n---\n", 1)[0]
    assert yaml.safe_load(header_text) == parse_model_card(text)[0]
    return parse_model_card(text)


def test_front_matter_is_valid_yaml_with_hub_keys():
    header, body = _card()
    assert header["base_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert header["library_name"] == "peft"
    assert header["pipeline_tag"] == "text-classification"
    assert header["license"] == "apache-2.0"
    assert {"finrisk_nlp", "credit_text", "lora", "peft"} <= set(header["tags"])
    assert body.lstrip().startswith("# credit-text")


def test_body_has_labels_data_metrics_and_provenance():
    _, body = _card()
    for section in ("## Intended use", "## Labels", "## Training data", "## Evaluation",
                    "## Operating threshold and calibration", "## Limitations", "## License"):
        assert section in body, section
    assert "1. `default` (positive / risk class)" in body
    assert "ab" * 32 in body and "12,345 bytes" in body
    assert "| test (calibrated) | 40 | 0.8750 | 0.8421 | 0.9100 | 0.8123 |" in body
    assert "| default | 0.8000 | 0.7700 | 0.7800 | 13 |" in body
    assert "c0ffee" * 6 in body
    assert "No operating threshold" in body


def test_threshold_and_calibration_from_extra_are_shown():
    extra = {"threshold": {"default": 0.35, "selected_for": "recall>=0.9"},
             "calibration": {"method": "temperature", "temperature": 1.7}}
    _, body = _card(extra=extra)
    assert '"default": 0.35' in body and "**calibration**: `temperature` (temperature 1.7000)" in body
    assert "No operating threshold" not in body


@pytest.mark.parametrize(("base", "expected"), [
    ("all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"),
    ("ProsusAI/finbert", "ProsusAI/finbert"),
    ("/models/encoder", None),
    ("./encoder", None),
])
def test_base_model_ids(base, expected):
    assert hub_base_model(base) == expected


def test_full_fine_tune_card_uses_transformers_library():
    header, body = _card(lora=False, base_model="ProsusAI/finbert")
    assert header["library_name"] == "transformers" and "peft" not in header["tags"]
    assert header["base_model"] == "ProsusAI/finbert"
    assert "fully fine-tuned weights" in body


def sections_of(body: str) -> dict[str, str]:
    """The card's ``## `` sections by heading (sub-headings stay inside their section)."""
    parts = ("\n" + body).split("\n## ")[1:]
    return {part.split("\n", 1)[0]: part.split("\n", 1)[1].strip() for part in parts}


VALIDATOR_HEADINGS = ["Intended use", "Labels", "Training data", "Validation design", "Evaluation",
                      "Confidence intervals", "Operating threshold and calibration", "Fairness slices (test split)",
                      "Limitations", "Provenance", "License"]
SPLITS = {"kind": "time+group", "time_column": "opened", "group_column": "customer",
          "rows": {"train": 80, "validation": 12, "test": 14},
          "periods": {"train": {"min": "2022-01-03", "max": "2022-10-28"},
                      "validation": {"min": "2022-04-11", "max": "2022-11-30"},
                      "test": {"min": "2022-12-01", "max": "2022-12-31"}},
          "groups": {"train": 30, "validation": 5, "test": 6, "shared_with_train": 0, "spanning_groups": 2,
                     "rows_dropped": 3},
          "dedup": {"mode": "drop", "train_within": 3,
                    "validation": {"rows": 13, "exact": 1, "normalised": 1, "dropped": 1, "within": 0,
                                   "near_duplicates": 2},
                    "test": {"rows": 16, "exact": 0, "normalised": 2, "dropped": 2, "of_validation": 1, "within": 1,
                             "near_duplicates": 4}}}


def _full_run() -> tuple[dict, dict]:
    labels = np.array([1, 0, 0, 1, 0, 0, 1, 0] * 5)
    preds = np.array([1, 0, 1, 1, 0, 0, 0, 0] * 5)
    fairness = slice_metrics(preds, labels, {"region": ["north", "south"] * 20}, get_task("credit_text"), 5)
    metrics = {
        **METRICS, "splits": SPLITS, "fairness": fairness,
        "test": {**METRICS["test"], "operating_point": {"target": "recall_at_precision=0.8", "label": "default",
                                                        "threshold": 0.35, "precision": 0.81, "recall": 0.7,
                                                        "f1": 0.75, "flagged": 11}},
        "test_intervals": {"pr_auc": [0.7, 0.9], "macro_f1": [0.75, 0.91], "broken": "n/a"},
        "calibration": {"method": "temperature_scaling", "temperature": 1.7, "fitted_on": "validation",
                        "ece_before": {"validation": 0.09, "test": 0.11},
                        "ece_after": {"validation": 0.03, "test": 0.04}},
        "threshold": {"target": "recall_at_precision=0.8", "by_label": {"default": {
            "value": 0.35, "precision": 0.8, "recall": 0.72, "f1": 0.76, "target_met": True}}},
    }
    config = {**CONFIG, "threshold": {"target": "recall_at_precision=0.8",
                                      "costs": {"false_negative": 10.0, "false_positive": 1.0}},
              "data": {"train_file": "loans.jsonl", "redact_pii": True, "time_column": "opened"},
              "model": {"max_chunks": 4}}
    return metrics, config


def test_card_answers_a_model_validator():
    metrics, config = _full_run()
    extra = {"chunking": {"max_chunks": 4, "stride": 32}, "redact_pii": True}
    text = render_model_card(name="credit-text", metadata=_metadata(extra=extra), metrics=metrics, config=config,
                             provenance=PROVENANCE)
    sections = sections_of(parse_model_card(text)[1])
    assert list(sections) == VALIDATOR_HEADINGS

    use = sections["Intended use"]
    assert "ranking loan applications by the default risk" in use and "**Out of scope**:" in use
    assert "- approving, declining or pricing credit on this score alone" in use

    design = sections["Validation design"]
    assert "out of time by `opened` and grouped by `customer`" in design
    assert "| test | 14 | 2022-12-01 | 2022-12-31 | 6 |" in design
    assert "| train | 80 | 2022-01-03 | 2022-10-28 | 30 |" in design
    assert "2 group(s) spanned a time cut: 3 of their rows, dated before the split the group belongs to, were " \
        "dropped from the data." in design
    assert "`data.dedup=drop`): validation: 1 exact, 1 after normalising, 1 dropped; test: 0 exact, 2 after " \
           "normalising, 2 dropped." in design
    assert "Of the test repeats, 1 repeat a validation text" in design
    assert "train repeats 3 of its own texts): validation: 2 near-duplicate(s), 0 repeated within the split; test: 4 " \
        "near-duplicate(s), 1 repeated within the split." in design

    intervals = sections["Confidence intervals"]
    assert "| pr_auc | 0.8123 | [0.7000, 0.9000] |" in intervals
    assert "| macro_f1 | 0.8421 | [0.7500, 0.9100] |" in intervals
    assert "broken" not in intervals

    point = sections["Operating threshold and calibration"]
    assert "**calibration**: `temperature_scaling` (temperature 1.7000, fitted_on validation)" in point
    assert "expected calibration error on test: 0.1100 before, 0.0400 after" in point
    assert "decision costs** the operating point was chosen with: false_negative 10.0, false_positive 1.0" in point
    assert "tuned on validation for `recall_at_precision=0.8`" in point
    assert "| default | 0.3500 | 0.8000 | 0.7200 | yes |" in point
    assert "On the test split at this threshold: precision 0.8100, recall 0.7000, 11 texts flagged." in point
    assert "No operating threshold" not in point

    assert "| north |" in sections["Fairness slices (test split)"]
    limits = sections["Limitations"]
    assert "PII redaction is pattern-based" in limits
    assert "Reads at most 4 window(s) of 128 tokens per text (overlapping by 32)" in limits
    assert sum(body.count("tokens per") for body in sections.values()) == 1  # said once, with the window count
    assert "Calibration and threshold were fitted on the validation split" in limits
    for absent in ("synthetic demo data", "No out-of-time", "were kept", "not calibrated"):
        assert absent not in limits, absent


def test_card_of_an_older_run_says_what_is_unknown():
    metrics = {"test": {"num_examples": 40, "accuracy": 0.875}}
    meta = ModelMetadata.from_json({key: value for key, value in _metadata_json().items() if key != "extra"})
    text = render_model_card(name="credit-text", metadata=meta, metrics=metrics, config={}, provenance={})
    sections = sections_of(parse_model_card(text)[1])
    assert list(sections) == [h.replace(" (test split)", "") for h in VALIDATOR_HEADINGS]
    assert sections["Validation design"].startswith("Not recorded: the run predates split reporting.")
    assert "up to ±1/√N wide (±0.158 here)" in sections["Confidence intervals"]
    assert "No operating threshold is stored" in sections["Operating threshold and calibration"]
    assert "**calibration**: none recorded" in sections["Operating threshold and calibration"]
    assert sections["Fairness slices"].startswith("Not computed for this run. Set `eval.slice_columns`")
    limits = sections["Limitations"]
    assert "No out-of-time or per-customer validation" in limits and "Probabilities are not calibrated." in limits
    assert "Reads at most 1 window(s) of 128 tokens per text;" in limits
    assert "PII" not in limits and "synthetic" not in limits  # unknown: neither claimed nor denied


def test_limitations_follow_the_run_settings():
    metrics = {**METRICS, "threshold": None, "splits": {**SPLITS, "dedup": {
        "mode": "warn", "test": {"rows": 16, "exact": 1, "normalised": 3, "dropped": 0}}}}
    config = {**CONFIG, "data": {"train_file": None, "redact_pii": False}}
    text = render_model_card(name="credit-text", metadata=_metadata(), metrics=metrics, config=config, provenance={})
    sections = sections_of(parse_model_card(text)[1])
    limits = sections["Limitations"]
    assert "synthetic demo data shipped with finrisk_nlp" in limits
    assert "Texts were not redacted (`data.redact_pii=false`)" in limits
    assert "3 validation/test text(s) repeat a training text and were kept" in limits
    point = sections["Operating threshold and calibration"]
    assert "the most probable class (no threshold: a multi-class task)" in point


@pytest.mark.parametrize("name", [*list_tasks(), "complaints"])
def test_intended_and_out_of_scope_uses_per_task(name):
    own = Task(name="complaints", text_column="body", label_column="product", labels=("card", "loan"),
               description="Customer complaint -> product it is about.")
    task = own if name == "complaints" else get_task(name)
    meta = _metadata(task={"name": task.name, "text_column": task.text_column, "label_column": task.label_column,
                           "labels": list(task.labels), "multi_label": task.multi_label,
                           "description": task.description, "labels_from_data": task.labels_from_data})
    use = sections_of(render_model_card(name="m", metadata=meta, metrics={}, config={}, provenance={}))["Intended use"]
    expected = {"credit_text": "adverse-action notice", "transaction_memo": "fraud or AML decisions about a single",
                "aml_alert": "closing alerts automatically", "aml_typology": "a finding that money laundering took",
                "complaints": "fully automated decisions about customers"}
    expected["text_classifier"] = expected["complaints"]  # the generic recipe's task: the generic uses
    assert expected[name] in use and sum(phrase in use for phrase in set(expected.values())) == 1
    if name == "complaints":
        assert "the task it was trained for: Customer complaint -> product it is about." in use


def test_card_states_which_rows_fitted_what():
    metrics, config = _full_run()
    metrics["fitted"] = {"epoch_selection": "validation (12 rows)", "calibration": "calibration (9 rows)",
                         "threshold": "calibration (9 rows)", "conformal": "calibration (9 rows)",
                         "test": "test (14 rows): used for nothing but the reported metrics"}
    text = render_model_card(name="credit-text", metadata=_metadata(), metrics=metrics, config=config,
                             provenance=PROVENANCE)
    sections = sections_of(parse_model_card(text)[1])
    point = sections["Operating threshold and calibration"]
    for line in ("- best epoch chosen on: validation (12 rows)", "- calibration map fitted on: calibration (9 rows)",
                 "- operating threshold tuned on: calibration (9 rows)",
                 "- conformal quantile fitted on: calibration (9 rows)",
                 "- test: test (14 rows): used for nothing but the reported metrics"):
        assert line in point
    assert "served several fits" not in point
    assert "| split | examples | accuracy (argmax) | macro_f1 (argmax) | roc_auc | pr_auc |" in sections["Evaluation"]
    assert "Calibration and threshold were fitted on the calibration split" in sections["Limitations"]
    metrics["calibration"] = {"method": "platt", "fitted_on": "calibration", "comparison": {"test": {"change": {
        "ece": {"estimate": 0.002, "low": -0.039, "high": 0.047, "verdict": "no measurable change"}}}}}
    text = render_model_card(name="credit-text", metadata=_metadata(), metrics=metrics, config=config,
                             provenance=PROVENANCE)
    assert "- change on test, calibrated minus raw (paired bootstrap 95%): ece +0.0020 [-0.0390, +0.0470] no " \
        "measurable change" in text
    metrics["fitted"] = {**metrics["fitted"], "calibration": "validation (12 rows)"}
    text = render_model_card(name="credit-text", metadata=_metadata(), metrics=metrics, config=config,
                             provenance=PROVENANCE)
    assert "validation therefore served several fits" in text


def test_a_multi_task_card_states_each_tasks_windows_from_its_metadata():
    from finrisk_nlp.modeling import Head, TaskMetadata
    from finrisk_nlp.modeling.metadata import Windows

    tasks = {"credit_text": TaskMetadata(get_task("credit_text"), windows=Windows(max_chunks=4, stride=32)),
             "transaction_memo": TaskMetadata(get_task("transaction_memo"))}
    meta = ModelMetadata(tasks=tasks, base_model="all-MiniLM-L6-v2", max_length=128, lora=True, head=Head())
    # the run's config says something else: the card follows what prediction does, i.e. the stored windows
    text = render_model_card(name="multi", metadata=meta, metrics={}, config={"model": {"max_chunks": 9}},
                             provenance={})
    limits = sections_of(parse_model_card(text)[1])["Limitations"]
    assert ("Reads at most this many windows of 128 tokens per text (credit_text: 4 overlapping by 32, "
            "transaction_memo: 1)") in limits
    same = {name: TaskMetadata(get_task(name), windows=Windows(2, 16)) for name in tasks}
    text = render_model_card(name="multi", metadata=ModelMetadata(tasks=same, base_model="all-MiniLM-L6-v2",
                                                                  max_length=64, lora=True, head=Head()),
                             metrics={}, config={}, provenance={})
    assert "Reads at most 2 window(s) of 64 tokens per text (overlapping by 16)" in text
