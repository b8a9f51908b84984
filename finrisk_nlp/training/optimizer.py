"""The optimizer of a training run: AdamW over the trainable parameters, the task heads at their own rate.

    accelerate launch recipes/aml_alert.py train.lr=5e-4 train.head_lr=5e-3   # adapters at 5e-4, heads at 5e-3

The heads start near zero (the encoder's ``initializer_range``) and the document head is two layers deep, so at an
adapter's rate it needs hundreds of steps before its logits move; ``train.head_lr`` lets it learn at a rate that
would destabilise the adapters. ``null`` trains everything at ``train.lr``.
"""

from __future__ import annotations

import torch

from finrisk_nlp.config.sections import TrainConfig

HEAD_PREFIX = "heads."  # DocumentClassifier keeps every task's head (and its field encoder) under this name


def build_optimizer(model: torch.nn.Module, train: TrainConfig) -> torch.optim.Optimizer:
    """AdamW with ``train.lr`` for the encoder's trainable parameters (adapters, or all of them without LoRA) and
    ``train.head_lr`` (when set) for the heads. The encoder's group comes first, so ``get_last_lr()[0]`` stays
    the rate the logs report as ``lr``."""
    trainable = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    if train.head_lr is None:
        groups = [{"params": [p for _, p in trainable]}]
    else:
        groups = [{"params": [p for name, p in trainable if not name.startswith(HEAD_PREFIX)]},
                  {"params": [p for name, p in trainable if name.startswith(HEAD_PREFIX)], "lr": train.head_lr}]
        groups = [g for g in groups if g["params"]]
    return torch.optim.AdamW(groups, lr=train.lr, weight_decay=train.weight_decay)
