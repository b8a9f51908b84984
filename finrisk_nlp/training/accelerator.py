"""The ``Accelerator`` of a training run: device, mixed precision, accumulation, trackers, CPU threads.

    accelerate launch --mixed_precision bf16 recipes/credit_text.py          # train.mixed_precision=auto follows it
    accelerate launch recipes/credit_text.py train.mixed_precision=auto     # bf16 on a CPU with AVX512_BF16/AMX
    accelerate launch --config_file accelerate_configs/fsdp.yaml recipes/credit_text.py
    accelerate launch --config_file accelerate_configs/deepspeed_zero2.yaml recipes/credit_text.py \\
        train.grad_accum_steps=4

``train.grad_accum_steps`` and ``train.max_grad_norm`` are the only source of accumulation and clipping in every
mode: DeepSpeed gets them through its plugin (it clips and counts micro-batches itself), and a launcher or DeepSpeed
JSON value that disagrees is an error rather than a silent override.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator, DataLoaderConfiguration
from accelerate.logging import get_logger
from accelerate.utils import (
    DeepSpeedPlugin,
    DistributedType,
    GradientAccumulationPlugin,
    ProjectConfiguration,
    parse_flag_from_env,
)

from finrisk_nlp.config import RecipeConfig
from finrisk_nlp.errors import ConfigError
from finrisk_nlp.precision import resolve_precision

logger = get_logger(__name__)


def mixed_precision(cfg: RecipeConfig) -> str | None:
    """``train.mixed_precision``; with ``auto``: the reduced precision ``accelerate launch --mixed_precision`` (or its
    config file) asked for, else bf16 (or fp16) on a GPU, and on CPU bf16 where it is native (AVX512_BF16/AMX, see
    :mod:`finrisk_nlp.precision`), else none. None lets Accelerate read its launcher's setting. The launcher's
    ``no`` is not a request: ``accelerate launch`` exports it whenever neither flag nor config file names a precision,
    so fp32 on a bf16-capable machine takes ``train.mixed_precision=no``. bf16 autocast keeps fp32 master weights
    and optimizer state; only matmuls run in bf16."""
    on_cpu = cfg.cpu or not torch.cuda.is_available()
    if cfg.train.mixed_precision != "auto":
        if on_cpu and cfg.train.mixed_precision == "bf16":
            resolve_precision("bf16", "cpu")  # warns when the CPU emulates bf16
        return cfg.train.mixed_precision
    if os.environ.get("ACCELERATE_MIXED_PRECISION", "no").lower() != "no":
        return None
    if on_cpu:
        return "bf16" if resolve_precision("auto", "cpu") == "bf16" else "no"
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
        deepspeed_plugin=deepspeed_plugin(cfg),
        log_with=cfg.log_with or None,
        project_config=ProjectConfiguration(project_dir=str(output_dir), logging_dir=str(output_dir / "logs")),
        # Batches from pinned memory (the loaders pin it on CUDA) are copied while the GPU still computes; a no-op
        # on CPU.
        dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True, non_blocking=True),
        kwargs_handlers=kwargs_handlers,
    )
    check_launch_mode(accelerator)
    warn_if_cpu_cores_idle(accelerator)
    return accelerator


def deepspeed_plugin(cfg: RecipeConfig) -> DeepSpeedPlugin | None:
    """The DeepSpeed plugin of a run launched with DeepSpeed (None otherwise), accumulating and clipping as
    ``train.grad_accum_steps`` / ``train.max_grad_norm`` say.

    Accelerate would otherwise take DeepSpeed's own values (1 and 1.0 unless configured) and let them override the
    run's accumulation at ``prepare`` with only a warning, so the engine's step count and DeepSpeed's would differ.

    Raises:
        ConfigError: when the launcher (``deepspeed_config`` in the accelerate config,
            ``--gradient_accumulation_steps``, ``--gradient_clipping``) or a DeepSpeed JSON file sets another number.
    """
    if not parse_flag_from_env("ACCELERATE_USE_DEEPSPEED"):
        return None
    wanted = {"gradient_accumulation_steps": (cfg.train.grad_accum_steps, "train.grad_accum_steps"),
              "gradient_clipping": (cfg.train.max_grad_norm, "train.max_grad_norm")}
    problems = []
    for key, (value, option) in wanted.items():
        given = os.environ.get(f"ACCELERATE_{key.upper()}", "auto")
        if given != "auto" and float(given) != float(value):
            problems.append(f"the accelerate config (deepspeed_config.{key}) or launcher (--{key}) says {given} but "
                            f"{option}={value}; remove it from the accelerate config (it follows {option})")
    plugin = DeepSpeedPlugin(gradient_accumulation_steps=cfg.train.grad_accum_steps,
                             gradient_clipping=cfg.train.max_grad_norm)
    for key, (value, option) in wanted.items():
        given = plugin.deepspeed_config.get(key)
        if given not in (None, "auto") and float(given) != float(value) and not problems:
            problems.append(f"the DeepSpeed config file sets {key}={given} but {option}={value}; set it to \"auto\" "
                            f"in the JSON file (it then follows {option})")
    if problems:
        raise ConfigError(problems)
    return plugin


def check_launch_mode(accelerator: Accelerator) -> None:
    """Refuse a run whose launcher asked for FSDP or DeepSpeed that the processes did not get.

    Accelerate turns FSDP and DeepSpeed on only for processes on GPUs (or other accelerators): with ``cpu=true`` the
    same launch silently becomes plain data parallelism, and a user reading the config would believe otherwise.
    """
    for mode, flag in ((DistributedType.FSDP, "ACCELERATE_USE_FSDP"),
                       (DistributedType.DEEPSPEED, "ACCELERATE_USE_DEEPSPEED")):
        if parse_flag_from_env(flag) and accelerator.distributed_type != mode:
            raise ConfigError([
                f"accelerate launch asked for {mode.value} ({flag}=true) but these processes run as "
                f"{accelerator.distributed_type.value} on {accelerator.device}: accelerate starts {mode.value} only "
                "on GPUs, never with cpu=true. On a CPU machine launch with accelerate_configs/cpu.yaml (plain data "
                "parallelism); on a GPU machine drop cpu=true"])


def check_accumulation(accelerator: Accelerator, cfg: RecipeConfig) -> None:
    """After ``prepare``: the accelerator still accumulates ``train.grad_accum_steps`` micro-batches per step (the
    engine counts optimizer steps and epochs with that number)."""
    if accelerator.gradient_accumulation_steps != cfg.train.grad_accum_steps:
        raise ConfigError([
            f"train.grad_accum_steps={cfg.train.grad_accum_steps} but the prepared accelerator accumulates "
            f"{accelerator.gradient_accumulation_steps} micro-batches per step ({accelerator.distributed_type.value} "
            "config); set gradient_accumulation_steps to auto in the launcher's config"])


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
