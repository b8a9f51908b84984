"""Most recall with precision >= min_precision, with the threshold that gives it (binary: the risk class; else per
class or label and their macro mean).
"""

from __future__ import annotations

import evaluate
import numpy as np

from finrisk_nlp.evaluation import risk_measures
from finrisk_nlp.evaluation.metric_modules import INPUTS_DESCRIPTION, as_task, features, none_if_nan

ARGS = """    min_precision: the precision the alerts must keep, in (0, 1].
"""


class RecallAtPrecision(evaluate.Metric):
    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(description=__doc__, citation="", inputs_description=INPUTS_DESCRIPTION + ARGS,
                                   features=features())

    def _compute(self, prediction_scores, references, min_precision, multi_label=False, positive_index=None):
        if not 0 < min_precision <= 1:
            raise ValueError(f"min_precision must be in (0, 1]; got {min_precision}")
        probs, task = as_task(prediction_scores, multi_label, positive_index)
        columns, targets, _ = risk_measures.risk_columns(probs, np.asarray(references), task)
        found = [risk_measures.recall_at_precision(columns[:, j], targets[:, j], min_precision)
                 for j in range(columns.shape[1])]
        recalls = np.array([r[0] for r, _ in found])
        thresholds = np.array([t[0] for _, t in found])
        if task.is_binary:
            return {"recall_at_precision": float(recalls[0]), "threshold": none_if_nan(thresholds[0])}
        return {"recall_at_precision": float(recalls.mean()), "recall_per_class": recalls.tolist(),
                "threshold_per_class": none_if_nan(thresholds)}
