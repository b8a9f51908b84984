"""The generic recipe for a user's own table: settings chosen from the data (and why), the user's own kept."""

import json
import random

import pytest
import yaml
from conftest import REPO, write_jsonl

from finrisk_nlp.cli.main import main as cli_main
from finrisk_nlp.cli.recipe import run_recipe
from finrisk_nlp.config import given_keys
from finrisk_nlp.evaluation.run_metrics import task_view
from finrisk_nlp.training.data_defaults import TableShape, choose

CONFIG = REPO / "recipes" / "configs" / "text_classifier.yaml"
TOPICS = {"cards": ["card", "pin", "chip", "declined", "atm"], "loans": ["loan", "repay", "rate", "borrow", "term"],
          "fraud": ["scam", "stolen", "phishing", "unknown", "fake"]}
FILLER = ["please", "help", "today", "my", "account", "the", "urgent", "again", "thanks", "bank", "now", "why"]


def tickets(n: int, seed: int = 0) -> list[dict[str, str]]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        queue = list(TOPICS)[i % 3]
        words = rng.sample(TOPICS[queue], 2) + rng.sample(FILLER, rng.randint(2, 6))
        rng.shuffle(words)
        rows.append({"body": " ".join(words), "queue": queue, "ticket": f"t{i}"})
    return rows


def by_key(choices):
    return {c.key: c for c in choices}


def test_short_texts_get_one_window_sized_to_them_and_large_batches():
    shape = TableShape(rows=5000, class_counts={f"c{i}": 140 for i in range(36)}, length_p50=18, length_p95=41,
                       length_max=70)
    chosen = by_key(choose(shape, stride=32))
    assert chosen["model.max_length"].value == 48 and chosen["model.max_chunks"].value == 1
    assert "no windows needed" in chosen["model.max_chunks"].reason
    assert chosen["train.batch_size"].value == 64
    assert chosen["loss.class_weights"].value is None and "36-class" in chosen["loss.class_weights"].reason


def test_long_texts_get_windows_small_batches_and_imbalance_gets_weights():
    shape = TableShape(rows=2000, class_counts={"close": 1700, "escalate": 300}, length_p50=420, length_p95=700,
                       length_max=2000)
    chosen = by_key(choose(shape, stride=32))
    assert chosen["model.max_length"].value == 256
    assert chosen["model.max_chunks"].value == 3  # 256 + 2 x 224 = 704 tokens cover the 95th percentile (700)
    assert "3 windows of 256 tokens (overlap 32) read 704 tokens" in chosen["model.max_length"].reason
    assert chosen["train.batch_size"].value == 8
    assert chosen["loss.class_weights"].value == "auto" and "5.7x" in chosen["loss.class_weights"].reason


def test_a_small_table_gets_smaller_batches_so_an_epoch_has_steps():
    shape = TableShape(rows=600, class_counts={"a": 300, "b": 300}, length_p50=20, length_p95=30, length_max=40)
    chosen = by_key(choose(shape, stride=32))
    assert chosen["train.batch_size"].value == 16 and "600 training rows" in chosen["train.batch_size"].reason


def test_given_keys_are_those_the_yaml_or_the_command_line_set():
    keys = given_keys(["train.lr=1e-3", "loss.class_weights={a: 2.0}"], CONFIG)
    assert {"train.lr", "loss.class_weights", "train.epochs", "data.label_column"} <= keys
    assert "model.max_length" not in keys and "train.batch_size" not in keys


def test_own_table_trains_with_chosen_settings_and_says_why(tmp_path, tiny_model_dir, caplog, capsys):
    data = write_jsonl(tmp_path / "tickets.jsonl", tickets(72))
    out = tmp_path / "run"
    argv = [f"model.name_or_path={tiny_model_dir}", f"data.train_file={data}", "data.text_column=body",
            "data.label_column=queue", f"output_dir={out}", "cpu=true", "train.lr=5e-3", "train.max_epochs=3",
            "data.validation_fraction=0.25", "data.test_fraction=0.25", "data.min_examples_per_class=2",
            "data.dedup=warn", "eval.explain_examples=0", "lora.r=4", "lora.alpha=8"]
    with caplog.at_level("INFO"):
        assert run_recipe(argv, CONFIG, fit_to_data=True) == 0
    assert "settings chosen from the training data" in caplog.text
    assert "model.max_length=32: texts run" in caplog.text and "kept as given: train.lr" in caplog.text
    used = yaml.safe_load((out / "config.yaml").read_text())
    assert used["model"]["max_length"] == 32 and used["model"]["max_chunks"] == 1
    assert used["train"]["lr"] == 5e-3 and used["train"]["batch_size"] == 8  # 36 rows: the small-table rule
    metrics = task_view(json.loads((out / "metrics.json").read_text()))
    assert set(metrics["test"]["per_class"]) == set(TOPICS)
    assert metrics["stopped_by"] in {"patience", "cap"} and metrics["epochs"] == "auto"
    assert "validation macro_f1 per epoch: 0 " in capsys.readouterr().out


def test_no_table_is_a_clear_error(tmp_path, caplog):
    assert run_recipe([f"output_dir={tmp_path / 'run'}"], CONFIG, fit_to_data=True) == 2
    assert "data.train_file: task text_classifier trains on your own table" in caplog.text


@pytest.mark.parametrize("labels", [["only"] * 20])
def test_a_single_label_is_refused(tmp_path, labels, caplog):
    data = write_jsonl(tmp_path / "one.jsonl", [{"text": f"row {i} text", "label": x} for i, x in enumerate(labels)])
    assert run_recipe([f"data.train_file={data}", f"output_dir={tmp_path / 'run'}"], CONFIG, fit_to_data=True) == 2
    assert "at least 2 labels" in caplog.text


def test_finrisk_train_data_runs_the_generic_recipe(tmp_path, tiny_model_dir, caplog):
    data = write_jsonl(tmp_path / "tickets.jsonl", tickets(48, seed=1))
    out = tmp_path / "run"
    argv = ["train", "--data", str(data), "--text-column", "body", "--label-column", "queue",
            f"model.name_or_path={tiny_model_dir}", f"output_dir={out}", "cpu=true", "train.max_epochs=1",
            "data.validation_fraction=0.25", "data.test_fraction=0.25", "data.min_examples_per_class=2",
            "data.dedup=warn", "eval.explain_examples=0"]
    with caplog.at_level("INFO"):
        assert cli_main(argv) == 0
    assert "model.max_chunks=1: one window holds 95% of the texts whole" in caplog.text
    used = yaml.safe_load((out / "config.yaml").read_text())
    assert used["task"] == "text_classifier" and used["data"]["label_column"] == "queue"
    assert json.loads((out / "metrics.json").read_text())["stopped_by"] == "cap"
