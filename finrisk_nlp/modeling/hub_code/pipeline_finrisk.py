"""The ``text-classification`` pipeline of a finrisk_nlp model repo: shipped inside every Hub repo finrisk_nlp writes.

    from transformers import pipeline
    classify = pipeline("text-classification", model=REPO, trust_remote_code=True)
    classify("Applicant lost her job in March ...")
    # [{'label': 'default', 'score': 0.81, 'decision': 'default', 'probabilities': {...}, 'num_chunks': 1}]

One document per input: redacted, cut into the model's token windows, pooled, calibrated; ``label``/``score`` are
the most probable label (multi-label tasks: ``labels``, and ``score`` the largest probability) and ``decision`` is
finrisk_nlp's operating decision at the stored threshold (possibly ``"review"``). Needs torch and transformers only.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import Pipeline


class FinriskTextClassificationPipeline(Pipeline):
    """Calibrated document probabilities and the operating decision for each input text."""

    def _sanitize_parameters(self, **kwargs: Any) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        if kwargs:
            raise TypeError(f"this pipeline takes no options; got {sorted(kwargs)}")
        return {}, {}, {}

    def preprocess(self, inputs: str) -> dict[str, Any]:
        if not isinstance(inputs, str):
            raise TypeError(f"expected one text (str) per input, got {type(inputs).__name__}")
        columns, doc_index = self.model.encode_documents([inputs], self.tokenizer)
        names = [k for k in columns if k in self.model.input_names]
        features = [{k: columns[k][i] for k in names} for i in range(len(doc_index))]
        return {**self.tokenizer.pad(features, return_tensors="pt"), "doc_index": torch.tensor(doc_index)}

    def _forward(self, model_inputs: dict[str, Any]) -> dict[str, Any]:
        output = self.model(**model_inputs, num_docs=1)
        return {"probabilities": output.probabilities, "num_chunks": len(model_inputs["doc_index"])}

    def postprocess(self, model_outputs: dict[str, Any]) -> dict[str, Any]:
        from .modeling_finrisk import describe

        probs = model_outputs["probabilities"]
        row = describe(probs, [int(model_outputs["num_chunks"])], self.model.config.task,
                       self.model.config.threshold)[0]
        return {"label": row.get("label", row.get("labels")), "score": float(probs[0].max()), **row}
