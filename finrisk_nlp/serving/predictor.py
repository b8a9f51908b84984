"""Classify texts with a trained model: ``finrisk predict RUN_DIR "text" ...``.

:class:`Predictor` is the one way trained models are used for inference; batch scoring and the CLI build
on it. It applies what training stored in ``finrisk_model.json``: PII redaction before tokenisation,
sliding windows over long texts, the calibration temperature and the operating threshold.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from finrisk_nlp.data.redaction import redact_texts
from finrisk_nlp.data.windows import Aggregation, aggregate_windows, probabilities, window_encodings
from finrisk_nlp.evaluation.thresholds import decide
from finrisk_nlp.modeling.loading import ModelMetadata, load_model
from finrisk_nlp.tasks import Task


class Predictor:
    """A loaded model with its tokenizer, label names, calibration, threshold and windowing settings.

    Example:
        >>> predictor = Predictor.load("runs/credit_text")
        >>> predictor.predict(["Borrower missed three payments after losing his job."])[0]["decision"]
        'default'
    """

    def __init__(self, model: torch.nn.Module, tokenizer: Any, metadata: ModelMetadata) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.metadata = metadata
        self.task: Task = metadata.to_task()
        extra = metadata.extra or {}
        chunking = extra.get("chunking") or {}
        self.max_chunks: int = int(chunking.get("max_chunks", 1))
        self.stride: int = int(chunking.get("stride", 0))
        self.aggregation: Aggregation = chunking.get("aggregation", "max")
        self.temperature: float = float((extra.get("calibration") or {}).get("temperature", 1.0))
        self.threshold: dict[str, Any] | None = extra.get("threshold")
        self.redact_pii: bool = bool(extra.get("redact_pii", False))

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device | None = None, task: str | None = None) -> Predictor:
        """Load a model by reference (run/model dir, ``registry:NAME[@STAGE]``, ``hub:ORG/NAME``); ``task`` picks
        one task of a multi-task model (required for those)."""
        model, tokenizer, meta = load_model(path, device=device, task=task)
        return cls(model, tokenizer, meta)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def predict_proba(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """``(len(texts), num_labels)`` calibrated document probabilities (see :meth:`predict_documents`)."""
        return self.predict_documents(texts, batch_size)[0]

    def encode(self, texts: list[str], max_chunks: int | None = None) -> tuple[dict[str, list[Any]], np.ndarray]:
        """Model inputs of every window of ``texts`` (unpadded) and the text each window belongs to.

        Texts are redacted first when the model was trained with ``data.redact_pii``, then cut into up to
        ``max_chunks`` (default: as trained) overlapping windows of ``max_length`` tokens.
        """
        if self.redact_pii:
            texts, _ = redact_texts(texts)
        columns, _ = window_encodings(self.tokenizer, list(texts), self.metadata.max_length, self.stride,
                                      max_chunks or self.max_chunks)
        return columns, np.asarray(columns.pop("doc_index"), dtype=np.int64)

    @torch.inference_mode()
    def window_logits(self, batch: Any) -> torch.Tensor:
        """Raw logits (float32, on the CPU) of one padded batch of windows, e.g. from ``tokenizer.pad``."""
        return self.model(**{k: v.to(self.device) for k, v in batch.items()}).logits.float().cpu()

    def document_probs(self, logits: torch.Tensor, doc_index: np.ndarray, num_docs: int) -> np.ndarray:
        """Calibrated document probabilities from the logits of their windows (temperature, then aggregation)."""
        window_probs = probabilities(logits, self.task.multi_label, self.temperature)
        doc_probs = aggregate_windows(window_probs, torch.from_numpy(doc_index), num_docs, self.aggregation,
                                      self.task)
        return doc_probs.numpy().astype(np.float32)

    def decide(self, probs: np.ndarray) -> list[Any]:
        """The decision at the stored operating threshold for each row of ``probs``."""
        return decide(probs, self.task, self.threshold)

    @property
    def positive_threshold(self) -> float | None:
        """The operating threshold of the risk class of a binary task (None otherwise or when not tuned)."""
        if not self.task.is_binary or not self.threshold:
            return None
        return float(self.threshold["by_label"][self.task.labels[self.task.positive_index]]["value"])

    def predict_documents(
        self, texts: list[str], batch_size: int = 32, *, max_chunks: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Document-level probabilities and how many model windows each document took.

        Args:
            texts: documents to score.
            batch_size: windows per forward pass.
            max_chunks: override the stored window cap (1: score only the first ``max_length`` tokens).

        Returns:
            ``(probs, num_chunks)``: ``(n, num_labels)`` probabilities and an ``(n,)`` int array.
        """
        num_labels = len(self.task.labels)
        if not texts:
            return np.zeros((0, num_labels), dtype=np.float32), np.zeros(0, dtype=np.int64)
        columns, doc_index = self.encode(texts, max_chunks)
        lengths = [len(ids) for ids in columns["input_ids"]]
        order = sorted(range(len(doc_index)), key=lengths.__getitem__, reverse=True)  # less padding per batch
        logits = torch.zeros(len(doc_index), num_labels)
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            features = [{key: values[i] for key, values in columns.items()} for i in idx]
            logits[idx] = self.window_logits(self.tokenizer.pad(features, return_tensors="pt"))
        return self.document_probs(logits, doc_index, len(texts)), np.bincount(doc_index, minlength=len(texts))

    def predict(self, texts: list[str], batch_size: int = 32) -> list[dict[str, Any]]:
        """One dict per text: ``label`` (most probable; ``labels`` >= 0.5 for multi-label tasks), ``decision``
        (at the stored operating threshold), ``probabilities`` by name and ``num_chunks``."""
        probs, num_chunks = self.predict_documents(texts, batch_size)
        decisions = self.decide(probs)
        results = []
        for row, decision, chunks in zip(probs, decisions, num_chunks, strict=True):
            named = {label: float(p) for label, p in zip(self.task.labels, row, strict=True)}
            if self.task.multi_label:
                result: dict[str, Any] = {"labels": [k for k, p in named.items() if p >= 0.5]}
            else:
                result = {"label": self.task.labels[int(row.argmax())]}
            results.append({**result, "decision": decision, "probabilities": named, "num_chunks": int(chunks)})
        return results
