"""`accelerate launch` with two real CPU processes, as a user runs it."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, make_credit_records, tiny_overrides, write_jsonl

ACCELERATE = str(Path(sys.executable).with_name("accelerate"))


@pytest.mark.e2e
def test_two_process_cpu_training(tmp_path, tiny_model_dir):
    # 49 rows -> 13 validation / 12 test rows: odd counts that do not split evenly over 2 processes.
    data = write_jsonl(tmp_path / "loans.jsonl", make_credit_records(49))
    out = tmp_path / "run"
    cmd = [ACCELERATE, "launch", "--config_file", str(REPO / "accelerate_configs" / "cpu.yaml"),
           str(REPO / "recipes" / "credit_text.py"), *tiny_overrides(tiny_model_dir, data, out), "train.epochs=2",
           "data.validation_fraction=0.27", "data.test_fraction=0.25"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-4000:]
    info = json.loads((out / "run_info.json").read_text())
    assert info["num_processes"] == 2 and "MULTI_CPU" in info["distributed_type"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["world_size"] == 2
    # every evaluation example counted exactly once, although 13 rows do not shard evenly over 2 processes
    from finrisk_nlp.config import load_config
    from finrisk_nlp.data import load_splits
    from finrisk_nlp.tasks import get_task

    overrides = [a for a in cmd if "=" in a and not a.startswith("-")]
    cfg = load_config(REPO / "recipes" / "configs" / "credit_text.yaml", overrides)
    _, splits = load_splits(cfg.data, get_task(cfg.task), cfg.seed)
    assert len(splits["validation"]) % 2 == 1 and len(splits["test"]) % 2 == 1
    assert metrics["validation"]["num_examples"] == len(splits["validation"])
    assert metrics["test"]["num_examples"] == len(splits["test"])
    assert sum(c["support"] for c in metrics["test"]["per_class"].values()) == len(splits["test"])
    assert (out / "model" / "adapter_model.safetensors").is_file()
    assert not list(out.glob(".model*")), "no temporary model directories may be left behind"
    # only one process writes logs: one line per optimizer step, no duplicates
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()
             if json.loads(line)["event"] == "train"]
    assert steps == sorted(set(steps))
