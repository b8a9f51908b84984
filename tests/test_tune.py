"""finrisk tune: search-space checks, the selection score, and a resumable study on the tiny model."""

import json
import re
import subprocess
import sys

import pytest
import yaml
from conftest import REPO, tiny_overrides

from finrisk_nlp.config import load_config
from finrisk_nlp.errors import ConfigError, FinriskError
from finrisk_nlp.training.search_space import (
    DEFAULT_SEARCH_SPACE,
    base_params,
    check_search_space,
    suggest_values,
)
from finrisk_nlp.training.tuning import TuneBudget, read_validation_scores, selection_score, tune

optuna = pytest.importorskip("optuna")
CONFIG = REPO / "recipes" / "configs" / "credit_text.yaml"
SMALL_SPACE = {"train.lr": {"low": 1.0e-3, "high": 1.0e-2, "log": True}, "lora.r": {"choices": [2, 4]},
               "lora.alpha": {"choices": [1, 2], "times": "lora.r"}}


def test_selection_score_reads_the_best_score_or_the_validation_metric():
    assert selection_score({"best_score": 0.7, "validation": {"pr_auc": 0.2}, "primary_metric": "pr_auc"}) == 0.7
    assert selection_score({"validation": {"pr_auc": 0.4}, "primary_metric": "pr_auc"}) == 0.4
    with pytest.raises(FinriskError, match=re.escape("expected 'best_score' or validation['pr_auc'], found keys "
                                                     "['primary_metric', 'validation']")):
        selection_score({"validation": {}, "primary_metric": "pr_auc"})


def test_search_space_problems_are_reported_together():
    base = load_config(CONFIG).to_dict()
    check_search_space(DEFAULT_SEARCH_SPACE, base)  # the built-in space fits the shipped recipe
    bad = {"train.lrr": {"low": 1e-4, "high": 1e-3}, "lora.r": {"choices": []},
           "train.epochs": {"low": 3, "high": 1}, "loss.focal_gamma": {"low": 0.0, "high": 2.0, "log": True}}
    with pytest.raises(ConfigError) as err:
        check_search_space(bad, base)
    problems = err.value.problems
    assert "lora.r: choices must be a non-empty list, got []" in problems
    assert "train.epochs: expected numbers low < high, got low=3 high=1" in problems
    assert "loss.focal_gamma: a log scale needs low > 0, got 0.0" in problems
    with pytest.raises(ConfigError, match=re.escape("search space train.lrr=0.0001: train.lrr: unknown key; "
                                                    "did you mean 'train.lr'?")):
        check_search_space({"train.lrr": {"low": 1e-4, "high": 1e-3}}, base)
    with pytest.raises(ConfigError, match=re.escape("search space lora.r=0: lora.r must be >= 1, got 0")):
        check_search_space({"lora.r": {"choices": [0, 4]}}, base)


def test_suggested_values_are_config_values():
    base = load_config(CONFIG)
    space = {**SMALL_SPACE, "lora.target_modules": DEFAULT_SEARCH_SPACE["lora.target_modules"],
             "loss.class_weights": {"choices": [None, "auto"]}}
    trial = optuna.trial.FixedTrial({"train.lr": 2e-3, "lora.r": 4, "lora.alpha": 2,
                                     "lora.target_modules": '["query", "value"]', "loss.class_weights": None})
    values = suggest_values(trial, space, base)
    assert values == {"train.lr": 2e-3, "lora.r": 4, "lora.alpha": 8, "lora.target_modules": ["query", "value"],
                      "loss.class_weights": None}
    alone = suggest_values(optuna.trial.FixedTrial({"lora.alpha": 2}), {"lora.alpha": SMALL_SPACE["lora.alpha"]},
                           base)
    assert alone == {"lora.alpha": 2 * base.lora.r}  # times falls back to the config's own lora.r


def test_validation_scores_are_read_as_the_run_appends_them(tmp_path):
    log = tmp_path / "metrics.jsonl"
    assert read_validation_scores(log, "pr_auc", 0) == ([], 0)  # the run has not started writing
    lines = [{"step": 3, "event": "train", "loss": 0.6}, {"step": 6, "event": "validation", "epoch": 0,
                                                          "validation/pr_auc": 0.41, "validation/macro_f1": 0.5}]
    log.write_text("".join(json.dumps(r) + "\n" for r in lines) + '{"step": 9, "event": "valid')
    scores, offset = read_validation_scores(log, "pr_auc", 0)
    assert scores == [(0, 0.41)]
    with log.open("a") as f:  # the half-written line completes, and another epoch follows
        f.write('ation", "epoch": 1, "validation/pr_auc": 0.52}\n')
    assert read_validation_scores(log, "pr_auc", offset) == ([(1, 0.52)], log.stat().st_size)


def test_the_base_config_as_parameters_reads_back_as_the_base_config():
    base = load_config(CONFIG)  # lr 1e-3, r 8, alpha 16, target_modules [auto]
    space = {"train.lr": {"low": 1.0e-4, "high": 2.0e-3, "log": True}, "lora.r": {"choices": [4, 8]},
             "lora.alpha": {"choices": [1, 2], "times": "lora.r"},
             "lora.target_modules": {"choices": [["query", "value"], ["auto"]]}}
    params = base_params(space, base)
    assert params == {"train.lr": 1e-3, "lora.r": 8, "lora.alpha": 2, "lora.target_modules": '["auto"]'}
    assert suggest_values(optuna.trial.FixedTrial(params), space, base) == {
        "train.lr": base.train.lr, "lora.r": base.lora.r, "lora.alpha": base.lora.alpha,
        "lora.target_modules": base.lora.target_modules}
    assert base_params({**space, "train.lr": {"low": 2e-3, "high": 5e-3}}, base) is None  # lr outside the range
    assert base_params({**space, "lora.r": {"choices": [4, 16]}}, base) is None


@pytest.fixture()
def tiny_setup(tiny_model_dir, credit_file, tmp_path):
    overrides = [o for o in tiny_overrides(tiny_model_dir, credit_file, tmp_path / "final") if "epochs" not in o]
    return overrides + ["train.epochs=2", "train.max_steps=2", "train.checkpoint_every=1", "model.max_chunks=1",
                        "eval.explain_examples=2"]


def test_tune_resumes_up_to_the_budget_and_writes_a_loadable_best_config(tiny_setup, tmp_path):
    out = tmp_path / "study"
    first = tune(CONFIG, tiny_setup, out, TuneBudget(trials=1), SMALL_SPACE)
    assert first["trials"] == 1
    second = tune(CONFIG, tiny_setup, out, TuneBudget(trials=2), SMALL_SPACE)  # the same command, a larger budget
    assert second["trials"] == 2

    study = optuna.load_study(study_name="finrisk-tune", storage=optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(out / "study.journal"))))
    scores = {t.number: t.value for t in study.trials}
    assert all(0.0 <= s <= 1.0 for s in scores.values())
    for number, score in scores.items():
        run = out / f"trial-{number:04d}"
        metrics = json.loads((run / "metrics.json").read_text())
        assert selection_score(metrics) == score
        assert (run / "model").is_dir() and not (run / "checkpoints").exists()  # checkpoints go, the model stays
        assert load_config(run / "config.yaml").eval.explain_examples == 0
    assert second["best_score"] == max(scores.values())

    best = load_config(out / "best.yaml")
    values = second["best_values"]
    assert (best.train.lr, best.lora.r, best.lora.alpha) == (values["train.lr"], values["lora.r"], values["lora.alpha"])
    assert values["lora.alpha"] in (values["lora.r"], 2 * values["lora.r"])
    assert best.output_dir == str(tmp_path / "final") and best.eval.explain_examples == 2  # the user's, not a trial's
    rows = [ln for ln in (out / "trials.md").read_text().splitlines() if re.match(r"\| \d+ \|", ln)]
    assert [r.split("|")[2].strip() for r in rows] == ["complete"] * 2
    # The study starts from the config it was given (tiny overrides: lr 5e-3, r 4, alpha 8), then searches.
    assert study.trials[0].user_attrs["values"] == {"train.lr": 5e-3, "lora.r": 4, "lora.alpha": 8}
    assert rows[0].rstrip(" |").endswith("base config")
    assert yaml.safe_load((out / "space.yaml").read_text()) == SMALL_SPACE

    with pytest.raises(ConfigError, match=re.escape("belongs to a study with another space; rerun it with the same")):
        tune(CONFIG, tiny_setup, out, TuneBudget(trials=3), {"train.lr": SMALL_SPACE["train.lr"]})


def test_a_crashing_trial_fails_alone_with_its_log(tiny_setup, tmp_path):
    out = tmp_path / "study"
    missing = tmp_path / "nowhere.jsonl"
    with pytest.raises(FinriskError, match=re.escape(f"no trial of {out} finished; see the train.log of each")):
        tune(CONFIG, [*tiny_setup, f"data.train_file={missing}"], out, TuneBudget(trials=1), SMALL_SPACE)
    log = (out / "trial-0000" / "train.log").read_text()
    assert str(missing) in log
    assert "| 0 | fail |" in (out / "trials.md").read_text()


def test_the_tune_parent_process_never_loads_torch(tiny_setup, tmp_path):
    """Trials train in child processes; the parent only proposes values and reads results, so it never pays
    torch's import (nor its memory) for the whole study."""
    space = tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump({"train.lr": SMALL_SPACE["train.lr"]}))
    argv = ["tune", "--config", str(CONFIG), "--trials", "1", "--out", str(tmp_path / "study"), "--space", str(space),
            *tiny_setup]
    code = ("import sys; from finrisk_nlp.cli.main import main; code = main(sys.argv[1:]); "
            "heavy = sorted({'torch', 'accelerate', 'peft'} & set(sys.modules)); "
            "print('heavy', heavy, file=sys.stderr); sys.exit(code or (3 if heavy else 0))")
    result = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "heavy []" in result.stderr
    assert (tmp_path / "study" / "trial-0000" / "metrics.json").is_file()  # a trial really trained


def test_cli_requires_a_budget(tmp_path, caplog):
    from finrisk_nlp.cli.main import main

    assert main(["tune", "--out", str(tmp_path / "study")]) == 2
    assert "finrisk tune needs a budget: --trials N" in caplog.text
