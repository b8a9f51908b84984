"""Expected calibration error of every class (or label) probability against that class's own outcome, not the top-label
confidence; the risk class's for a binary input.
"""

from __future__ import annotations

import evaluate
import numpy as np

from finrisk_nlp.evaluation import risk_measures
from finrisk_nlp.evaluation.metric_modules import INPUTS_DESCRIPTION, as_task, features

ARGS = """    n_bins: equal-width probability bins (default 15).
"""


class ClasswiseEce(evaluate.Metric):
    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(description=__doc__, citation="", inputs_description=INPUTS_DESCRIPTION + ARGS,
                                   features=features())

    def _compute(self, prediction_scores, references, multi_label=False, positive_index=None, n_bins=15):
        probs, task = as_task(prediction_scores, multi_label, positive_index)
        references = np.asarray(references)
        targets = references.astype(int) if multi_label else np.eye(probs.shape[1], dtype=int)[references.astype(int)]
        per_class = risk_measures.classwise_ece(probs, targets, n_bins)[0]
        out = {"classwise_ece": float(per_class.mean()), "ece_per_class": per_class.tolist()}
        if task.is_binary:
            out["ece_positive"] = float(per_class[task.positive_index])
        return out
