"""The ``Accelerator`` of a training run: device, mixed precision, accumulation, trackers, CPU threads.

    accelerate launch --mixed_precision bf16 recipes/credit_text.py          # train.mixed_precision=auto follows it
    accelerate launch --config_file accelerate_configs/fsdp.yaml recipes/credit_text.py
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator, DataLoaderConfiguration
from accelerate.logging import get_logger
from accelerate.utils import GradientAccumulationPlugin, ProjectConfiguration

from finrisk_nlp.config import RecipeConfig

logger = get_logger(__name__)


def mixed_precision(cfg: RecipeConfig) -> str | None:
    """``train.mixed_precision``; with ``auto``: what ``accelerate launch --mixed_precision`` (or its config file)
    asked for, else bf16 (or fp16) on a GPU and none on CPU. None lets Accelerate read its launcher's setting."""
    if cfg.train.mixed_precision != "auto":
        return cfg.train.mixed_precision
    if os.environ.get("ACCELERATE_MIXED_PRECISION"):
        return None
    if cfg.cpu or not torch.cuda.is_available():
        return "no"
    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


def build_accelerator(cfg: RecipeConfig, kwargs_handlers: list[Any] | None = None) -> Accelerator:
    """Accumulation counts micro-batches, not loader ends (``sync_with_dataloader=False``): the engine gives every
    epoch a whole number of optimizer steps, so task loaders of different lengths never cut a step short."""
    output_dir = Path(cfg.output_dir)
    accelerator = Accelerator(
        cpu=cfg.cpu,
        mixed_precision=mixed_precision(cfg),
        gradient_accumulation_plugin=GradientAccumulationPlugin(
            num_steps=cfg.train.grad_accum_steps, sync_with_dataloader=False),
        log_with=cfg.log_with or None,
        project_config=ProjectConfiguration(project_dir=str(output_dir), logging_dir=str(output_dir / "logs")),
        dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True),
        kwargs_handlers=kwargs_handlers,
    )
    warn_if_cpu_cores_idle(accelerator)
    return accelerator


def available_cpu_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one, else all of them)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def warn_if_cpu_cores_idle(accelerator: Accelerator) -> None:
    # `accelerate launch` without --cpu sets OMP_NUM_THREADS=1, which halves CPU training speed on a 2-core laptop.
    cores = available_cpu_cores()
    if (accelerator.device.type == "cpu" and os.environ.get("OMP_NUM_THREADS") == "1"
            and torch.get_num_threads() == 1 and cores > accelerator.num_processes):
        logger.warning(
            f"each of the {accelerator.num_processes} process(es) uses 1 CPU thread of {cores} cores "
            "(OMP_NUM_THREADS=1, set by `accelerate launch` by default); for faster CPU runs pass "
            f"`accelerate launch --num_cpu_threads_per_process {cores // accelerator.num_processes}`"
        )
