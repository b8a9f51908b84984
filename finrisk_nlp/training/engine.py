"""The one training loop: LoRA (or full) fine-tuning of document classifiers for one or several tasks.

Used by every training recipe and by ``finrisk train``::

    accelerate launch recipes/credit_text.py                                      # one task, defaults
    accelerate launch recipes/multitask.py                                        # three tasks, one encoder
    accelerate launch --config_file accelerate_configs/cpu.yaml recipes/credit_text.py cpu=true
    accelerate launch recipes/credit_text.py train.resume=latest                   # continue after a crash

:func:`train` reads top to bottom: data, model, one ``accelerator.prepare`` of model, optimizer and loaders (as
FSDP and DeepSpeed require), then epochs of micro-batches (each drawn from one task; accumulate -> backward ->
clip -> step), checkpoints, validation of every task after each epoch, best-model selection on the primary metric
(the mean of the tasks' primary metrics for several tasks), early stopping, and the final evaluation of
:mod:`finrisk_nlp.training.final`. A single-task run is the one-task case of the same loop.

A run directory holds ``config.yaml``, ``run_info.json``, ``metrics.jsonl`` (one line per log event),
``metrics.json`` (final), ``report.md`` with plots, ``checkpoints/step-N`` and ``model/`` (the best model with its
calibration and threshold, loadable with :func:`finrisk_nlp.modeling.load_model`).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.logging import get_logger
from accelerate.utils import DistributedDataParallelKwargs, set_seed
from tqdm.auto import tqdm

from finrisk_nlp.config import RecipeConfig, save_config
from finrisk_nlp.data.fields import FieldPreprocessor
from finrisk_nlp.data.redaction import counts_by_type
from finrisk_nlp.errors import ConfigError
from finrisk_nlp.evaluation.run_metrics import METRICS_FILE, run_metrics
from finrisk_nlp.modeling import ModelMetadata, build_model, count_parameters
from finrisk_nlp.modeling.build import encoder_problems
from finrisk_nlp.modeling.metadata import Head, TaskMetadata, Windows
from finrisk_nlp.provenance import write_json_atomic
from finrisk_nlp.tasks import Task
from finrisk_nlp.training.accelerator import build_accelerator, check_accumulation
from finrisk_nlp.training.checkpoints import TrainingState, load_checkpoint, resolve_resume
from finrisk_nlp.training.epochs import (
    STOP_CAP,
    STOP_EPOCHS,
    STOP_MAX_STEPS,
    EpochPlan,
    describe_stop,
    format_curve,
    plan_epochs,
)
from finrisk_nlp.training.final import evaluate_best, explain_examples, write_reports
from finrisk_nlp.training.loop import StepCallback, TrainingRun, end_epoch, save_best, train_epoch
from finrisk_nlp.training.optimizer import build_optimizer, build_scheduler
from finrisk_nlp.training.run_files import MetricsLog, check_output_dir, clear_earlier_run, flatten, run_info
from finrisk_nlp.training.schedule import TaskStreams, epoch_micro_batches, task_sampling_weights, task_schedule
from finrisk_nlp.training.task_data import TaskData, build_task_data, load_task_data

logger = get_logger(__name__)


def config_problems(cfg: RecipeConfig) -> list[str]:
    """Combinations that cannot train, and settings the encoder cannot honour, reported together before any work
    (``finrisk validate`` reports them too)."""
    problems = encoder_problems(cfg.model)
    if cfg.multitask.tasks:
        if cfg.data.train_file or cfg.data.validation_file or cfg.data.test_file or cfg.data.labels:
            problems.append("data.train_file/validation_file/test_file/labels: give files per task under "
                            "multitask.data.<task> instead")
        if cfg.multitask.strategy == "soft" and not cfg.lora.enabled:
            problems.append("multitask.strategy=soft switches LoRA adapters per task; set lora.enabled=true")
        if cfg.save_merged and cfg.multitask.strategy == "soft":
            problems.append("save_merged: a soft-sharing model keeps one adapter per task and cannot be merged into "
                            "one encoder; set save_merged=false or multitask.strategy=hard")
    return problems


def build_metadata(cfg: RecipeConfig, tasks: dict[str, Task],
                   fields: dict[str, FieldPreprocessor] | None = None) -> ModelMetadata:
    """``finrisk_model.json`` of the run's model, before calibration and thresholds are added.

    Args:
        fields: per task with structured fields, its fitted preprocessing.
    """
    fields = fields or {}
    windows = Windows(max_chunks=cfg.model.max_chunks, stride=cfg.model.stride)
    fusion = {"fusion": cfg.model.fusion, "field_dropout": cfg.model.field_dropout} if fields else {}
    head = Head(pooling=cfg.model.pooling, token_pooling=cfg.model.token_pooling,
                strategy=cfg.multitask.strategy if cfg.multitask.tasks else "hard",
                shared_adapter=cfg.multitask.shared_adapter, **fusion)
    entries = {name: TaskMetadata(task=task, windows=windows, redact_pii=cfg.data.redact_pii, fields=fields.get(name))
               for name, task in tasks.items()}
    return ModelMetadata(tasks=entries, base_model=cfg.model.name_or_path, max_length=cfg.model.max_length,
                         lora=cfg.lora.enabled, head=head)


def train(cfg: RecipeConfig, callbacks: list[StepCallback] | None = None) -> dict[str, Any]:
    """Fine-tune, select the best epoch on validation, calibrate and test it, and save it.

    Args:
        cfg: the recipe config.
        callbacks: called with the loop state after every optimizer step (progress hooks, tests).

    Returns:
        The final metrics (also written to ``RUN_DIR/metrics.json``): ``tasks.<name>`` for each task, the mean of
        the tasks' primary metrics under ``validation``/``test`` (:mod:`finrisk_nlp.evaluation.run_metrics`).

    Raises:
        ConfigError: for settings that cannot work together, or a checkpoint that is not this run's own.
    """
    problems = config_problems(cfg)
    if problems:
        raise ConfigError(problems)
    several = len(cfg.multitask.tasks) > 1
    # With several tasks a batch reaches one head (and, with soft sharing, one adapter): the rest get no gradient.
    accelerator = build_accelerator(cfg, [DistributedDataParallelKwargs(find_unused_parameters=True)]
                                    if several else None)
    started = time.time()
    set_seed(cfg.seed)
    output_dir = Path(cfg.output_dir)
    resume_from = _open_output_dir(cfg, accelerator, output_dir)

    splits = load_task_data(cfg, accelerator)
    tasks = {name: item.task for name, item in splits.items()}
    fitted = {name: item.fields for name, item in splits.items() if item.fields is not None}
    model, tokenizer = build_model(cfg.model, cfg.lora, tasks, strategy=cfg.multitask.strategy if several else "hard",
                                   shared_adapter=cfg.multitask.shared_adapter,
                                   fields={n: f.input_layout() for n, f in fitted.items()})
    data = build_task_data(cfg, splits, tokenizer, accelerator)
    params = count_parameters(model)
    meta = build_metadata(cfg, tasks, fitted)
    sizes = {name: len(item.splits["train"]) for name, item in data.items()}
    logger.info(
        f"tasks {sizes} (train rows); trainable parameters {params['trainable']:,} of {params['total']:,}; "
        f"{accelerator.num_processes} process(es) on {accelerator.device}, mixed precision "
        f"{accelerator.mixed_precision}", main_process_only=True)

    optimizer = build_optimizer(model, cfg.train)
    model, optimizer, data = _prepare(accelerator, model, optimizer, data)
    check_accumulation(accelerator, cfg)
    if cfg.train.compile:
        model = torch.compile(model)
    steps_per_epoch, micro_per_epoch = epoch_micro_batches({n: len(d.loaders["train"]) for n, d in data.items()},
                                                           cfg.train.grad_accum_steps)
    plan = plan_epochs(cfg.train, steps_per_epoch)
    task_weights = task_sampling_weights(sizes, cfg.multitask.sampling, cfg.multitask.temperature)
    if accelerator.is_main_process:
        write_json_atomic(output_dir / "run_info.json", run_info(cfg, accelerator, list(data), params, started))
    if cfg.log_with:
        accelerator.init_trackers(output_dir.name, config=flatten(cfg.to_dict()))

    streams = TaskStreams({n: d.loaders["train"] for n, d in data.items()}, accelerator,
                          {n: d.sampler for n, d in data.items()})
    state, session_started = TrainingState(), time.time()
    if resume_from is not None:
        state = load_checkpoint(accelerator, resume_from)
        streams.restore(state.streams)
    scheduler = build_scheduler(optimizer, plan, cfg.train, done_steps=state.global_step)
    progress = tqdm(total=plan.total_steps, initial=state.global_step, desc="training",
                    disable=not accelerator.is_local_main_process)
    run = TrainingRun(cfg, accelerator, model, tokenizer, optimizer, scheduler, data, streams, plan, meta,
                      MetricsLog(accelerator, output_dir / "metrics.jsonl"), progress, callbacks or [], output_dir,
                      earlier_seconds=state.train_seconds, session_started=session_started)
    model.train()
    stop = state.global_step >= plan.total_steps
    while state.epoch < plan.max_epochs and not stop:
        stop = train_epoch(run, state, task_schedule(task_weights, micro_per_epoch, cfg.seed, state.epoch))
        stop = end_epoch(run, state, stop)
    progress.close()
    _report_curve(accelerator, cfg, plan, state, tasks)
    if state.best_epoch < 0:  # the selection metric was undefined every epoch: keep the last model
        save_best(accelerator, model, tokenizer, meta, output_dir / "model")
    return _finish(accelerator, cfg, data, output_dir, state, params, started)


def _open_output_dir(cfg: RecipeConfig, accelerator: Accelerator, output_dir: Path) -> Path | None:
    """Check ``output_dir`` and the checkpoint to resume (returned); a fresh run replaces an earlier one whole, so
    runs never mix. Writes ``config.yaml``."""
    earlier = check_output_dir(cfg, output_dir)
    resume_from = resolve_resume(cfg, output_dir)
    accelerator.wait_for_everyone()  # every rank has looked at the folder before the main process changes it
    if accelerator.is_main_process:
        if resume_from is None and earlier:
            logger.warning(f"{output_dir} holds an earlier run; its {', '.join(earlier)} are replaced (continue it "
                           "instead with train.resume=latest)")
            clear_earlier_run(output_dir, earlier)
        output_dir.mkdir(parents=True, exist_ok=True)
        save_config(cfg, output_dir / "config.yaml")
    return resume_from


def _prepare(accelerator: Accelerator, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
             data: dict[str, TaskData]) -> tuple[torch.nn.Module, torch.optim.Optimizer, dict[str, TaskData]]:
    """One ``accelerator.prepare`` of the model, the optimizer and every task's loaders (FSDP2 shards model and
    optimizer together, DeepSpeed reads batch sizes from the loaders); each task comes back with its prepared
    loaders."""
    keys = [(name, split) for name, item in data.items() for split in item.loaders]
    model, optimizer, *loaders = accelerator.prepare(model, optimizer, *(data[n].loaders[s] for n, s in keys))
    prepared: dict[str, dict[str, Any]] = {name: {} for name in data}
    for (name, split), loader in zip(keys, loaders, strict=True):
        prepared[name][split] = loader
    return model, optimizer, {n: replace(item, loaders=MappingProxyType(prepared[n])) for n, item in data.items()}


def _report_curve(accelerator: Accelerator, cfg: RecipeConfig, plan: EpochPlan, state: TrainingState,
                  tasks: dict[str, Task]) -> None:
    """Name what ended a run that neither patience nor the time budget stopped; print the validation curve and
    why training stopped (the run's last words before the final evaluation)."""
    if state.stopped_by is None:
        max_steps_hit = cfg.train.max_steps is not None and state.global_step >= cfg.train.max_steps
        state.stopped_by = STOP_MAX_STEPS if max_steps_hit else STOP_CAP if plan.auto else STOP_EPOCHS
    metric = next(iter(tasks.values())).primary_metric if len(tasks) == 1 else "mean_primary"
    if state.curve:
        accelerator.print(format_curve(state.curve, metric, state.best_epoch))
    accelerator.print(describe_stop(state.stopped_by, cfg.train, plan))


def _finish(accelerator: Accelerator, cfg: RecipeConfig, data: dict[str, TaskData], output_dir: Path,
            state: TrainingState, params: dict[str, int], started: float) -> dict[str, Any]:
    per_task, inputs, best, tokenizer = evaluate_best(accelerator, cfg, data, output_dir)
    tasks = {n: d.task for n, d in data.items()}
    pii: Counter[str] = Counter()
    for name, item in data.items():
        pii.update(item.pii_counts)
        per_task[name]["validation"] = state.best_validation.get(name, {})
        per_task[name]["pii_redactions"] = counts_by_type(item.pii_counts) if cfg.data.redact_pii else None
    results = run_metrics(
        per_task, tasks, state.best_metric if state.best_epoch >= 0 else None,
        strategy=cfg.multitask.strategy, best_epoch=state.best_epoch, parameters=params,
        world_size=accelerator.num_processes, optimizer_steps=state.global_step, micro_batches=state.micro_batches,
        train_seconds=round(time.time() - started, 1), epochs=cfg.train.epochs, epoch_curve=state.curve,
        stopped_by=state.stopped_by, pii_redactions=counts_by_type(pii) if cfg.data.redact_pii else None)
    if accelerator.is_main_process:
        explanations = {}
        for name, item in data.items():
            found = explain_examples(best, tokenizer, output_dir / "model", item, inputs[name], cfg)
            if found:
                explanations[name] = found
                per_task[name]["explanations"] = [e.to_dict() for e in found]
        write_json_atomic(output_dir / METRICS_FILE, results)
        write_reports(output_dir, per_task, inputs, explanations)
        info = run_info(cfg, accelerator, list(data), params, started)
        info["finished_at"] = time.time()
        write_json_atomic(output_dir / "run_info.json", info)
    accelerator.print(f"model saved to {output_dir / 'model'}")
    accelerator.end_training()
    return results
