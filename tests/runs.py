"""Trained run directories for tests that need one: the real recipe, in-process, on the tiny model (seconds)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import REPO, make_credit_records, tiny_overrides, write_jsonl

# The top level of every run's metrics.json, whatever its number of tasks (finrisk_nlp.evaluation.run_metrics).
RUN_KEYS = {"tasks", "primary_metric", "validation", "test", "best_score", "strategy", "best_epoch", "parameters",
            "world_size", "optimizer_steps", "micro_batches", "train_seconds", "epochs", "epoch_curve", "stopped_by",
            "pii_redactions"}


def train_tiny_run(tiny_model_dir: Path, out_dir: Path, *extra: str, data: Path | None = None) -> Path:
    """Run recipes/configs/credit_text.yaml for one epoch; ``out_dir`` becomes the run directory."""
    from finrisk_nlp.cli.recipe import run_recipe

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    data = data or write_jsonl(out_dir.parent / f"{out_dir.name}-loans.jsonl", make_credit_records())
    config = REPO / "recipes" / "configs" / "credit_text.yaml"
    assert run_recipe(tiny_overrides(tiny_model_dir, data, out_dir) + ["train.epochs=1", *extra], config) == 0
    return out_dir


def launch_two_cpu_processes(recipe: str, overrides: list[str], out_dir: Path, cwd: Path) -> dict:
    """``accelerate launch --config_file accelerate_configs/cpu.yaml recipes/<recipe>.py``; asserts from what the run
    wrote (not from the exit code) that two processes took part, and returns its metrics.json."""
    accelerate = str(Path(sys.executable).with_name("accelerate"))
    cmd = [accelerate, "launch", "--config_file", str(REPO / "accelerate_configs" / "cpu.yaml"),
           str(REPO / "recipes" / f"{recipe}.py"), *overrides]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=cwd,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-4000:]
    info = json.loads((out_dir / "run_info.json").read_text())
    assert info["num_processes"] == 2 and "MULTI_CPU" in info["distributed_type"]
    metrics = json.loads((out_dir / "metrics.json").read_text())
    assert metrics["world_size"] == 2
    return metrics


def kill_once_a_part_is_written(cmd: list[str], parts: Path, env: dict[str, str], timeout: float) -> bool:
    """Start a scoring command and SIGKILL it as soon as its first part file exists; True when the kill landed
    (the run had not already finished)."""
    import signal
    import time

    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline and not list(parts.glob("part-*.parquet")):
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    return proc.returncode == -signal.SIGKILL
