"""What a :class:`~finrisk_nlp.inference.predictor.Predictor` runs: ``finrisk predict|score|serve MODEL
[--backend onnx]``.

Two document models satisfy :class:`DocumentModel`: :class:`~finrisk_nlp.modeling.DocumentClassifier` (PyTorch,
``--backend torch``) and :class:`~finrisk_nlp.inference.onnx_model.OnnxDocumentModel` (onnxruntime,
``--backend onnx``). The Predictor, parity checks and the quality gate drive either through these two methods, so
prediction and scoring run unchanged on both backends.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch


@runtime_checkable
class DocumentModel(Protocol):
    """A window encoder and one document head per task.

    ``embed_windows`` turns padded token windows into one vector per window; ``classify`` pools the windows of each
    document (``doc_index``: the document of each window) and returns its logits, reading a task's structured
    fields (``field_numeric``, ``field_categorical``, ``field_present``) when the head was trained with them.
    """

    task_names: list[str]

    def embed_windows(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                      task: str | None = None, **inputs: Any) -> torch.Tensor:
        """Window vectors ``(W, hidden)``."""
        ...

    def classify(self, vectors: torch.Tensor, doc_index: torch.Tensor | None, num_docs: int | None,
                 task: str | None = None, **fields: torch.Tensor | None) -> torch.Tensor:
        """Document logits ``(num_docs, num_labels)`` of ``task``."""
        ...
