"""The fine-tuning loop: LoRA (or full) fine-tuning of a sequence classifier with Hugging Face Accelerate.

Used by every training recipe::

    accelerate launch recipes/credit_text.py                                      # one process, defaults
    accelerate launch --config_file accelerate_configs/cpu.yaml recipes/credit_text.py cpu=true
    accelerate launch recipes/credit_text.py train.resume=latest                   # continue after a crash

:func:`train` reads top to bottom: data, model, optimizer, the epoch loop (accumulate -> backward -> step,
``save_state`` checkpoints), evaluation with ``gather_for_metrics`` after every epoch, best-model selection
on the task's primary metric, early stopping, and a final evaluation of the best model: temperature scaling and
the operating threshold fitted on validation, stored with the model, then the test split and the report.

A run directory holds ``config.yaml``, ``run_info.json``, ``metrics.jsonl`` (one line per log event),
``metrics.json`` (final), ``report.md`` with plots in ``report/``, ``checkpoints/step-N`` and ``model/`` (the best
model with its temperature and threshold, loadable with :func:`finrisk_nlp.modeling.loading.load_model`).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from accelerate import Accelerator, DataLoaderConfiguration
from accelerate.logging import get_logger
from accelerate.utils import ProjectConfiguration, set_seed
from tqdm.auto import tqdm
from transformers import get_linear_schedule_with_warmup

from finrisk_nlp import __version__
from finrisk_nlp.config import RecipeConfig, save_config
from finrisk_nlp.data.redaction import counts_by_type
from finrisk_nlp.data.sampling import ClassBalancedSampler, balance_strata
from finrisk_nlp.data.tables import build_dataloader, load_splits, steps_per_epoch, tokenize_splits
from finrisk_nlp.data.windows import WindowScores
from finrisk_nlp.evaluation.calibration import fit_temperature
from finrisk_nlp.evaluation.fairness import render_fairness_markdown, slice_metrics, slice_values_of
from finrisk_nlp.evaluation.metrics import (
    compute_metrics,
    expected_calibration_error,
    format_summary,
    majority_baseline,
    operating_point_metrics,
)
from finrisk_nlp.evaluation.report import ReportInputs, write_report
from finrisk_nlp.evaluation.thresholds import parse_target, tune_thresholds
from finrisk_nlp.modeling.loading import (
    METADATA_FILE,
    ModelMetadata,
    build_model,
    count_parameters,
    load_model,
    save_model,
)
from finrisk_nlp.provenance import git_commit, write_json_atomic, write_text_atomic
from finrisk_nlp.tasks import Task, get_task
from finrisk_nlp.training.losses import build_loss

logger = get_logger(__name__)

# Test aid: SIGKILL this process right after the given optimizer step, to prove that resume recovers.
CRASH_ENV = "FINRISK_CRASH_AFTER_STEP"


@dataclass
class TrainingState:
    """Loop position and model-selection state; saved as JSON inside each checkpoint."""

    epoch: int = 0
    batches_done_in_epoch: int = 0
    global_step: int = 0
    best_metric: float = -math.inf
    best_epoch: int = -1
    epochs_without_improvement: int = 0
    best_validation: dict[str, Any] = field(default_factory=dict)


def _mixed_precision(cfg: RecipeConfig) -> str:
    if cfg.train.mixed_precision != "auto":
        return cfg.train.mixed_precision
    if cfg.cpu or not torch.cuda.is_available():
        return "no"
    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


def build_accelerator(cfg: RecipeConfig, kwargs_handlers: list[Any] | None = None) -> Accelerator:
    """The Accelerator of a training run: device, mixed precision, accumulation, trackers and logging dir."""
    output_dir = Path(cfg.output_dir)
    accelerator = Accelerator(
        cpu=cfg.cpu,
        mixed_precision=_mixed_precision(cfg),
        gradient_accumulation_steps=cfg.train.grad_accum_steps,
        log_with=cfg.log_with or None,
        project_config=ProjectConfiguration(project_dir=str(output_dir), logging_dir=str(output_dir / "logs")),
        dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True),
        kwargs_handlers=kwargs_handlers,
    )
    _warn_if_cpu_cores_idle(accelerator)
    return accelerator


def available_cpu_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one, else all of them)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _warn_if_cpu_cores_idle(accelerator: Accelerator) -> None:
    # `accelerate launch` without --cpu sets OMP_NUM_THREADS=1, which halves CPU training speed on a 2-core laptop.
    cores = available_cpu_cores()
    if (accelerator.device.type == "cpu" and os.environ.get("OMP_NUM_THREADS") == "1"
            and torch.get_num_threads() == 1 and cores > accelerator.num_processes):
        logger.warning(
            f"each of the {accelerator.num_processes} process(es) uses 1 CPU thread of {cores} cores "
            "(OMP_NUM_THREADS=1, set by `accelerate launch` by default); for faster CPU runs pass "
            f"`accelerate launch --num_cpu_threads_per_process {cores // accelerator.num_processes}`"
        )


def evaluate(
    model: torch.nn.Module, loader: torch.utils.data.DataLoader, accelerator: Accelerator, desc: str
) -> WindowScores:
    """Logits of every window of a split with its document index and label, gathered from every process, each
    window exactly once; turn them into document probabilities with :meth:`WindowScores.probs`."""
    model.eval()
    all_logits, all_docs, all_labels = [], [], []
    for batch in tqdm(loader, desc=desc, leave=False, disable=not accelerator.is_local_main_process):
        labels = batch.pop("labels")
        doc_index = batch.pop("doc_index")
        with torch.no_grad():
            logits = model(**batch).logits.float()
        logits, doc_index, labels = accelerator.gather_for_metrics((logits, doc_index, labels))
        all_logits.append(logits.cpu().numpy())
        all_docs.append(doc_index.cpu().numpy())
        all_labels.append(labels.cpu().numpy())
    model.train()
    return WindowScores.from_windows(np.concatenate(all_logits), np.concatenate(all_docs), np.concatenate(all_labels))


def _checkpoint_dirs(output_dir: Path) -> list[Path]:
    """Complete checkpoints, oldest first (a checkpoint is complete once its state file exists)."""
    root = output_dir / "checkpoints"
    if not root.is_dir():
        return []
    done = [p for p in root.glob("step-*") if (p / "trainer_state.json").is_file()]
    return sorted(done, key=lambda p: int(p.name.split("-")[1]))


def _resolve_resume(cfg: RecipeConfig, output_dir: Path) -> Path | None:
    if cfg.train.resume is None:
        return None
    if cfg.train.resume == "latest":
        found = _checkpoint_dirs(output_dir)
        if not found:
            logger.warning(f"train.resume=latest but {output_dir / 'checkpoints'} has no checkpoint; starting fresh")
            return None
        return found[-1]
    path = Path(cfg.train.resume)
    if not (path / "trainer_state.json").is_file():
        raise FileNotFoundError(
            f"train.resume={cfg.train.resume!r} is not a complete checkpoint (no trainer_state.json); use "
            f"train.resume=latest or one of {[str(p) for p in _checkpoint_dirs(output_dir)]}"
        )
    return path


def _save_checkpoint(accelerator: Accelerator, output_dir: Path, state: TrainingState, keep: int) -> None:
    """``save_state`` into a fresh directory; the state file is written last, so a torn checkpoint is ignored."""
    path = output_dir / "checkpoints" / f"step-{state.global_step:07d}"
    accelerator.wait_for_everyone()
    accelerator.save_state(str(path))
    if accelerator.is_main_process:
        write_json_atomic(path / "trainer_state.json", asdict(state))
        for old in _checkpoint_dirs(output_dir)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()


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


def _scalar_metrics(metrics: dict[str, Any], prefix: str) -> dict[str, Any]:
    return {f"{prefix}/{k}": v for k, v in metrics.items() if isinstance(v, float)}


def train(cfg: RecipeConfig) -> dict[str, Any]:
    """Fine-tune, select the best epoch on validation, evaluate it on test, and save it.

    Returns:
        The final metrics (also written to ``RUN_DIR/metrics.json``).
    """
    if cfg.multitask.tasks:  # one encoder, several tasks: finrisk_nlp.training.multitask
        from finrisk_nlp.training.multitask import train_multitask

        return train_multitask(cfg)
    output_dir = Path(cfg.output_dir)
    accelerator = build_accelerator(cfg)
    started = time.time()
    set_seed(cfg.seed)
    resume_from = _resolve_resume(cfg, output_dir)
    if accelerator.is_main_process:
        output_dir.mkdir(parents=True, exist_ok=True)
        save_config(cfg, output_dir / "config.yaml")
        if resume_from is None:  # a fresh run starts a fresh log
            (output_dir / "metrics.jsonl").unlink(missing_ok=True)
    log = MetricsLog(accelerator, output_dir / "metrics.jsonl")

    # Data: load and tokenize once on the main process first so other ranks reuse its work.
    pii_counts: Counter[str] = Counter()
    with accelerator.main_process_first():
        task, splits = load_splits(cfg.data, get_task(cfg.task), cfg.seed, pii_counts=pii_counts)
    # Checked before training, so that a misspelt slice column fails in seconds rather than after the run.
    test_slices = slice_values_of(splits["test"], cfg.eval.slice_columns, cfg.data.test_file or "test split")
    model, tokenizer = build_model(cfg.model, cfg.lora, task)
    with accelerator.main_process_first():
        tokenized = tokenize_splits(splits, tokenizer, task, cfg.model.max_length, stride=cfg.model.stride,
                                    max_chunks=cfg.model.max_chunks)
    loss_fn = build_loss(cfg.loss, task, splits["train"]["labels"])
    balanced = (ClassBalancedSampler(balance_strata(splits["train"]["labels"], task.multi_label), cfg.seed)
                if cfg.train.weighted_sampler else None)
    train_loader = build_dataloader(
        tokenized["train"], tokenizer, cfg.train.batch_size, shuffle=True, seed=cfg.seed,
        group_by_length=cfg.train.group_by_length, sampler=balanced,
    )
    eval_loader = build_dataloader(tokenized["validation"], tokenizer, cfg.train.eval_batch_size, shuffle=False)
    test_loader = build_dataloader(tokenized["test"], tokenizer, cfg.train.eval_batch_size, shuffle=False)
    sampler = train_loader.sampler

    params = count_parameters(model)
    logger.info(
        f"task {task.name}: {len(splits['train'])} train / {len(splits['validation'])} validation / "
        f"{len(splits['test'])} test rows, labels {list(task.labels)}; trainable parameters "
        f"{params['trainable']:,} of {params['total']:,}; {accelerator.num_processes} process(es) on "
        f"{accelerator.device}, mixed precision {accelerator.mixed_precision}"
    )

    # The optimizer must see the model's parameters on their device; prepare() moves them, so build it after.
    model = accelerator.prepare(model)
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=cfg.train.lr, weight_decay=cfg.train.weight_decay
    )
    per_epoch = steps_per_epoch(
        len(tokenized["train"]), cfg.train.batch_size, accelerator.num_processes, cfg.train.grad_accum_steps
    )
    total_steps = min(per_epoch * cfg.train.epochs, cfg.train.max_steps or math.inf)
    # Stepped by hand once per optimizer step (a prepared scheduler would step once per process).
    scheduler = get_linear_schedule_with_warmup(optimizer, int(cfg.train.warmup_ratio * total_steps), total_steps)
    optimizer, train_loader, eval_loader, test_loader = accelerator.prepare(
        optimizer, train_loader, eval_loader, test_loader
    )
    accelerator.register_for_checkpointing(scheduler)
    if accelerator.is_main_process:
        write_json_atomic(output_dir / "run_info.json", _run_info(cfg, accelerator, params, started))
    if cfg.log_with:
        accelerator.init_trackers(Path(cfg.output_dir).name, config=_flat(cfg.to_dict()))

    state = TrainingState()
    if resume_from is not None:
        accelerator.load_state(str(resume_from))
        state = TrainingState(**json.loads((resume_from / "trainer_state.json").read_text()))
        logger.info(f"resumed from {resume_from} (epoch {state.epoch}, step {state.global_step})")

    crash_after = int(os.environ.get(CRASH_ENV, "0"))
    checkpoint_every = cfg.train.checkpoint_every
    progress = tqdm(
        total=total_steps, initial=state.global_step, desc="training", disable=not accelerator.is_local_main_process
    )
    model.train()
    stop = state.global_step >= total_steps
    while state.epoch < cfg.train.epochs and not stop:
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(state.epoch)
        train_loader.set_epoch(state.epoch)
        batches = (
            accelerator.skip_first_batches(train_loader, state.batches_done_in_epoch)
            if state.batches_done_in_epoch else train_loader
        )
        for batch in batches:
            with accelerator.accumulate(model):
                labels = batch.pop("labels")
                loss = loss_fn(model(**batch).logits, labels)
                accelerator.backward(loss)
                if accelerator.sync_gradients:
                    accelerator.clip_grad_norm_(model.parameters(), cfg.train.max_grad_norm)
                optimizer.step()
                optimizer.zero_grad()
            state.batches_done_in_epoch += 1
            if not accelerator.sync_gradients:
                continue
            scheduler.step()
            state.global_step += 1
            progress.update(1)
            if state.global_step % cfg.train.log_every == 0 or state.global_step == 1:
                loss_value = accelerator.reduce(loss.detach(), reduction="mean").item()
                progress.set_postfix(loss=f"{loss_value:.4f}")
                log.log({"event": "train", "epoch": state.epoch, "loss": loss_value,
                         "lr": scheduler.get_last_lr()[0]}, state.global_step)
            if checkpoint_every and state.global_step % checkpoint_every == 0:
                _save_checkpoint(accelerator, output_dir, state, cfg.train.keep_checkpoints)
            if crash_after and state.global_step == crash_after:
                os.kill(os.getpid(), signal.SIGKILL)
            if state.global_step >= total_steps:
                stop = True
                break

        # End of epoch: validate, keep the best model, maybe stop early, checkpoint.
        scores = evaluate(model, eval_loader, accelerator, "validation")
        metrics = compute_metrics(scores.probs(task, cfg.model.chunk_aggregation), scores.labels, task)
        _check_count(metrics, len(splits["validation"]), "validation")
        log.log({"event": "validation", "epoch": state.epoch, **_scalar_metrics(metrics, "validation")},
                state.global_step)
        accelerator.print(f"epoch {state.epoch} " + format_summary(metrics, "validation"))
        score = metrics.get(task.primary_metric)
        if score is not None and score > state.best_metric:
            state.best_metric, state.best_epoch, state.best_validation = score, state.epoch, metrics
            state.epochs_without_improvement = 0
            _save_best(accelerator, model, tokenizer, task, cfg, output_dir)
        else:
            state.epochs_without_improvement += 1
        state.epoch += 1
        state.batches_done_in_epoch = 0
        patience = cfg.train.early_stopping_patience
        if patience is not None and state.epochs_without_improvement >= patience:
            accelerator.print(f"early stopping: no {task.primary_metric} gain for {patience} epoch(s)")
            stop = True
        if not checkpoint_every or stop or state.epoch >= cfg.train.epochs:
            _save_checkpoint(accelerator, output_dir, state, cfg.train.keep_checkpoints)
    progress.close()

    if state.best_epoch < 0:  # the primary metric was undefined every epoch: keep the last model
        _save_best(accelerator, model, tokenizer, task, cfg, output_dir)
    results, report_inputs = _final_evaluation(
        accelerator, output_dir, eval_loader, test_loader, splits, task, cfg, test_slices
    )
    results.update(
        best_epoch=state.best_epoch, primary_metric=task.primary_metric, validation=state.best_validation,
        parameters=params, world_size=accelerator.num_processes, train_seconds=round(time.time() - started, 1),
        pii_redactions=counts_by_type(pii_counts) if cfg.data.redact_pii else None,
    )
    if accelerator.is_main_process:
        sections = [render_fairness_markdown(results["fairness"])] if "fairness" in results else []
        explanations = _explain_examples(output_dir, splits["test"][task.text_column], report_inputs, cfg)
        if explanations:
            from finrisk_nlp.evaluation.explain import render_explanation_markdown

            results["explanations"] = [e.to_dict() for e in explanations]
            sections.append(render_explanation_markdown(explanations))
        write_json_atomic(output_dir / "metrics.json", results)
        write_report(output_dir, results, report_inputs, extra_sections=sections)
        info = _run_info(cfg, accelerator, params, started)
        info["finished_at"] = time.time()
        write_json_atomic(output_dir / "run_info.json", info)
    accelerator.print(format_summary(results["test"], "test"))
    accelerator.print(f"test majority-class baseline: accuracy {results['majority_baseline']['accuracy']:.3f} | "
                      f"macro_f1 {results['majority_baseline']['macro_f1']:.3f}")
    accelerator.print(f"model saved to {output_dir / 'model'}")
    accelerator.end_training()
    return results


def _check_count(metrics: dict[str, Any], expected: int, split: str) -> None:
    if metrics["num_examples"] != expected:
        raise RuntimeError(
            f"{split}: gathered {metrics['num_examples']} predictions for {expected} examples; "
            "evaluation must count every example exactly once"
        )


def _metadata(task: Task, cfg: RecipeConfig) -> ModelMetadata:
    chunking = {"max_chunks": cfg.model.max_chunks, "stride": cfg.model.stride,
                "aggregation": cfg.model.chunk_aggregation}
    return ModelMetadata(
        task=asdict(task), base_model=cfg.model.name_or_path, max_length=cfg.model.max_length, lora=cfg.lora.enabled,
        extra={"chunking": chunking, "redact_pii": cfg.data.redact_pii},
    )


def _save_best(
    accelerator: Accelerator, model: torch.nn.Module, tokenizer: Any, task: Task, cfg: RecipeConfig, output_dir: Path
) -> None:
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        save_model(accelerator.unwrap_model(model), tokenizer, _metadata(task, cfg), output_dir / "model")
    accelerator.wait_for_everyone()


def _final_evaluation(
    accelerator: Accelerator, output_dir: Path, eval_loader: Any, test_loader: Any, splits: Any, task: Task,
    cfg: RecipeConfig, test_slices: dict[str, list[str]] | None = None,
) -> tuple[dict[str, Any], ReportInputs]:
    """Reload the saved best model (which also proves it loads); fit the temperature and tune the threshold on
    validation, store both in its ``finrisk_model.json``, then evaluate the calibrated model on test."""
    best, tokenizer, meta = load_model(output_dir / "model")
    best = accelerator.prepare_model(best, evaluation_mode=True)
    aggregation = cfg.model.chunk_aggregation
    val = evaluate(best, eval_loader, accelerator, "validation")
    test = evaluate(best, test_loader, accelerator, "test")
    temperature = fit_temperature(val, task, aggregation)
    val_raw, val_cal = val.probs(task, aggregation), val.probs(task, aggregation, temperature)
    test_raw, test_cal = test.probs(task, aggregation), test.probs(task, aggregation, temperature)
    threshold = tune_thresholds(val_cal, val.labels, task, parse_target(cfg.threshold.target))
    calibration = {
        "method": "temperature_scaling", "temperature": temperature, "fitted_on": "validation",
        "ece_before": {"validation": expected_calibration_error(val_raw, val.labels, task),
                       "test": expected_calibration_error(test_raw, test.labels, task)},
        "ece_after": {"validation": expected_calibration_error(val_cal, val.labels, task),
                      "test": expected_calibration_error(test_cal, test.labels, task)},
    }
    meta.extra.update(threshold=threshold, calibration={"method": "temperature_scaling", "temperature": temperature})
    if accelerator.is_main_process:
        write_json_atomic(output_dir / "model" / METADATA_FILE, asdict(meta))
    accelerator.print(
        f"calibration: temperature {temperature:.3f}, validation ECE {calibration['ece_before']['validation']:.3f} "
        f"-> {calibration['ece_after']['validation']:.3f}; threshold ({cfg.threshold.target}): "
        + (", ".join(f"{k} {v['value']:.3f}" for k, v in threshold["by_label"].items()) if threshold else "argmax")
    )

    metrics = compute_metrics(test_cal, test.labels, task)
    _check_count(metrics, len(splits["test"]), "test")
    metrics["operating_point"] = operating_point_metrics(test_cal, test.labels, task, threshold)
    chunking = {"max_chunks": cfg.model.max_chunks, "stride": cfg.model.stride, "aggregation": aggregation,
                "validation": val.chunking_summary(), "test": test.chunking_summary()}
    metrics.update(test.chunking_summary())
    if cfg.save_merged:
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            save_model(accelerator.unwrap_model(best), tokenizer, meta, output_dir / "model_merged", merged=True)
    results = {"test": metrics, "majority_baseline": majority_baseline(test.labels, task), "threshold": threshold,
               "calibration": calibration, "chunking": chunking}
    if test_slices:
        results["fairness"] = _slice_report(accelerator, output_dir, test_cal, test.labels, test_slices, task, cfg)
    return results, ReportInputs(task=task, labels=test.labels, probs_raw=test_raw, probs=test_cal,
                                 threshold=threshold)


def _explain_examples(output_dir: Path, texts: list[str], inputs: ReportInputs, cfg: RecipeConfig) -> list[Any]:
    """Word attributions for the test texts the model scores riskiest, so a reviewer sees what it relies on."""
    if not cfg.eval.explain_examples or not texts:
        return []
    try:
        from finrisk_nlp.evaluation.explain import explain
        from finrisk_nlp.serving.predictor import Predictor

        risk = inputs.probs[:, inputs.task.positive_index] if inputs.task.is_binary else inputs.probs.max(axis=1)
        chosen = [int(i) for i in np.argsort(-risk, kind="stable")[: cfg.eval.explain_examples]]
        predictor = Predictor.load(output_dir / "model")
        return explain(predictor, [texts[i] for i in chosen], n_steps=cfg.eval.explain_steps)
    except ImportError as exc:  # captum is an optional extra
        logger.info(f"example explanations skipped ({exc}); install finrisk_nlp[explain] to include them")
        return []


def _slice_report(
    accelerator: Accelerator, output_dir: Path, probs: np.ndarray, labels: np.ndarray,
    test_slices: dict[str, list[str]], task: Task, cfg: RecipeConfig,
) -> dict[str, Any]:
    """Test metrics per slice (``eval.slice_columns``): warnings logged, ``fairness.md`` written, result returned."""
    result = slice_metrics(probs, labels, test_slices, task, cfg.eval.min_slice_size)
    for warning in result["warnings"]:
        logger.warning(f"fairness: {warning}")
    if accelerator.is_main_process:
        write_text_atomic(output_dir / "fairness.md", render_fairness_markdown(result))
    return result


def _run_info(cfg: RecipeConfig, accelerator: Accelerator, params: dict[str, int], started: float) -> dict[str, Any]:
    import accelerate
    import peft
    import transformers

    return {
        "task": cfg.task,
        "num_processes": accelerator.num_processes,
        "distributed_type": str(accelerator.distributed_type),
        "device": str(accelerator.device),
        "mixed_precision": accelerator.mixed_precision,
        "seed": cfg.seed,
        "parameters": params,
        "started_at": started,
        "versions": {
            "finrisk_nlp": __version__, "torch": torch.__version__, "transformers": transformers.__version__,
            "peft": peft.__version__, "accelerate": accelerate.__version__,
        },
        "git_commit": git_commit(),
    }


def _flat(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flat(value, f"{name}."))
        else:
            out[name] = value if isinstance(value, int | float | str | bool) else str(value)
    return out
