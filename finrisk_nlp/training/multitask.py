"""Multi-task fine-tuning: one encoder, several risk tasks, one batch of one task per step.

    accelerate launch recipes/multitask.py                                         # hard sharing, demo data
    accelerate launch recipes/multitask.py multitask.strategy=soft multitask.sampling=size
    accelerate launch --config_file accelerate_configs/cpu.yaml recipes/multitask.py cpu=true

:func:`train_multitask` reuses the single-task pieces (:func:`finrisk_nlp.data.tables.load_splits` per task, the loss,
:func:`finrisk_nlp.training.engine.evaluate` with ``gather_for_metrics``, metrics, calibration and thresholds). Each
step draws its task from a seeded RNG that is identical on every process, with probability proportional to the
task's training size (``sampling: size``) or to ``n ** (1 / temperature)`` (``sampling: temperature``, which
gives small tasks more steps); the loss is scaled by the task's ``loss_weights`` entry. After every epoch each
task is evaluated (every example once) and the model with the best mean of the tasks' primary metrics is kept in
``RUN_DIR/model`` (see :mod:`finrisk_nlp.modeling.multitask`), with a temperature and threshold per task.
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from accelerate.logging import get_logger
from accelerate.utils import DistributedDataParallelKwargs, set_seed
from tqdm.auto import tqdm
from transformers import get_linear_schedule_with_warmup

from finrisk_nlp.config import DataConfig, RecipeConfig, save_config
from finrisk_nlp.data.tables import build_dataloader, load_splits, tokenize_splits
from finrisk_nlp.errors import ConfigError
from finrisk_nlp.evaluation.calibration import fit_temperature
from finrisk_nlp.evaluation.metrics import compute_metrics, format_summary, majority_baseline
from finrisk_nlp.evaluation.thresholds import parse_target, tune_thresholds
from finrisk_nlp.modeling.loading import METADATA_FILE, ModelMetadata, count_parameters
from finrisk_nlp.modeling.multitask import (
    TaskView,
    build_multitask_model,
    multitask_metadata,
    save_multitask_model,
)
from finrisk_nlp.provenance import write_json_atomic
from finrisk_nlp.tasks import Task, get_task
from finrisk_nlp.training.engine import (
    MetricsLog,
    _check_count,
    _run_info,
    _scalar_metrics,
    build_accelerator,
    evaluate,
)
from finrisk_nlp.training.losses import build_loss

logger = get_logger(__name__)


def task_data_config(cfg: RecipeConfig, task: str) -> DataConfig:
    """The ``data`` settings of one task: shared options, the task's own files and labels, its default columns."""
    own = cfg.multitask.data.get(task)
    return dataclasses.replace(
        cfg.data, train_file=own.train_file if own else None, validation_file=own.validation_file if own else None,
        test_file=own.test_file if own else None, labels=own.labels if own else None, text_column=None,
        label_column=None, positive_label=None,
    )


def sampling_probabilities(sizes: dict[str, int], sampling: str, temperature: float) -> dict[str, float]:
    """``p_t ∝ n_t`` (``size``) or ``p_t ∝ n_t ** (1 / temperature)`` (``temperature``)."""
    power = 1.0 if sampling == "size" else 1.0 / temperature
    weights = {name: float(n) ** power for name, n in sizes.items()}
    total = sum(weights.values())
    return {name: w / total for name, w in weights.items()}


def task_schedule(probs: dict[str, float], num_batches: int, seed: int, epoch: int) -> list[str]:
    """The task of each batch of an epoch. It depends only on the seed and the epoch, so every process (and
    every rerun) draws the same sequence and the processes of a step always work on the same task."""
    rng = np.random.default_rng([seed, epoch])
    names = list(probs)
    picks = rng.choice(len(names), size=num_batches, p=np.asarray([probs[n] for n in names]))
    return [names[i] for i in picks]


def unsupported_settings(cfg: RecipeConfig) -> list[str]:
    """Single-task options that multi-task training does not offer (yet); each is a config problem."""
    problems = []
    if cfg.train.resume is not None:
        problems.append("train.resume: multi-task runs cannot resume yet; set train.resume=null and rerun")
    if cfg.train.weighted_sampler:
        problems.append("train.weighted_sampler: not available for multi-task runs; use loss.class_weights=auto")
    if cfg.eval.slice_columns:
        problems.append("eval.slice_columns: fairness slices are not computed for multi-task runs; evaluate the "
                        "saved model per task instead")
    if cfg.save_merged:
        problems.append("save_merged: a multi-task model keeps its adapters and heads separate; set save_merged=false")
    if not cfg.lora.enabled:
        problems.append("lora.enabled=false: multi-task sharing is built on LoRA adapters; set lora.enabled=true")
    if cfg.data.train_file or cfg.data.validation_file or cfg.data.test_file or cfg.data.labels:
        problems.append("data.train_file/validation_file/test_file/labels: give files per task under "
                        "multitask.data.<task> instead")
    return problems


def mean_primary(metrics: dict[str, dict[str, Any]], tasks: dict[str, Task]) -> float | None:
    """Mean of the tasks' primary metrics (tasks whose metric is undefined are left out)."""
    values = [metrics[n].get(t.primary_metric) for n, t in tasks.items()]
    values = [v for v in values if v is not None and not math.isnan(v)]
    return float(np.mean(values)) if values else None


def train_multitask(cfg: RecipeConfig) -> dict[str, Any]:
    """Train one encoder on ``cfg.multitask.tasks``, keep the best epoch, calibrate and test each task.

    Returns:
        The final metrics (also ``RUN_DIR/metrics.json``): ``tasks.<name>.{validation,test,...}`` and the
        means of the primary metrics under ``validation`` / ``test``.

    Raises:
        ConfigError: for single-task options that multi-task runs do not support.
    """
    problems = unsupported_settings(cfg)
    if problems:
        raise ConfigError(problems)
    mt = cfg.multitask
    output_dir = Path(cfg.output_dir)
    # Each batch uses one head (and, with soft sharing, one adapter): the others get no gradient that step.
    accelerator = build_accelerator(cfg, [DistributedDataParallelKwargs(find_unused_parameters=True)])
    started = time.time()
    set_seed(cfg.seed)
    if accelerator.is_main_process:
        output_dir.mkdir(parents=True, exist_ok=True)
        save_config(cfg, output_dir / "config.yaml")
        (output_dir / "metrics.jsonl").unlink(missing_ok=True)
    log = MetricsLog(accelerator, output_dir / "metrics.jsonl")

    tasks: dict[str, Task] = {}
    splits: dict[str, Any] = {}
    with accelerator.main_process_first():
        for name in mt.tasks:
            tasks[name], splits[name] = load_splits(task_data_config(cfg, name), get_task(name), cfg.seed)
    model, tokenizer = build_multitask_model(cfg.model, cfg.lora, tasks, mt.strategy, mt.shared_adapter)
    loaders: dict[str, dict[str, Any]] = {}
    with accelerator.main_process_first():
        for name, task in tasks.items():
            tok = tokenize_splits(splits[name], tokenizer, task, cfg.model.max_length, stride=cfg.model.stride,
                                  max_chunks=cfg.model.max_chunks)
            loaders[name] = {
                "train": build_dataloader(tok["train"], tokenizer, cfg.train.batch_size, shuffle=True, seed=cfg.seed,
                                          group_by_length=cfg.train.group_by_length),
                **{s: build_dataloader(tok[s], tokenizer, cfg.train.eval_batch_size, shuffle=False)
                   for s in ("validation", "test")},
            }
    losses = {n: build_loss(cfg.loss, t, splits[n]["train"]["labels"]) for n, t in tasks.items()}
    weights = {n: float(mt.loss_weights.get(n, 1.0)) for n in tasks}
    probs = sampling_probabilities({n: len(splits[n]["train"]) for n in tasks}, mt.sampling, mt.temperature)
    samplers = {n: loaders[n]["train"].sampler for n in tasks}
    params = count_parameters(model)
    logger.info(f"multi-task ({mt.strategy} sharing) on {list(tasks)}; task probabilities "
                f"{ {n: round(p, 3) for n, p in probs.items()} }, loss weights {weights}; trainable parameters "
                f"{params['trainable']:,} of {params['total']:,}; {accelerator.num_processes} process(es)")

    model = accelerator.prepare(model)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.train.lr,
                                  weight_decay=cfg.train.weight_decay)
    flat = [loaders[n][s] for n in tasks for s in ("train", "validation", "test")]
    optimizer, *prepared = accelerator.prepare(optimizer, *flat)
    for i, name in enumerate(tasks):
        loaders[name] = dict(zip(("train", "validation", "test"), prepared[3 * i:3 * i + 3], strict=True))
    batches_per_epoch = sum(len(loaders[n]["train"]) for n in tasks)  # per process, after sharding
    per_epoch = math.ceil(batches_per_epoch / cfg.train.grad_accum_steps)
    total_steps = min(per_epoch * cfg.train.epochs, cfg.train.max_steps or math.inf)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(cfg.train.warmup_ratio * total_steps), total_steps)
    if accelerator.is_main_process:
        write_json_atomic(output_dir / "run_info.json", _multitask_info(cfg, accelerator, params, started))

    passes = dict.fromkeys(tasks, 0)  # how often each task's loader has been started (its shuffling epoch)

    def next_batch(name: str, iterators: dict[str, Any]) -> dict[str, torch.Tensor]:
        try:
            return next(iterators[name])
        except (StopIteration, KeyError):
            passes[name] += 1
            if hasattr(samplers[name], "set_epoch"):
                samplers[name].set_epoch(passes[name])
            loaders[name]["train"].set_epoch(passes[name])
            iterators[name] = iter(loaders[name]["train"])
            return next(iterators[name])

    global_step, best, best_epoch, best_validation, bad_epochs = 0, -math.inf, -1, {}, 0
    progress = tqdm(total=total_steps, desc="training", disable=not accelerator.is_local_main_process)
    model.train()
    iterators: dict[str, Any] = {}
    for epoch in range(cfg.train.epochs):
        for name in task_schedule(probs, batches_per_epoch, cfg.seed, epoch):
            batch = next_batch(name, iterators)
            with accelerator.accumulate(model):
                labels = batch.pop("labels")
                loss = weights[name] * losses[name](model(task=name, **batch).logits, labels)
                accelerator.backward(loss)
                if accelerator.sync_gradients:
                    accelerator.clip_grad_norm_(model.parameters(), cfg.train.max_grad_norm)
                optimizer.step()
                optimizer.zero_grad()
            if not accelerator.sync_gradients:
                continue
            scheduler.step()
            global_step += 1
            progress.update(1)
            if global_step % cfg.train.log_every == 0 or global_step == 1:
                value = accelerator.reduce(loss.detach(), reduction="mean").item()
                log.log({"event": "train", "epoch": epoch, "task": name, "loss": value,
                         "lr": scheduler.get_last_lr()[0]}, global_step)
            if global_step >= total_steps:
                break

        validation = _evaluate_tasks(model, loaders, tasks, splits, accelerator, cfg, "validation")
        score = mean_primary(validation, tasks)
        log.log({"event": "validation", "epoch": epoch, "validation/mean_primary": score,
                 **{k: v for n, m in validation.items() for k, v in _scalar_metrics(m, f"validation/{n}").items()}},
                global_step)
        accelerator.print(f"epoch {epoch} validation mean primary metric {score}")
        if score is not None and score > best:
            best, best_epoch, best_validation, bad_epochs = score, epoch, validation, 0
            _save(accelerator, model, tokenizer, tasks, {}, cfg, output_dir)
        else:
            bad_epochs += 1
        patience = cfg.train.early_stopping_patience
        if global_step >= total_steps or (patience is not None and bad_epochs >= patience):
            break
    progress.close()
    if best_epoch < 0:
        _save(accelerator, model, tokenizer, tasks, {}, cfg, output_dir)

    results = _final_evaluation(accelerator, output_dir, loaders, tasks, splits, cfg)
    for name, metrics in best_validation.items():
        results["tasks"][name]["validation"] = metrics
    results.update(
        validation={"mean_primary": best if best_epoch >= 0 else None}, best_epoch=best_epoch,
        primary_metric="mean_primary", strategy=mt.strategy, sampling_probabilities=probs, loss_weights=weights,
        parameters=params, world_size=accelerator.num_processes, train_seconds=round(time.time() - started, 1),
    )
    if accelerator.is_main_process:
        write_json_atomic(output_dir / "metrics.json", results)
        info = _multitask_info(cfg, accelerator, params, started)
        info["finished_at"] = time.time()
        write_json_atomic(output_dir / "run_info.json", info)
    accelerator.print(f"model saved to {output_dir / 'model'}")
    accelerator.end_training()
    return results


def _multitask_info(cfg: RecipeConfig, accelerator: Any, params: dict[str, int], started: float) -> dict[str, Any]:
    info = _run_info(cfg, accelerator, params, started)
    info.update(task="multitask", tasks=list(cfg.multitask.tasks), strategy=cfg.multitask.strategy)
    return info


def _evaluate_tasks(
    model: torch.nn.Module, loaders: dict[str, dict[str, Any]], tasks: dict[str, Task], splits: dict[str, Any],
    accelerator: Any, cfg: RecipeConfig, split: str,
) -> dict[str, dict[str, Any]]:
    out = {}
    for name, task in tasks.items():
        scores = evaluate(TaskView(model, name), loaders[name][split], accelerator, f"{split} {name}")
        out[name] = compute_metrics(scores.probs(task, cfg.model.chunk_aggregation), scores.labels, task)
        _check_count(out[name], len(splits[name][split]), f"{name} {split}")
    return out


def _save(
    accelerator: Any, model: torch.nn.Module, tokenizer: Any, tasks: dict[str, Task],
    extras: dict[str, dict[str, Any]], cfg: RecipeConfig, output_dir: Path,
) -> None:
    chunking = {"max_chunks": cfg.model.max_chunks, "stride": cfg.model.stride,
                "aggregation": cfg.model.chunk_aggregation}
    extras = {n: {"chunking": chunking, "redact_pii": cfg.data.redact_pii, **extras.get(n, {})} for n in tasks}
    meta = multitask_metadata(tasks, extras, cfg.model.name_or_path, cfg.model.max_length, cfg.multitask.strategy,
                              cfg.multitask.shared_adapter)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        save_multitask_model(accelerator.unwrap_model(model), tokenizer, meta, output_dir / "model")
    accelerator.wait_for_everyone()


def _final_evaluation(
    accelerator: Any, output_dir: Path, loaders: dict[str, dict[str, Any]], tasks: dict[str, Task],
    splits: dict[str, Any], cfg: RecipeConfig,
) -> dict[str, Any]:
    """Reload the saved best model (proving it loads), fit a temperature and threshold per task on validation,
    store them in ``finrisk_model.json`` and evaluate each calibrated task on test."""
    from finrisk_nlp.modeling.loading import load_model

    view, _, _ = load_model(output_dir / "model", task=next(iter(tasks)))
    best = accelerator.prepare_model(view.model, evaluation_mode=True)
    aggregation = cfg.model.chunk_aggregation
    meta = ModelMetadata.read(output_dir / "model")
    per_task: dict[str, Any] = {}
    for name, task in tasks.items():
        val = evaluate(TaskView(best, name), loaders[name]["validation"], accelerator, f"validation {name}")
        test = evaluate(TaskView(best, name), loaders[name]["test"], accelerator, f"test {name}")
        temperature = fit_temperature(val, task, aggregation)
        val_cal, test_cal = val.probs(task, aggregation, temperature), test.probs(task, aggregation, temperature)
        threshold = tune_thresholds(val_cal, val.labels, task, parse_target(cfg.threshold.target))
        meta.multitask["tasks"][name]["extra"].update(
            threshold=threshold, calibration={"method": "temperature_scaling", "temperature": temperature})
        metrics = compute_metrics(test_cal, test.labels, task)
        _check_count(metrics, len(splits[name]["test"]), f"{name} test")
        per_task[name] = {"test": metrics, "majority_baseline": majority_baseline(test.labels, task),
                          "threshold": threshold, "temperature": temperature,
                          "primary_metric": task.primary_metric}
        accelerator.print(f"{name}: " + format_summary(metrics, "test"))
    if accelerator.is_main_process:
        write_json_atomic(output_dir / "model" / METADATA_FILE, dataclasses.asdict(meta))
    accelerator.wait_for_everyone()
    test_mean = mean_primary({n: r["test"] for n, r in per_task.items()}, tasks)
    return {"tasks": per_task, "test": {"mean_primary": test_mean,
                                        "num_examples": sum(r["test"]["num_examples"] for r in per_task.values())}}
