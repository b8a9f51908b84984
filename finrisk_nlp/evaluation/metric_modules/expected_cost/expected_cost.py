"""Mean cost per document of flagging at a threshold: cost_fn per missed risk case, cost_fp per false alert (binary:
the risk class; multi-label: summed over labels).
"""

from __future__ import annotations

import evaluate
import numpy as np

from finrisk_nlp.evaluation import risk_measures
from finrisk_nlp.evaluation.metric_modules import INPUTS_DESCRIPTION, as_task, features

ARGS = """    threshold: flag when probability >= threshold (one number, or one per label).
    cost_fn, cost_fp: cost of a missed risk case and of a false alert.
"""


class ExpectedCost(evaluate.Metric):
    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(description=__doc__, citation="", inputs_description=INPUTS_DESCRIPTION + ARGS,
                                   features=features())

    def _compute(self, prediction_scores, references, threshold, cost_fn=1.0, cost_fp=1.0, multi_label=False,
                 positive_index=None):
        probs, task = as_task(prediction_scores, multi_label, positive_index)
        if not (task.is_binary or task.multi_label):
            raise ValueError("expected_cost needs a binary (two-column) or multi_label=True input; for a multi-class "
                             "task score each risk class one-vs-rest as a binary input")
        columns, targets, _ = risk_measures.risk_columns(probs, np.asarray(references), task)
        flagged = columns >= np.broadcast_to(np.asarray(threshold, dtype=np.float64), (columns.shape[1],))
        cost = sum(risk_measures.expected_cost(flagged[:, j], targets[:, j], cost_fn, cost_fp)[0]
                   for j in range(columns.shape[1]))
        return {"expected_cost": float(cost), "flagged": int(flagged.any(axis=1).sum())}
