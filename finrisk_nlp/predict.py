"""Classify texts with a trained model: ``finrisk predict RUN_DIR "text" ...``.

:class:`Predictor` is the one way trained models are used for inference; batch scoring and the CLI build
on it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .modeling import ModelMetadata, load_model
from .tasks import Task


class Predictor:
    """A loaded model with its tokenizer and label names.

    Example:
        >>> predictor = Predictor.load("runs/credit_text")
        >>> predictor.predict(["Borrower missed three payments after losing his job."])[0]["label"]
        'default'
    """

    def __init__(self, model: torch.nn.Module, tokenizer: Any, metadata: ModelMetadata) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.metadata = metadata
        self.task: Task = metadata.to_task()

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device | None = None) -> Predictor:
        model, tokenizer, meta = load_model(path, device=device)
        return cls(model, tokenizer, meta)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @torch.inference_mode()
    def predict_proba(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """``(len(texts), num_labels)`` probabilities; texts longer than ``max_length`` tokens are truncated."""
        out = np.zeros((len(texts), len(self.task.labels)), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)  # less padding per batch
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            enc = self.tokenizer(
                [texts[i] for i in idx], truncation=True, max_length=self.metadata.max_length,
                padding=True, return_tensors="pt",
            )
            out[idx] = self.predict_encoded(enc)
        return out

    def tokenize(self, texts: list[str]) -> Any:
        """Token ids of ``texts``, truncated to ``max_length`` and not padded (for :meth:`predict_encoded`)."""
        return self.tokenizer(texts, truncation=True, max_length=self.metadata.max_length)

    @torch.inference_mode()
    def predict_encoded(self, batch: Mapping[str, torch.Tensor]) -> np.ndarray:
        """``(batch_size, num_labels)`` probabilities of one padded batch of tensors (e.g. from ``tokenizer.pad``).

        Lets a caller tokenise in another thread while the model runs.
        """
        logits = self.model(**{k: v.to(self.device) for k, v in batch.items()}).logits.float()
        probs = torch.sigmoid(logits) if self.task.multi_label else torch.softmax(logits, dim=-1)
        return probs.cpu().numpy()

    def predict_documents(self, texts: list[str], batch_size: int = 32) -> tuple[np.ndarray, np.ndarray]:
        """Document-level probabilities and how many model windows each document took.

        Returns:
            ``(probs, num_chunks)``: ``(n, num_labels)`` probabilities and an ``(n,)`` int array.
        """
        return self.predict_proba(texts, batch_size), np.ones(len(texts), dtype=np.int64)

    def predict(self, texts: list[str], batch_size: int = 32) -> list[dict[str, Any]]:
        """One dict per text: ``label`` (or ``labels`` for multi-label tasks) and ``probabilities`` by name."""
        probs, _ = self.predict_documents(texts, batch_size)
        results = []
        for row in probs:
            named = {label: float(p) for label, p in zip(self.task.labels, row, strict=True)}
            if self.task.multi_label:
                results.append({"labels": [k for k, p in named.items() if p >= 0.5], "probabilities": named})
            else:
                results.append({"label": self.task.labels[int(row.argmax())], "probabilities": named})
        return results
