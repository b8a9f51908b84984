"""Temperature scaling: one scalar T fitted on validation logits so that predicted probabilities match frequencies.

Fitted at the end of every training run (``accelerate launch recipes/aml_alert.py``) on the best model's
validation logits, stored as ``extra["calibration"]`` in ``finrisk_model.json`` and applied by
:class:`finrisk_nlp.serving.predictor.Predictor`. Dividing logits by one T > 0 never changes the ranking of a column,
so PR-AUC is unchanged; thresholds are tuned afterwards on the calibrated probabilities.
"""

from __future__ import annotations

import logging
import math

import torch

from finrisk_nlp.data.windows import Aggregation, WindowScores, aggregate_windows, probabilities
from finrisk_nlp.tasks import Task

logger = logging.getLogger(__name__)

MIN_TEMPERATURE, MAX_TEMPERATURE = 0.05, 20.0


def _nll(doc_probs: torch.Tensor, labels: torch.Tensor, multi_label: bool) -> torch.Tensor:
    doc_probs = doc_probs.clamp(1e-7, 1 - 1e-7)
    if multi_label:
        return torch.nn.functional.binary_cross_entropy(doc_probs, labels.to(doc_probs.dtype))
    return torch.nn.functional.nll_loss(doc_probs.log(), labels.long())


def fit_temperature(scores: WindowScores, task: Task, aggregation: Aggregation = "max", max_iter: int = 100) -> float:
    """The temperature minimising the negative log-likelihood of the document probabilities (LBFGS).

    The NLL is taken after window aggregation, so the temperature calibrates what is reported and
    returned, also for chunked documents. Multi-label tasks share one temperature over all sigmoid outputs.

    Args:
        scores: validation logits per window with document labels (from :func:`finrisk_nlp.training.engine.evaluate`).
        task: sigmoid (multi-label) or softmax outputs, and the risk class that ``max`` aggregation keeps.
        aggregation: how windows are combined (``model.chunk_aggregation``).
        max_iter: LBFGS iterations.

    Returns:
        T, clipped to [0.05, 20]; 1.0 when there is nothing to fit on.
    """
    if scores.num_docs == 0:
        return 1.0
    logits = torch.from_numpy(scores.logits).double()
    doc_index = torch.from_numpy(scores.doc_index)
    labels = torch.from_numpy(scores.labels)
    log_t = torch.zeros(1, dtype=torch.float64, requires_grad=True)  # T = exp(log_t) stays positive
    optimizer = torch.optim.LBFGS([log_t], lr=0.1, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        window_probs = probabilities(logits, task.multi_label, log_t.exp())
        doc_probs = aggregate_windows(window_probs, doc_index, scores.num_docs, aggregation, task)
        loss = _nll(doc_probs, labels, task.multi_label)
        loss.backward()
        return loss

    optimizer.step(closure)
    temperature = float(log_t.exp().item())
    if not math.isfinite(temperature):
        logger.warning("temperature scaling did not converge; keeping T = 1")
        return 1.0
    return min(max(temperature, MIN_TEMPERATURE), MAX_TEMPERATURE)
