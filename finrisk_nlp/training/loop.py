"""One epoch of the training loop, and what happens at its end (``accelerate launch recipes/credit_text.py``).

:func:`train_epoch` runs an epoch's micro-batches, each drawn from one task (accumulate -> backward -> clip ->
step), and after every optimizer step logs, checkpoints and calls the step callbacks. :func:`end_epoch` validates
every task, keeps the best model on the selection score (the primary metric; the mean of the tasks' primary
metrics for several tasks), stops early when patience runs out and checkpoints. Both are called by
:func:`finrisk_nlp.training.engine.train`, which reads like accelerate's ``nlp_example.py``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from tqdm.auto import tqdm

from finrisk_nlp.config import RecipeConfig
from finrisk_nlp.evaluation.metrics import compute_metrics, format_summary
from finrisk_nlp.evaluation.run_metrics import mean_primary
from finrisk_nlp.modeling import ModelMetadata, save_model
from finrisk_nlp.modeling.classifier import DocumentClassifier
from finrisk_nlp.training.checkpoints import TrainingState, save_checkpoint
from finrisk_nlp.training.epochs import STOP_PATIENCE, STOP_TIME, EpochPlan, time_is_up
from finrisk_nlp.training.final import check_count, document_probs
from finrisk_nlp.training.inference import predict_split
from finrisk_nlp.training.run_files import MetricsLog, scalar_metrics
from finrisk_nlp.training.schedule import TaskStreams
from finrisk_nlp.training.task_data import TaskData

StepCallback = Callable[[TrainingState], None]


@dataclass(frozen=True)
class TrainingRun:
    """What every step and epoch end of one run works with (the prepared model, optimizer and loaders included)."""

    cfg: RecipeConfig
    accelerator: Accelerator
    model: torch.nn.Module
    tokenizer: Any
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    data: dict[str, TaskData]
    streams: TaskStreams
    plan: EpochPlan
    meta: ModelMetadata
    log: MetricsLog
    progress: tqdm
    callbacks: list[StepCallback]
    output_dir: Path
    earlier_seconds: float  # training time of the sessions before this one (a resumed run keeps its time budget)
    session_started: float

    def trained_seconds(self) -> float:
        return self.earlier_seconds + time.time() - self.session_started

    def checkpoint(self, state: TrainingState) -> None:
        state.streams = self.streams.state()
        state.train_seconds = self.trained_seconds()
        save_checkpoint(self.accelerator, self.output_dir, state, self.cfg)


def train_epoch(run: TrainingRun, state: TrainingState, task_of_batch: list[str]) -> bool:
    """Train the epoch's micro-batches from ``state``'s position on (``task_of_batch[i]``: the task of the i-th).

    Returns:
        True when the run must stop now: its last optimizer step is done, or its time budget is spent.
    """
    accelerator, model, train = run.accelerator, run.model, run.cfg.train
    step_loss = torch.zeros((), device=accelerator.device)
    for name in task_of_batch[state.micro_batches_in_epoch:]:
        batch = run.streams.next(name)
        labels = batch.pop("labels")
        batch.pop("rows", None)
        with accelerator.accumulate(model):
            logits = model(**batch, num_docs=labels.shape[0], task=name).logits
            loss = run.data[name].weight * run.data[name].loss(logits, labels)
            accelerator.backward(loss)
            if accelerator.sync_gradients:
                accelerator.clip_grad_norm_(model.parameters(), train.max_grad_norm)
            run.optimizer.step()
            run.optimizer.zero_grad()
        step_loss += loss.detach()
        state.micro_batches_in_epoch += 1
        state.micro_batches += 1
        if not accelerator.sync_gradients:
            continue
        run.scheduler.step()
        state.global_step += 1
        _after_step(run, state, name, step_loss)
        step_loss.zero_()
        if state.global_step >= run.plan.total_steps:
            return True
        # Every rank decides on the main process's clock, so all of them leave the epoch at the same step.
        if train.max_minutes is not None and _broadcast_flag(accelerator, time_is_up(train, run.trained_seconds())):
            state.stopped_by = STOP_TIME
            return True
    return False


def _after_step(run: TrainingRun, state: TrainingState, task: str, step_loss: torch.Tensor) -> None:
    """Progress, the loss log line (every ``train.log_every`` steps and the first), checkpoint, callbacks."""
    train = run.cfg.train
    run.progress.update(1)
    if state.global_step % train.log_every == 0 or state.global_step == 1:
        value = run.accelerator.reduce(step_loss / train.grad_accum_steps, reduction="mean").item()  # the step's mean
        run.progress.set_postfix(loss=f"{value:.4f}")
        run.log.log({"event": "train", "epoch": state.epoch, "task": task, "loss": value,
                     "lr": run.scheduler.get_last_lr()[0]}, state.global_step)
    if train.checkpoint_every and state.global_step % train.checkpoint_every == 0:
        run.checkpoint(state)
    for callback in run.callbacks:
        callback(state)


def end_epoch(run: TrainingRun, state: TrainingState, stop: bool) -> bool:
    """Validate every task, keep the best model, count epochs without a gain, checkpoint; True when the run stops
    (``stop`` already, or patience used up)."""
    accelerator, tasks = run.accelerator, {n: d.task for n, d in run.data.items()}
    several = len(tasks) > 1
    validation = validate_epoch(run.model, run.data, accelerator)
    score = mean_primary(validation, tasks)  # with one task: its primary metric
    record = {n: scalar_metrics(m, f"validation/{n}" if several else "validation") for n, m in validation.items()}
    state.curve.append({"epoch": state.epoch, "score": score})
    run.log.log({"event": "validation", "epoch": state.epoch, "validation/selection_score": score,
                 **{k: v for r in record.values() for k, v in r.items()}}, state.global_step)
    for n, m in validation.items():
        accelerator.print(f"epoch {state.epoch} " + format_summary(m, f"validation {n}" if several else "validation"))
    if score is not None and not math.isnan(score) and score > state.best_metric:
        state.best_metric, state.best_epoch, state.best_validation = score, state.epoch, validation
        state.epochs_without_improvement = 0
        save_best(accelerator, run.model, run.tokenizer, run.meta, run.output_dir / "model")
    else:
        state.epochs_without_improvement += 1
    state.epoch += 1
    state.micro_batches_in_epoch = 0
    patience = run.cfg.train.early_stopping_patience
    if patience is not None and state.epochs_without_improvement >= patience and not stop:
        stop, state.stopped_by = True, STOP_PATIENCE
    if not run.cfg.train.checkpoint_every or stop or state.epoch >= run.plan.max_epochs:
        run.checkpoint(state)
    return stop


def validate_epoch(model: DocumentClassifier, data: dict[str, TaskData], accelerator: Accelerator,
                   ) -> dict[str, dict[str, Any]]:
    """Validation metrics of every task, each document counted once."""
    out = {}
    for name, item in data.items():
        scores = predict_split(model, item.loaders["validation"], accelerator, name, f"validation {name}")
        out[name] = compute_metrics(document_probs(scores, item.task), scores.labels, item.task)
        check_count(out[name], len(item.splits["validation"]), f"{name} validation")
    return out


def save_best(accelerator: Accelerator, model: torch.nn.Module, tokenizer: Any, meta: ModelMetadata,
              path: Path) -> None:
    """Gather the full state on every rank (FSDP/DeepSpeed shard it), save it from the main process."""
    accelerator.wait_for_everyone()
    state_dict = accelerator.get_state_dict(model)
    if accelerator.is_main_process:
        save_model(accelerator.unwrap_model(model), tokenizer, meta, path, state_dict=state_dict)
    accelerator.wait_for_everyone()


def _broadcast_flag(accelerator: Accelerator, flag: bool) -> bool:
    """The main process's ``flag`` on every rank (one tiny collective; free with a single process)."""
    if accelerator.num_processes == 1:
        return flag
    value = torch.tensor([1.0 if flag else 0.0], device=accelerator.device)
    return bool(accelerator.reduce(value * float(accelerator.is_main_process), reduction="sum").item())
