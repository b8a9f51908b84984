"""`accelerate launch` with two real CPU processes, as a user runs it."""

import json

import pytest
from conftest import REPO, make_credit_records, tiny_overrides, write_jsonl
from runs import launch_two_cpu_processes

from finrisk_nlp.evaluation.run_metrics import task_view


@pytest.mark.e2e
def test_two_process_cpu_training(tmp_path, tiny_model_dir):
    # 49 rows -> 13 validation / 12 test rows: odd counts that do not split evenly over 2 processes.
    data = write_jsonl(tmp_path / "loans.jsonl", make_credit_records(49))
    out = tmp_path / "run"
    overrides = [*tiny_overrides(tiny_model_dir, data, out), "train.epochs=2",
                 "data.validation_fraction=0.27", "data.test_fraction=0.25"]
    metrics = task_view(launch_two_cpu_processes("credit_text", overrides, out, cwd=tmp_path))
    # every evaluation example counted exactly once, although 13 rows do not shard evenly over 2 processes
    from finrisk_nlp.config import load_config
    from finrisk_nlp.data.tables import load_splits
    from finrisk_nlp.tasks import get_task

    cfg = load_config(REPO / "recipes" / "configs" / "credit_text.yaml", overrides)
    _, splits = load_splits(cfg.data, get_task(cfg.task), cfg.seed)
    assert len(splits["validation"]) % 2 == 1 and len(splits["test"]) % 2 == 1
    assert metrics["validation"]["num_examples"] == len(splits["validation"])
    assert metrics["test"]["num_examples"] == len(splits["test"])
    assert sum(c["support"] for c in metrics["test"]["per_class"].values()) == len(splits["test"])
    assert (out / "model" / "adapters" / "shared" / "adapter_model.safetensors").is_file()
    assert not list(out.glob(".model*")), "no temporary model directories may be left behind"
    # only one process writes logs: one line per optimizer step, no duplicates
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()
             if json.loads(line)["event"] == "train"]
    assert steps == sorted(set(steps))
