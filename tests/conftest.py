"""Shared fixtures: a tiny BERT built from a config (never downloaded) and small labelled data files."""

from __future__ import annotations

import json
import os
import random
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ASSETS = Path(__file__).parent / "assets"
REPO = Path(__file__).resolve().parent.parent

RISKY = ["missed payments", "lost job", "late payment", "high debt", "medical bills"]
SAFE = ["steady salary", "ontime payment history", "good savings", "stable employer", "low debt"]
FILLER = ["the applicant has a bank account", "loan for a car", "family of four", "rent paid by card",
          "credit card held for years", "business loan from the bank"]



@pytest.fixture(autouse=True)
def fresh_accelerator_state():
    """Every test starts without an Accelerator, as a new ``accelerate launch`` process does (accelerate's own test
    cases reset the same shared state): one test's mixed precision or process setup must not leak into the next."""
    yield
    state = sys.modules.get("accelerate.state")
    if state is not None:
        state.AcceleratorState._reset_state(reset_partial_state=True)
        state.GradientState._reset_state()

def make_credit_records(n: int = 48, seed: int = 0) -> list[dict[str, str]]:
    """Loan-like rows where one phrase decides the class: learnable by a tiny model in a few steps."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        outcome = "default" if i % 3 == 0 else "repaid"
        cue = rng.choice(RISKY if outcome == "default" else SAFE)
        parts = rng.sample(FILLER, 2) + [cue]
        rng.shuffle(parts)
        rows.append({"id": f"L{i:03d}", "text": ", ".join(parts) + ".", "outcome": outcome,
                     "region": rng.choice(["north", "south"]), "channel": rng.choice(["online", "branch"])})
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="session")
def tiny_tokenizer():
    from transformers import BertTokenizerFast

    # transformers 5 takes `vocab=`; a `vocab_file=` keyword is silently ignored (every token becomes [UNK]).
    return BertTokenizerFast(vocab=str(ASSETS / "vocab.txt"), do_lower_case=True)


def _save_tiny_bert(tokenizer, out: Path, *, with_pooler: bool = True) -> Path:
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=37, max_position_embeddings=128,
    )
    # A bare encoder, like a pretrained checkpoint: the classification head is new when it is loaded.
    BertModel(config, add_pooling_layer=with_pooler).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, tiny_tokenizer) -> Path:
    return _save_tiny_bert(tiny_tokenizer, tmp_path_factory.mktemp("tiny_bert"))


@pytest.fixture(scope="session")
def tiny_model_dir_no_pooler(tmp_path_factory, tiny_tokenizer) -> Path:
    return _save_tiny_bert(tiny_tokenizer, tmp_path_factory.mktemp("tiny_bert_nopool"), with_pooler=False)


@pytest.fixture()
def credit_file(tmp_path) -> Path:
    return write_jsonl(tmp_path / "loans.jsonl", make_credit_records())


def tiny_overrides(model_dir: Path, data_file: Path, output_dir: Path) -> list[str]:
    """Config overrides that make a recipe run in seconds on the tiny model."""
    return [
        f"model.name_or_path={model_dir}", "model.max_length=32", "model.stride=8", f"data.train_file={data_file}",
        f"output_dir={output_dir}", "cpu=true", "train.epochs=3", "train.batch_size=4", "train.eval_batch_size=4",
        "train.lr=5e-3", "train.log_every=1", "lora.r=4", "lora.alpha=8", "data.validation_fraction=0.25",
        "data.test_fraction=0.25", "data.min_examples_per_class=2", "train.early_stopping_patience=null",
        "data.dedup=warn",  # fixture texts are templated on purpose: dropping repeats would empty their test splits
        "train.mixed_precision='no'",  # auto is bf16 on CPUs with native bf16: the same numbers on every test machine
    ]


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, tiny_model_dir) -> Path:
    """A tiny credit_text run (the recipe config, one epoch; windows of 32 tokens) for the tests that load a run."""
    from finrisk_nlp.cli.recipe import run_recipe

    tmp = tmp_path_factory.mktemp("trained_run")
    data = write_jsonl(tmp / "loans.jsonl", make_credit_records())
    code = run_recipe(tiny_overrides(tiny_model_dir, data, tmp / "run") + ["train.epochs=1"],
                      str(REPO / "recipes" / "configs" / "credit_text.yaml"))
    assert code == 0
    return tmp / "run"
