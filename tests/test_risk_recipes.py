"""The transaction_memo, aml_alert and aml_typology recipes, end to end on tiny synthetic data (in-process)."""

import json
import random
from pathlib import Path

import pytest
from conftest import REPO, tiny_overrides, write_jsonl

from finrisk_nlp.cli.recipe import run_recipe
from finrisk_nlp.config import load_config
from finrisk_nlp.evaluation.run_metrics import task_view

CONFIGS = REPO / "recipes" / "configs"
MEMO_CUES = {"groceries": "grocery", "dining": "dining", "travel": "travel", "utilities": "utilities",
             "cash_withdrawal": "atm cash", "p2p_transfer": "p2p transfer", "gambling": "gambling", "crypto": "crypto"}
TYPOLOGY_CUES = {"structuring": "structuring", "layering": "layering", "trade_based": "trade", "sanctions": "sanctions"}
FILLER = ["the customer has a bank account", "alert review of deposit history", "income from employer",
          "rent paid by card", "wire from the business account"]
PII = {"4111 1111 1111 1111": "[CARD]", "DE89 3704 0044 0532 0130 00": "[IBAN]", "123-45-6789": "[SSN]",
       "acct 12345678": "[ACCOUNT]", "jane.roe@mail.com": "[EMAIL]", "555-123-4567": "[PHONE]"}
RAW = [k.split()[-1] if k.startswith("acct") else k for k in PII]  # what must never appear anywhere


def memo_rows(n_per_class: int = 6) -> list[dict]:
    rng = random.Random(0)
    rows = []
    for label, cue in MEMO_CUES.items():
        for i in range(n_per_class):
            card = " card 4111111111111111" if i == 0 else ""
            rows.append({"text": f"pos memo {cue} {rng.randint(10, 99)}{card}", "category": label})
    return rows


def aml_rows(n: int = 48) -> list[dict]:
    """Narratives longer than the 32-token windows, with identifiers sprinkled in; the cue may come last."""
    rng = random.Random(1)
    rows = []
    pii = list(PII)
    for i in range(n):
        escalate = i % 3 == 0
        typologies = sorted(rng.sample(list(TYPOLOGY_CUES), rng.randint(1, 2))) if escalate else []
        parts = rng.sample(FILLER, 4) + [pii[i % len(pii)]]
        cue = " and ".join(TYPOLOGY_CUES[t] for t in typologies) if escalate else "stable history, close"
        text = ", ".join(parts) + (f", {cue}." if i % 2 else "")
        if not i % 2:
            text = f"{cue}, " + text
        rows.append({"text": text, "disposition": "escalate" if escalate else "close",
                     "typologies": typologies or (["structuring"] if i % 12 == 1 else [])})
    return rows


def _run(recipe: str, rows: list[dict], tmp_path: Path, tiny_model_dir: Path, *extra: str) -> tuple[Path, dict]:
    data = write_jsonl(tmp_path / f"{recipe}.jsonl", rows)
    out = tmp_path / recipe
    overrides = tiny_overrides(tiny_model_dir, data, out) + ["train.epochs=2", *extra]
    assert run_recipe(overrides, CONFIGS / f"{recipe}.yaml") == 0
    return out, task_view(json.loads((out / "metrics.json").read_text()))


def _assert_report(out: Path, labels: list[str]) -> None:
    report = (out / "report.md").read_text()
    for name in ("confusion_matrix", "precision_recall", "reliability"):
        assert (out / "report" / f"{name}.png").stat().st_size > 1000
        assert f"(report/{name}.png)" in report
    for label in labels:
        assert f"| {label} |" in report
    assert "LABEL_" not in report


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_configs_load(path):
    cfg = load_config(path)
    assert cfg.data.redact_pii
    # the text + fields recipes train the demo tasks with their field columns
    task = {"credit_application": "credit_text", "aml_alert_kyc": "aml_alert"}.get(path.stem, path.stem)
    assert len(cfg.multitask.tasks) == 3 if path.stem == "multitask" else cfg.task == task


@pytest.mark.e2e
def test_transaction_memo_recipe(tmp_path, tiny_model_dir):
    out, metrics = _run("transaction_memo", memo_rows(), tmp_path, tiny_model_dir, "model.max_length=16",
                        "train.batch_size=8")
    test = metrics["test"]
    assert test["num_examples"] == 12 and test["pr_auc"] is not None
    assert test["operating_point"]["target"] == "argmax" and 0 <= test["operating_point"]["recall"] <= 1
    assert set(test["per_class"]) == set(MEMO_CUES) and metrics["threshold"] is None
    assert metrics["pii_redactions"]["CARD"] == 8
    _assert_report(out, list(MEMO_CUES))


@pytest.mark.e2e
def test_aml_alert_recipe_chunks_redacts_and_stores_the_operating_point(tmp_path, tiny_model_dir, monkeypatch):
    from transformers import PreTrainedTokenizerBase

    seen: list[str] = []
    tokenizer_call = PreTrainedTokenizerBase.__call__

    def spy(self, text=None, *args, **kwargs):
        if text is not None:
            seen.extend(text if isinstance(text, list) else [text])
        return tokenizer_call(self, text, *args, **kwargs)

    monkeypatch.setattr(PreTrainedTokenizerBase, "__call__", spy)
    out, metrics = _run("aml_alert", aml_rows(), tmp_path, tiny_model_dir, "model.stride=8")
    test = metrics["test"]
    assert test["num_examples"] == 12 and test["pr_auc"] is not None
    op = test["operating_point"]
    assert op["label"] == "escalate" and 0 <= op["recall"] <= 1 and 0 <= op["precision"] <= 1
    assert test["num_chunked_documents"] > 0 and 1 < test["max_chunks_used"] <= 8
    assert metrics["threshold"]["target"] == "precision_at_recall=0.95"
    calibration = metrics["calibration"]
    assert calibration["method"] in {"none", "temperature", "platt", "isotonic"} and calibration["requested"] == "auto"
    assert set(calibration["cv_nll"]) >= {"none", "temperature", "platt"}
    assert sum(metrics["pii_redactions"].values()) == 48 and all(v == 8 for v in metrics["pii_redactions"].values())

    meta = json.loads((out / "model" / "finrisk_model.json").read_text())
    assert meta["extra"]["threshold"] == metrics["threshold"]
    assert meta["extra"]["calibration"]["method"] == metrics["calibration"]["method"]

    from finrisk_nlp.inference.predictor import Predictor

    results = Predictor.load(out).predict([aml_rows()[0]["text"] + " acct 99887766 " * 3])
    assert results[0]["decision"] in ("close", "escalate") and results[0]["num_chunks"] > 1

    # No raw identifier reached the tokenizer, in training or prediction, nor any file of the run.
    assert seen and not [t for t in seen if any(raw in t for raw in RAW + ["99887766"])]
    assert any("[IBAN]" in t for t in seen)
    for path in out.rglob("*"):
        if path.is_file() and path.suffix in (".json", ".jsonl", ".md", ".yaml", ".txt"):
            content = path.read_text()
            assert not [raw for raw in RAW if raw in content], path
    _assert_report(out, ["close", "escalate"])


@pytest.mark.e2e
def test_aml_typology_recipe_tunes_one_threshold_per_typology(tmp_path, tiny_model_dir):
    out, metrics = _run("aml_typology", aml_rows(), tmp_path, tiny_model_dir, "model.stride=8",
                        "threshold.target=recall_at_precision=0.5")
    test = metrics["test"]
    assert test["pr_auc"] is not None and test["num_examples"] == 12
    assert set(metrics["threshold"]["by_label"]) == set(TYPOLOGY_CUES)
    assert set(test["operating_point"]["per_label"]) == set(TYPOLOGY_CUES)
    assert 0 <= test["operating_point"]["recall"] <= 1
    _assert_report(out, list(TYPOLOGY_CUES))
