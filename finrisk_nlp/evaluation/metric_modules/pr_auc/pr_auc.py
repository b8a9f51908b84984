"""PR-AUC (average precision) of the risk class (binary), else macro over classes one-vs-rest or labels.
"""

from __future__ import annotations

import evaluate
import numpy as np

from finrisk_nlp.evaluation import risk_measures
from finrisk_nlp.evaluation.metric_modules import INPUTS_DESCRIPTION, as_task, features, none_if_nan


class PrAuc(evaluate.Metric):
    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(description=__doc__, citation="", inputs_description=INPUTS_DESCRIPTION,
                                   features=features())

    def _compute(self, prediction_scores, references, multi_label=False, positive_index=None):
        probs, task = as_task(prediction_scores, multi_label, positive_index)
        columns, targets, _ = risk_measures.risk_columns(probs, np.asarray(references), task)
        per_class = np.array([risk_measures.average_precision(columns[:, j], targets[:, j])[0]
                              for j in range(columns.shape[1])])
        value = np.nanmean(per_class) if np.isfinite(per_class).any() else np.nan
        return {"pr_auc": none_if_nan(value), "pr_auc_per_class": none_if_nan(per_class)}
