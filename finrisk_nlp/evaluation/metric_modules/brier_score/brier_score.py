"""Brier score: binary, of the risk class; multi-class, summed over the softmax columns (0 best, 2 worst); multi-label,
the mean over labels.
"""

from __future__ import annotations

import evaluate
import numpy as np

from finrisk_nlp.evaluation import risk_measures
from finrisk_nlp.evaluation.metric_modules import INPUTS_DESCRIPTION, as_task, features


class BrierScore(evaluate.Metric):
    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(description=__doc__, citation="", inputs_description=INPUTS_DESCRIPTION,
                                   features=features())

    def _compute(self, prediction_scores, references, multi_label=False, positive_index=None):
        probs, task = as_task(prediction_scores, multi_label, positive_index)
        return {"brier_score": float(risk_measures.task_brier(probs, np.asarray(references), task)[0])}
