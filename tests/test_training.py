import json
import os
import subprocess
import sys

import pytest
import torch
from conftest import REPO, make_credit_records, tiny_overrides, write_jsonl
from runs import RUN_KEYS

from finrisk_nlp.cli.main import main as cli_main
from finrisk_nlp.cli.recipe import run_recipe
from finrisk_nlp.evaluation.run_metrics import task_view
from finrisk_nlp.inference.predictor import Predictor

RECIPE = REPO / "recipes" / "credit_text.py"
CONFIG = REPO / "recipes" / "configs" / "credit_text.yaml"


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, request):
    tiny = request.getfixturevalue("tiny_model_dir")
    tmp = tmp_path_factory.mktemp("run")
    data = write_jsonl(tmp / "loans.jsonl", make_credit_records(64))
    out = tmp / "run"
    # A random tiny encoder learns the cue quickly only when all of it trains; LoRA mechanics are tested elsewhere.
    learnable = ["lora.enabled=false", "train.lr=3e-3", "train.epochs=6", "train.batch_size=8"]
    assert run_recipe(tiny_overrides(tiny, data, out) + learnable, CONFIG) == 0
    return out


def test_run_learns_and_writes_everything(trained_run):
    names = {p.name for p in trained_run.iterdir()}
    assert {"config.yaml", "run_info.json", "metrics.json", "metrics.jsonl", "model", "checkpoints"} <= names
    losses = [r["loss"] for r in read_jsonl(trained_run / "metrics.jsonl") if r["event"] == "train"]
    assert len(losses) == 24 and all(loss == loss for loss in losses)  # one per optimizer step, finite
    assert sum(losses[-6:]) / 6 < sum(losses[:6]) / 6
    saved = json.loads((trained_run / "metrics.json").read_text())
    assert set(saved) == RUN_KEYS and list(saved["tasks"]) == ["credit_text"]  # the shape of a three-task run's
    assert saved["test"]["mean_primary"] == saved["tasks"]["credit_text"]["test"]["pr_auc"]
    metrics = task_view(saved)
    assert metrics["test"]["num_examples"] == 16 and metrics["validation"]["num_examples"] == 16
    assert metrics["validation"]["pr_auc"] > 0.6  # a third of the rows are positive: 0.33 is chance
    assert set(metrics["test"]["per_class"]) == {"repaid", "default"}
    assert metrics["world_size"] == 1 and metrics["primary_metric"] == "pr_auc"
    assert json.loads((trained_run / "run_info.json").read_text())["num_processes"] == 1


def test_predict_loads_the_run_and_keeps_label_names(trained_run, capsys):
    predictor = Predictor.load(trained_run)
    results = predictor.predict(["missed payments, high debt.", "steady salary, good savings."])
    assert all(r["label"] in {"repaid", "default"} for r in results)
    assert results[0]["probabilities"]["default"] > results[1]["probabilities"]["default"]
    assert set(results[0]["probabilities"]) == {"repaid", "default"}
    assert cli_main(["predict", str(trained_run), "medical bills, lost job.", "--json"]) == 0
    line = json.loads(capsys.readouterr().out.splitlines()[0])
    assert line["label"] in {"repaid", "default"} and abs(sum(line["probabilities"].values()) - 1) < 1e-5


def test_bad_data_exits_2_and_writes_no_model(tmp_path, tiny_model_dir, caplog):
    rows = make_credit_records(20)
    rows[3]["outcome"] = "charged_off"
    data = write_jsonl(tmp_path / "bad.jsonl", rows)
    assert run_recipe(tiny_overrides(tiny_model_dir, data, tmp_path / "out"), CONFIG) == 2
    assert "row 4 ('charged_off')" in caplog.text
    assert not (tmp_path / "out" / "model").exists()


def test_bad_config_exits_2_from_the_command_line(tmp_path):
    result = subprocess.run([sys.executable, str(RECIPE), "train.epochz=1"], capture_output=True, text=True,
                            cwd=tmp_path)
    assert result.returncode == 2
    assert "train.epochz: unknown key; did you mean 'train.epochs'?" in result.stderr


def _run(args, env=None):
    return subprocess.run([sys.executable, str(RECIPE), *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=300)


def test_killed_run_resumes_to_the_same_result(tmp_path, tiny_model_dir):
    data = write_jsonl(tmp_path / "loans.jsonl", make_credit_records(48))
    common = ["train.checkpoint_every=4", "train.epochs=3", "train.lr=2e-2", "lora.dropout=0.1"]
    clean = _run(tiny_overrides(tiny_model_dir, data, tmp_path / "clean") + common)
    assert clean.returncode == 0, clean.stderr[-3000:]

    # 6 optimizer steps per epoch: killed at step 10 (mid epoch 1), the newest checkpoint is step 8.
    crashed = subprocess.run([sys.executable, str(REPO / "tests" / "kill_after_step.py"), "10",
                              *tiny_overrides(tiny_model_dir, data, tmp_path / "resumed"), *common],
                             capture_output=True, text=True, timeout=300)
    assert crashed.returncode == -9
    assert not (tmp_path / "resumed" / "metrics.json").exists()
    assert sorted(p.name for p in (tmp_path / "resumed" / "checkpoints").iterdir())[-1] == "step-0000008"

    resumed = _run(tiny_overrides(tiny_model_dir, data, tmp_path / "resumed") + common + ["train.resume=latest"])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resumed from" in resumed.stderr
    a = json.loads((tmp_path / "clean" / "metrics.json").read_text())
    b = json.loads((tmp_path / "resumed" / "metrics.json").read_text())
    for split in ("validation", "test"):
        for key in ("accuracy", "macro_f1", "roc_auc", "pr_auc"):
            expected = a["tasks"]["credit_text"][split][key]
            assert b["tasks"]["credit_text"][split][key] == pytest.approx(expected, abs=1e-6), (split, key)
    assert b["best_epoch"] == a["best_epoch"]
    from safetensors.torch import load_file

    for weights in ("adapters/shared/adapter_model.safetensors", "heads.safetensors"):
        wa = load_file(tmp_path / "clean" / "model" / weights)
        wb = load_file(tmp_path / "resumed" / "model" / weights)
        for name in wa:
            assert (wa[name] - wb[name]).abs().max().item() < 1e-6, name


def test_a_checkpoint_from_elsewhere_is_refused_before_anything_is_unpickled(tmp_path, tiny_model_dir, caplog):
    data = write_jsonl(tmp_path / "loans.jsonl", make_credit_records(48))
    common = ["train.checkpoint_every=4", "train.epochs=1", "eval.explain_examples=0"]
    assert run_recipe(tiny_overrides(tiny_model_dir, data, tmp_path / "a") + common, CONFIG) == 0
    assert run_recipe(tiny_overrides(tiny_model_dir, data, tmp_path / "b") + common, CONFIG) == 0
    # A checkpoint copied in from another run (or changed since it was written) holds pickles this run never wrote.
    foreign = tmp_path / "a" / "checkpoints" / "step-0000004"
    target = tmp_path / "b" / "checkpoints" / "step-0000004"
    (target / "random_states_0.pkl").write_bytes((foreign / "random_states_0.pkl").read_bytes() + b"tampered")
    argv = tiny_overrides(tiny_model_dir, data, tmp_path / "b") + common + [f"train.resume={target}"]
    assert run_recipe(argv, CONFIG) == 2
    assert "is not a checkpoint this run wrote, or its files changed since" in caplog.text
    caplog.clear()
    argv[-1] = f"train.resume={foreign}"
    assert run_recipe(argv, CONFIG) == 2
    assert "is not a checkpoint this run wrote" in caplog.text


def test_single_cpu_thread_from_accelerate_launch_is_flagged_with_the_fix(tmp_path, monkeypatch, caplog):
    import logging

    from finrisk_nlp.config import load_config
    from finrisk_nlp.training.accelerator import available_cpu_cores, build_accelerator

    if available_cpu_cores() < 2:
        pytest.skip("needs a machine with at least 2 cores")
    cfg = load_config(REPO / "recipes/configs/credit_text.yaml", [f"output_dir={tmp_path}", "cpu=true"])
    threads = torch.get_num_threads()
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    try:
        torch.set_num_threads(1)
        with caplog.at_level(logging.WARNING, logger="finrisk_nlp.training.engine"):
            build_accelerator(cfg)
        assert "--num_cpu_threads_per_process" in caplog.text
        torch.set_num_threads(2)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="finrisk_nlp.training.engine"):
            build_accelerator(cfg)
        assert "num_cpu_threads_per_process" not in caplog.text
    finally:
        torch.set_num_threads(threads)


def test_a_calibration_split_fits_calibration_and_threshold_apart_from_validation(tmp_path, tiny_model_dir):
    data = write_jsonl(tmp_path / "loans.jsonl", make_credit_records(80))
    out = tmp_path / "run"
    argv = tiny_overrides(tiny_model_dir, data, out) + ["data.calibration_fraction=0.15", "train.epochs=1",
                                                        "threshold.conformal_alpha=0.3"]
    assert run_recipe(argv, CONFIG) == 0
    metrics = task_view(json.loads((out / "metrics.json").read_text()))
    rows = metrics["splits"]["rows"]
    assert set(rows) == {"train", "validation", "calibration", "test"} and rows["calibration"] > 0
    assert metrics["calibration"]["fitted_on"] == "calibration"
    assert metrics["calibration"]["num_examples"] == rows["calibration"]
    assert metrics["validation"]["num_examples"] == rows["validation"]  # the epoch is chosen on validation only
    assert metrics["fitted"] == {"epoch_selection": f"validation ({rows['validation']} rows)",
                                 "calibration": f"calibration ({rows['calibration']} rows)",
                                 "threshold": f"calibration ({rows['calibration']} rows)",
                                 "conformal": f"calibration ({rows['calibration']} rows), calibrated out of fold",
                                 "test": f"test ({rows['test']} rows): used for nothing but the reported metrics"}
    report = (out / "report.md").read_text()
    assert "fitted on calibration" in report and "tuned on calibrated calibration probabilities" in report
    assert "| calibration raw | calibration calibrated (cross-validated) |" in report
