"""How long a run trains and why it stopped: fixed epochs or ``train.epochs=auto``, the steps the learning-rate
schedule spans, and the epoch curve printed when training ends.

    accelerate launch recipes/text_classifier.py data.train_file=tickets.csv       # auto: until validation stalls
    accelerate launch recipes/credit_text.py train.epochs=auto train.max_epochs=10 train.max_minutes=30

With ``epochs: auto`` a run trains until the selection metric has not improved for ``early_stopping_patience``
epochs, at most ``max_epochs`` epochs and, when set, ``max_minutes`` of training. Its schedule is the one a
``max_epochs`` run would have (warmup over ``warmup_ratio`` of the cap's steps, then ``train.scheduler``: linear or
cosine decay to 0 at the cap, or constant; :mod:`finrisk_nlp.training.optimizer`), so it depends only on the
config and the step count: a resumed run continues the same curve, and stopping early simply leaves the later,
lower-rate steps unused.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from finrisk_nlp.config import TrainConfig

# Why a run stopped, as written to metrics.json ("stopped_by") and printed with the epoch curve.
STOP_EPOCHS = "epochs"  # the fixed train.epochs were done
STOP_CAP = "cap"  # epochs=auto reached train.max_epochs while still improving
STOP_PATIENCE = "patience"  # no gain for early_stopping_patience epochs
STOP_TIME = "time budget"  # train.max_minutes ran out
STOP_MAX_STEPS = "max_steps"  # train.max_steps (smoke runs)


@dataclass(frozen=True)
class EpochPlan:
    """The length of a run in epochs and optimizer steps, and the steps the learning-rate schedule spans."""

    auto: bool
    max_epochs: int  # the loop runs at most this many epochs
    total_steps: int  # at most this many optimizer steps (max_steps included)
    schedule_steps: int  # the schedule's length: warmup + decay are laid over these steps
    warmup_steps: int


def plan_epochs(train: TrainConfig, steps_per_epoch: int) -> EpochPlan:
    """The run's length from ``train.epochs`` (or the cap for ``auto``) and the steps one epoch holds."""
    auto = train.epochs == "auto"
    epochs = train.max_epochs if auto else int(train.epochs)
    schedule_steps = steps_per_epoch * epochs
    total = int(min(schedule_steps, train.max_steps or math.inf))
    if not auto:  # a fixed run's schedule ends where it stops (max_steps included), as it always has
        schedule_steps = total
    return EpochPlan(auto=auto, max_epochs=epochs, total_steps=total, schedule_steps=schedule_steps,
                     warmup_steps=int(train.warmup_ratio * schedule_steps))


def time_is_up(train: TrainConfig, trained_seconds: float) -> bool:
    """True once ``train.max_minutes`` of training (over every resumed session) has passed."""
    return train.max_minutes is not None and trained_seconds >= 60.0 * train.max_minutes


def describe_stop(reason: str, train: TrainConfig, plan: EpochPlan) -> str:
    """One line saying why training stopped, with the setting that stopped it."""
    return {
        STOP_EPOCHS: f"stopped after the fixed train.epochs={plan.max_epochs}",
        STOP_CAP: f"stopped by the cap: train.max_epochs={plan.max_epochs} reached (raise it if the curve still rises)",
        STOP_PATIENCE: f"stopped by patience: no validation gain for {train.early_stopping_patience} epoch(s)",
        STOP_TIME: f"stopped by the time budget: train.max_minutes={train.max_minutes} used up",
        STOP_MAX_STEPS: f"stopped at train.max_steps={train.max_steps}",
    }[reason]


def format_curve(curve: list[dict[str, Any]], metric: str, best_epoch: int) -> str:
    """``validation pr_auc per epoch: 0 0.512 | 1 0.601* | 2 0.598`` (``*``: the kept epoch)."""
    cells = []
    for point in curve:
        score = point["score"]
        text = "n/a" if score is None or math.isnan(score) else f"{score:.4f}"
        cells.append(f"{point['epoch']} {text}{'*' if point['epoch'] == best_epoch else ''}")
    return f"validation {metric} per epoch: " + " | ".join(cells)
