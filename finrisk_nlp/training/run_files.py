"""What a training run writes beside its model: ``metrics.jsonl`` events and ``run_info.json``.

    accelerate launch recipes/credit_text.py      # RUN_DIR/{config.yaml,run_info.json,metrics.jsonl,metrics.json}
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator

from finrisk_nlp import __version__
from finrisk_nlp.config import RecipeConfig
from finrisk_nlp.provenance import git_commit


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
