"""Model cards: YAML front matter the Hub can read, and a markdown body written from the run."""

from __future__ import annotations

import pytest
import yaml

from finrisk_nlp.registry.model_card import hub_base_model, parse_model_card, render_model_card
from finrisk_nlp.tasks import get_task


def _metadata(**changes):
    task = get_task("credit_text")
    meta = {
        "task": {"name": task.name, "text_column": task.text_column, "label_column": task.label_column,
                 "labels": list(task.labels), "multi_label": False, "primary_metric": "pr_auc",
                 "positive_label": "default", "description": task.description},
        "base_model": "all-MiniLM-L6-v2", "max_length": 128, "lora": True, "format_version": 1, "extra": {},
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
    assert "| test | 40 | 0.8750 | 0.8421 | 0.9100 | 0.8123 |" in body
    assert "| default | 0.8000 | 0.7700 | 0.7800 | 13 |" in body
    assert "c0ffee" * 6 in body
    assert "No operating threshold" in body


def test_threshold_and_calibration_from_extra_are_shown():
    extra = {"threshold": {"default": 0.35, "selected_for": "recall>=0.9"},
             "calibration": {"method": "temperature", "temperature": 1.7}}
    _, body = _card(extra=extra)
    assert '"default": 0.35' in body and '"temperature": 1.7' in body
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
