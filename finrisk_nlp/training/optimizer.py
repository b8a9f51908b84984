"""The optimizer and learning-rate schedule of a training run, as the config names them.

    accelerate launch recipes/credit_text.py train.optimizer=adamw-fused train.scheduler=cosine
    accelerate launch recipes/aml_alert.py train.lr=5e-4 train.head_lr=5e-3   # adapters at 5e-4, heads at 5e-3

Both come from torch and transformers (``torch.optim.AdamW``, ``transformers.get_scheduler``). The heads start near
zero (the encoder's ``initializer_range``) and the document head is two layers deep, so at an adapter's rate it
needs hundreds of steps before its logits move; ``train.head_lr`` lets it learn at a rate that would destabilise the
adapters (``null`` trains everything at ``train.lr``). The schedule is laid over
:attr:`EpochPlan.schedule_steps <finrisk_nlp.training.epochs.EpochPlan>` (the cap's steps for ``train.epochs=auto``)
and depends only on the config and the step count, so a resumed run rebuilds it at its step: nothing of it is
unpickled.
"""

from __future__ import annotations

import warnings

import torch
from torch.optim.lr_scheduler import LambdaLR
from transformers import get_scheduler

from finrisk_nlp.config.sections import TrainConfig
from finrisk_nlp.training.epochs import EpochPlan

HEAD_PREFIX = "heads."  # DocumentClassifier keeps every task's head (and its field encoder) under this name
# train.scheduler -> transformers' name: every choice warms up over warmup_ratio of the scheduled steps first.
SCHEDULERS = {"linear": "linear", "cosine": "cosine", "constant": "constant_with_warmup"}


def build_optimizer(model: torch.nn.Module, train: TrainConfig) -> torch.optim.Optimizer:
    """AdamW with ``train.lr`` for the encoder's trainable parameters (adapters, or all of them without LoRA) and
    ``train.head_lr`` (when set) for the heads. The encoder's group comes first, so ``get_last_lr()[0]`` stays
    the rate the logs report as ``lr``. ``adamw-fused`` runs one fused kernel per step instead of a loop over
    tensors (CPU and GPU)."""
    trainable = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    if train.head_lr is None:
        groups = [{"params": [p for _, p in trainable]}]
    else:
        groups = [{"params": [p for name, p in trainable if not name.startswith(HEAD_PREFIX)]},
                  {"params": [p for name, p in trainable if name.startswith(HEAD_PREFIX)], "lr": train.head_lr}]
        groups = [g for g in groups if g["params"]]
    fused = {"fused": True} if train.optimizer == "adamw-fused" else {}
    return torch.optim.AdamW(groups, lr=train.lr, weight_decay=train.weight_decay, **fused)


def build_scheduler(optimizer: torch.optim.Optimizer, plan: EpochPlan, train: TrainConfig,
                    done_steps: int = 0) -> LambdaLR:
    """``train.scheduler`` over ``plan.schedule_steps`` after ``plan.warmup_steps`` of linear warmup, moved on by
    ``done_steps`` optimizer steps (those of the checkpoint a run resumes from).

    The engine steps it once per optimizer step; it is not handed to ``accelerator.prepare``, which would step it
    once per process.
    """
    scheduler = get_scheduler(SCHEDULERS[train.scheduler], optimizer, num_warmup_steps=plan.warmup_steps,
                              num_training_steps=plan.schedule_steps)
    with warnings.catch_warnings():  # a restored optimizer was not stepped here: only the position moves
        warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler.step\(\)` before")
        for _ in range(done_steps):
            scheduler.step()
    return scheduler
