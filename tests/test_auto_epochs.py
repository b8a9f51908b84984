"""``train.epochs=auto``: patience, the cap and the time budget each end a run, the schedule is laid over the cap,
and a run resumed in the middle continues the same schedule."""

import json

import pytest
from conftest import REPO, make_credit_records, tiny_overrides, write_jsonl

from finrisk_nlp.cli.recipe import run_recipe
from finrisk_nlp.config import parse_cli
from finrisk_nlp.errors import ConfigError
from finrisk_nlp.training.engine import train

CONFIG = REPO / "recipes" / "configs" / "credit_text.yaml"
# 48 rows, a quarter each to validation and test: 24 train rows in batches of 4 are 6 optimizer steps an epoch.
STEPS_PER_EPOCH = 6


@pytest.fixture
def data(tmp_path):
    return write_jsonl(tmp_path / "loans.jsonl", make_credit_records(48))


def auto_run(tiny_model_dir, data, out, *extra):
    argv = tiny_overrides(tiny_model_dir, data, out) + ["train.epochs=auto", "eval.explain_examples=0",
                                                          "train.early_stopping_patience=2", *extra]
    assert run_recipe(argv, CONFIG) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    log = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return metrics, log


def step_rates(log):
    """Learning rate by optimizer step (a resumed run logs the replayed steps again; the later entry counts)."""
    return {r["step"]: r["lr"] for r in log if r["event"] == "train"}


def test_patience_stops_a_run_whose_validation_metric_plateaus(tmp_path, tiny_model_dir, data, capsys):
    # An update far below float32 resolution leaves every weight, so every validation score, exactly unchanged.
    metrics, log = auto_run(tiny_model_dir, data, tmp_path / "run", "train.lr=1e-30",
                            "train.early_stopping_patience=2", "train.max_epochs=10")
    assert metrics["stopped_by"] == "patience"
    scores = [p["score"] for p in metrics["epoch_curve"]]
    assert len(scores) == 3 and len(set(scores)) == 1  # the first epoch, then two without a gain
    assert metrics["best_epoch"] == 0 and metrics["optimizer_steps"] == 3 * STEPS_PER_EPOCH
    # The schedule is laid over the 10-epoch cap: stopping at epoch 3 leaves the rate well above 0.
    rates = step_rates(log)
    assert rates[3 * STEPS_PER_EPOCH] > 0.5 * max(rates.values())
    out = capsys.readouterr().out
    assert "validation pr_auc per epoch: 0 " in out and "stopped by patience" in out


def test_the_cap_stops_a_run_that_keeps_improving_and_the_schedule_ends_there(tmp_path, tiny_model_dir, data):
    metrics, log = auto_run(tiny_model_dir, data, tmp_path / "run", "train.early_stopping_patience=50",
                            "train.max_epochs=2")
    assert metrics["stopped_by"] == "cap" and len(metrics["epoch_curve"]) == 2
    assert metrics["optimizer_steps"] == 2 * STEPS_PER_EPOCH
    assert step_rates(log)[2 * STEPS_PER_EPOCH] == 0.0  # linear decay reaches 0 exactly at the cap


def test_the_time_budget_stops_a_run_and_the_partial_epoch_is_validated(tmp_path, tiny_model_dir, data):
    # A budget of 60 ns is spent by the first optimizer step on any machine.
    metrics, _ = auto_run(tiny_model_dir, data, tmp_path / "run", "train.max_minutes=1e-9",
                          "train.max_epochs=10")
    assert metrics["stopped_by"] == "time budget"
    assert metrics["optimizer_steps"] == 1 and len(metrics["epoch_curve"]) == 1
    assert (tmp_path / "run" / "model").is_dir()


def test_constant_schedule_holds_the_rate_after_warmup(tmp_path, tiny_model_dir, data):
    _, log = auto_run(tiny_model_dir, data, tmp_path / "run", "train.max_epochs=2", "train.scheduler=constant",
                      "train.early_stopping_patience=50", "train.warmup_ratio=0.25")
    rates = step_rates(log)
    assert rates[1] < rates[3] == rates[12] == pytest.approx(5e-3)  # warmup: 3 of the cap's 12 steps


class Crash(RuntimeError):
    pass


@pytest.mark.parametrize("choice", [[], ["train.scheduler=cosine", "train.optimizer=adamw-fused"]],
                         ids=["defaults", "cosine-fused"])
def test_a_run_resumed_mid_epoch_continues_the_same_auto_schedule(tmp_path, tiny_model_dir, data, choice):
    common = ["train.checkpoint_every=4", "train.lr=2e-2", "train.max_epochs=4", "train.early_stopping_patience=50",
              "lora.dropout=0.1", *choice]
    clean, clean_log = auto_run(tiny_model_dir, data, tmp_path / "clean", *common)

    argv = tiny_overrides(tiny_model_dir, data, tmp_path / "resumed") + ["train.epochs=auto",
                                                                        "eval.explain_examples=0", *common]

    def crash(state):
        if state.global_step == 10:  # mid epoch 1; the newest checkpoint is step 8
            raise Crash

    with pytest.raises(Crash):
        train(parse_cli(argv, default_config=CONFIG), callbacks=[crash])
    resumed, resumed_log = auto_run(tiny_model_dir, data, tmp_path / "resumed", *common, "train.resume=latest")

    assert step_rates(resumed_log) == pytest.approx(step_rates(clean_log), abs=1e-12)
    assert resumed["stopped_by"] == clean["stopped_by"] == "cap"
    assert [p["epoch"] for p in resumed["epoch_curve"]] == [0, 1, 2, 3]
    for a, b in zip(resumed["epoch_curve"], clean["epoch_curve"], strict=True):
        assert b["score"] == pytest.approx(a["score"], abs=1e-6)
    test, clean_test = resumed["tasks"]["credit_text"]["test"], clean["tasks"]["credit_text"]["test"]
    assert test["pr_auc"] == pytest.approx(clean_test["pr_auc"], abs=1e-6)


def test_auto_needs_patience_and_a_positive_budget():
    with pytest.raises(ConfigError) as err:
        parse_cli(["train.epochs=auto", "train.early_stopping_patience=null", "train.max_minutes=0"],
                  default_config=CONFIG)
    text = str(err.value)
    assert "train.epochs=auto stops when validation stops improving" in text
    assert "train.max_minutes must be > 0" in text
    with pytest.raises(ConfigError, match="train.epochs"):
        parse_cli(["train.epochs=many"], default_config=CONFIG)
