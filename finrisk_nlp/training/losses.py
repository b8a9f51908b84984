"""Training losses for imbalanced risk data: class-weighted and focal cross-entropy, single- and multi-label.

Built from the ``loss`` section of a recipe config::

    accelerate launch recipes/aml_alert.py loss.class_weights=auto loss.focal_gamma=2.0
    accelerate launch recipes/aml_alert.py 'loss.class_weights={close: 1.0, escalate: 4.0}'

Single-label tasks weight each example by the weight of its true class. Multi-label tasks weight the
positive term of each label (like ``pos_weight`` in ``BCEWithLogitsLoss``): a rare typology's hits count more.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from finrisk_nlp.config import LossConfig
from finrisk_nlp.errors import ConfigError
from finrisk_nlp.tasks import Task

logger = logging.getLogger(__name__)


def label_counts(labels: Sequence[Any] | np.ndarray, task: Task) -> np.ndarray:
    """Examples per label: class ids are counted (single-label), multi-hot rows summed (multi-label)."""
    array = np.asarray(labels)
    if task.multi_label:
        return array.reshape(len(array), len(task.labels)).sum(axis=0).astype(np.float64)
    return np.bincount(array.astype(int), minlength=len(task.labels)).astype(np.float64)


def resolve_class_weights(
    setting: str | dict[str, float] | None, task: Task, train_labels: Sequence[Any] | np.ndarray
) -> np.ndarray | None:
    """Per-label weights from ``loss.class_weights``.

    ``auto`` is the inverse frequency in the training split, normalised: single-label weights
    ``n / (num_classes * count)`` (1.0 everywhere on balanced data); multi-label positive weights
    ``negatives / positives`` per label. A mapping gives weights by label name (unlisted labels: 1.0).

    Raises:
        ConfigError: for a label name that the task does not have.
    """
    if setting is None:
        return None
    if isinstance(setting, dict):
        unknown = sorted(set(setting) - set(task.labels))
        if unknown:
            raise ConfigError([f"loss.class_weights: unknown label(s) {unknown}; the labels are {list(task.labels)}"])
        return np.array([float(setting.get(name, 1.0)) for name in task.labels])
    counts = label_counts(train_labels, task)
    n = len(train_labels)
    if task.multi_label:
        weights = (n - counts) / np.maximum(counts, 1.0)
    else:
        weights = n / (len(task.labels) * np.maximum(counts, 1.0))
    logger.info(f"class weights (auto): {dict(zip(task.labels, np.round(weights, 3).tolist(), strict=True))}")
    return weights


class RiskLoss(torch.nn.Module):
    """Cross-entropy (softmax) or binary cross-entropy (sigmoid) with optional class weights and focal term.

    With ``gamma > 0`` each example's loss is scaled by ``(1 - p_true) ** gamma`` (focal loss), so the many
    easy, confidently right examples of a majority class stop dominating the gradient.
    """

    def __init__(self, multi_label: bool, weights: np.ndarray | None = None, gamma: float = 0.0) -> None:
        super().__init__()
        self.multi_label = multi_label
        self.gamma = gamma
        self.register_buffer("weights", None if weights is None else torch.tensor(weights, dtype=torch.float32))

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        logits = logits.float()
        weights = None if self.weights is None else self.weights.to(logits.device)
        if self.multi_label:
            targets = labels.float()
            losses = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
            if self.gamma > 0:
                p_true = torch.where(targets > 0.5, torch.sigmoid(logits), 1 - torch.sigmoid(logits))
                losses = losses * (1 - p_true).pow(self.gamma)
            if weights is not None:
                losses = losses * (1 + (weights - 1) * targets)  # weight the positive terms only
            return losses.mean()
        log_probs = F.log_softmax(logits, dim=-1)
        log_p_true = log_probs.gather(1, labels.long()[:, None]).squeeze(1)
        losses = -log_p_true
        if self.gamma > 0:
            losses = losses * (1 - log_p_true.exp()).pow(self.gamma)
        if weights is None:
            return losses.mean()
        example_weights = weights[labels.long()]
        return (losses * example_weights).sum() / example_weights.sum()  # as F.cross_entropy(weight=...) does


def build_loss(cfg: LossConfig, task: Task, train_labels: Sequence[Any] | np.ndarray) -> RiskLoss:
    """The training loss for ``task`` as configured in the ``loss`` section.

    Args:
        cfg: ``loss.class_weights`` and ``loss.focal_gamma``.
        task: gives the labels and whether outputs are sigmoid (multi-label) or softmax.
        train_labels: the training split's ``labels`` column (class ids or multi-hot rows), for ``auto``.
    """
    weights = resolve_class_weights(cfg.class_weights, task, train_labels)
    return RiskLoss(task.multi_label, weights, cfg.focal_gamma)
