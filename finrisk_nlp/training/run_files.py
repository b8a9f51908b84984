"""What a training run writes beside its model: ``metrics.jsonl`` events and ``run_info.json``; whose folder it is.

    accelerate launch recipes/credit_text.py      # RUN_DIR/{config.yaml,run_info.json,metrics.jsonl,metrics.json}
    accelerate launch recipes/credit_text.py output_dir=runs/x train.overwrite=true   # a folder holding other files
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator

from finrisk_nlp.config import RecipeConfig
from finrisk_nlp.errors import ConfigError
from finrisk_nlp.provenance import git_commit
from finrisk_nlp.version import __version__

# Everything a run writes at the top of its output_dir; config.yaml is written first and marks a finrisk run.
RUN_FILES = ("config.yaml", "run_info.json", "metrics.jsonl", "metrics.json", "report.md", "fairness.md")
RUN_FOLDERS = ("checkpoints", "model", "model_merged", "report", "reports", "logs")


def check_output_dir(cfg: RecipeConfig, output_dir: Path) -> list[str]:
    """Whether this run may write into ``output_dir``; returns the earlier run's entries (a fresh run replaces them).

    A folder holding anything a run does not write (the user's own files) is refused unless
    ``train.overwrite=true``: the run would replace ``model/`` among them. A folder of an earlier run is continued
    with ``train.resume`` (whose checkpoint must match this config, see
    :func:`finrisk_nlp.training.checkpoints.resolve_resume`) or replaced whole by a fresh run, so that two runs'
    checkpoints, logs and models never mix.

    Raises:
        ConfigError: for a path that is a file, or a folder of other files without ``train.overwrite=true``.
    """
    if not output_dir.exists():
        return []
    if not output_dir.is_dir():
        raise ConfigError([f"output_dir={str(output_dir)!r} is a file, not a folder; name a new folder for the run"])
    entries = sorted(p.name for p in output_dir.iterdir())
    ours = [e for e in entries if e in RUN_FILES + RUN_FOLDERS]
    # Without config.yaml (written first by every run) even a folder named model/ is the user's own.
    foreign = [e for e in entries if e not in ours or "config.yaml" not in ours]
    if foreign and not cfg.train.overwrite:
        shown = ", ".join(foreign[:5]) + (" ..." if len(foreign) > 5 else "")
        raise ConfigError([
            f"output_dir={str(output_dir)!r} holds files a training run did not write ({shown}); the run would "
            "replace model/ and checkpoints/ there. Choose a new or empty folder, or set train.overwrite=true to "
            "train there anyway (files a run does not write are left alone)"])
    return ours


def clear_earlier_run(output_dir: Path, entries: list[str]) -> None:
    """Remove an earlier run's files (from :func:`check_output_dir`) before a fresh run writes its own."""
    for name in entries:
        path = output_dir / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


class MetricsLog:
    """Appends one JSON object per event to ``metrics.jsonl`` and forwards scalars to Accelerate trackers."""

    def __init__(self, accelerator: Accelerator, path: Path) -> None:
        self.accelerator = accelerator
        self.path = path

    def log(self, record: dict[str, Any], step: int) -> None:
        if self.accelerator.is_main_process:
            with self.path.open("a") as f:
                f.write(json.dumps({"step": step, "time": time.time(), **record}) + "\n")
        scalars = {k: v for k, v in record.items() if isinstance(v, int | float) and not isinstance(v, bool)}
        self.accelerator.log(scalars, step=step)


def scalar_metrics(metrics: dict[str, Any], prefix: str) -> dict[str, float]:
    """The float entries of a metrics dict, keys prefixed (``validation/macro_f1``)."""
    return {f"{prefix}/{k}": v for k, v in metrics.items() if isinstance(v, float)}


def run_info(cfg: RecipeConfig, accelerator: Accelerator, tasks: list[str], params: dict[str, int],
             started: float) -> dict[str, Any]:
    """Where and how the run ran: processes, device, precision, versions, commit."""
    import accelerate
    import peft
    import transformers

    return {
        "task": tasks[0] if len(tasks) == 1 else "multitask",
        "tasks": tasks,
        "num_processes": accelerator.num_processes,
        "distributed_type": str(accelerator.distributed_type),
        "device": str(accelerator.device),
        "mixed_precision": accelerator.mixed_precision,
        "gradient_accumulation_steps": accelerator.gradient_accumulation_steps,
        "seed": cfg.seed,
        "parameters": params,
        "started_at": started,
        "versions": {
            "finrisk_nlp": __version__, "torch": torch.__version__, "transformers": transformers.__version__,
            "peft": peft.__version__, "accelerate": accelerate.__version__,
        },
        "git_commit": git_commit(),
    }


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested config as ``{"train.lr": ...}`` with tracker-friendly values."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value if isinstance(value, int | float | str | bool) else str(value)
    return out
