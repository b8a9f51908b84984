"""Long documents: overlapping token windows, scored one by one, aggregated into one probability per document.

Used in evaluation during training and by :class:`~finrisk_nlp.serving.predictor.Predictor` when
 ``model.max_chunks > 1``::

    accelerate launch recipes/aml_alert.py model.max_length=256 model.stride=32 model.max_chunks=4

Training sees only the first window of a text (truncation); evaluation and prediction see up to
``max_chunks`` windows of ``max_length`` tokens that overlap by ``stride`` tokens. Window probabilities are
combined per document: ``max`` (the strongest evidence anywhere) or ``mean``. For a binary task ``max`` takes
the highest risk-class probability of any window (one window with evidence flags the document); for other
softmax tasks each class's maximum, renormalised to sum to 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from finrisk_nlp.errors import ModelLoadError
from finrisk_nlp.tasks import Task

Aggregation = Literal["max", "mean"]


def window_encodings(
    tokenizer: Any, texts: list[str], max_length: int, stride: int, max_chunks: int
) -> tuple[dict[str, list[Any]], list[int]]:
    """Tokenize ``texts`` into windows of at most ``max_length`` tokens.

    A document with more than ``max_chunks`` windows keeps ``max_chunks`` of them spread evenly from the first
    to the last, so the end of a long narrative (where a conclusion usually sits) is always scored.

    Returns:
        The model inputs per window (``input_ids``, ``attention_mask``, ...) with ``doc_index`` (position of
        the window's text in ``texts``), and the number of windows each text produced before the cap.

    Raises:
        ModelLoadError: when ``max_chunks > 1`` but the tokenizer is not a fast (Rust) tokenizer.
    """
    if max_chunks == 1:
        enc = tokenizer(texts, truncation=True, max_length=max_length)
        return {**dict(enc), "doc_index": list(range(len(texts)))}, [1] * len(texts)
    if not getattr(tokenizer, "is_fast", False):
        raise ModelLoadError(
            f"model.max_chunks={max_chunks} needs a fast tokenizer for overlapping windows, but "
            f"{type(tokenizer).__name__} is not one; use a model with tokenizer.json or set model.max_chunks=1"
        )
    enc = tokenizer(
        texts, truncation=True, max_length=max_length, stride=stride, return_overflowing_tokens=True,
    )
    mapping = list(enc.pop("overflow_to_sample_mapping"))
    windows_of: list[list[int]] = [[] for _ in texts]
    for window, doc in enumerate(mapping):
        windows_of[doc].append(window)
    keep: list[int] = []
    for windows in windows_of:
        if len(windows) > max_chunks:
            picks = np.unique(np.linspace(0, len(windows) - 1, max_chunks).round().astype(int))
            windows = [windows[i] for i in picks]
        keep.extend(windows)
    columns = {key: [values[i] for i in keep] for key, values in enc.items()}
    columns["doc_index"] = [mapping[i] for i in keep]
    return columns, [len(w) for w in windows_of]


def probabilities(logits: torch.Tensor, multi_label: bool, temperature: float | torch.Tensor = 1.0) -> torch.Tensor:
    """Sigmoid (multi-label) or softmax probabilities of temperature-scaled logits (half precision is upcast)."""
    scaled = (logits if logits.dtype == torch.float64 else logits.float()) / temperature
    return torch.sigmoid(scaled) if multi_label else torch.softmax(scaled, dim=-1)


def aggregate_windows(
    probs: torch.Tensor, doc_index: torch.Tensor, num_docs: int, method: Aggregation, task: Task
) -> torch.Tensor:
    """Combine window probabilities ``(num_windows, num_labels)`` into ``(num_docs, num_labels)``.

    Differentiable, so temperature scaling can be fitted through it. With ``max``, a binary task keeps the
    highest risk-class probability (the other class gets the rest); a multi-class task's per-class maxima are
    renormalised to sum to 1; multi-label outputs are independent and kept as they are.
    """
    index = doc_index.long().to(probs.device)
    expanded = index[:, None].expand_as(probs)
    if method == "max":
        out = torch.zeros(num_docs, probs.shape[1], dtype=probs.dtype, device=probs.device)
        out = out.scatter_reduce(0, expanded, probs, reduce="amax", include_self=False)
        if task.multi_label:
            return out
        if task.is_binary:
            pos = task.positive_index
            columns = [out[:, pos], 1 - out[:, pos]] if pos == 0 else [1 - out[:, pos], out[:, pos]]
            return torch.stack(columns, dim=1)
        return out / out.sum(dim=1, keepdim=True)
    if method == "mean":
        sums = torch.zeros(num_docs, probs.shape[1], dtype=probs.dtype, device=probs.device).index_add(0, index, probs)
        counts = torch.bincount(index, minlength=num_docs).clamp(min=1).to(probs.dtype)
        return sums / counts[:, None]
    raise ValueError(f"chunk aggregation must be 'max' or 'mean', got {method!r}")


@dataclass
class WindowScores:
    """Logits of every scored window of a split, with the document each came from and the document labels.

    Attributes:
        logits: ``(num_windows, num_labels)``.
        doc_index: ``(num_windows,)`` document positions in ``0 .. num_docs - 1``; each appears at least once.
        labels: ``(num_docs,)`` class ids or ``(num_docs, num_labels)`` multi-hot targets.
    """

    logits: np.ndarray
    doc_index: np.ndarray
    labels: np.ndarray

    @property
    def num_docs(self) -> int:
        return len(self.labels)

    @property
    def num_chunks(self) -> np.ndarray:
        """Windows scored per document."""
        return np.bincount(self.doc_index, minlength=self.num_docs)

    def probs(self, task: Task, aggregation: Aggregation, temperature: float = 1.0) -> np.ndarray:
        """Document probabilities after temperature scaling and window aggregation."""
        # float64: near-certain float32 probabilities round to 1.0 and tie, which would change rankings.
        window_probs = probabilities(torch.from_numpy(self.logits).double(), task.multi_label, temperature)
        doc_probs = aggregate_windows(window_probs, torch.from_numpy(self.doc_index), self.num_docs, aggregation, task)
        return doc_probs.numpy().astype(np.float64)

    def chunking_summary(self) -> dict[str, int]:
        """How many documents took more than one window, and the most windows any document used."""
        chunks = self.num_chunks
        return {"num_chunked_documents": int((chunks > 1).sum()),
                "max_chunks_used": int(chunks.max()) if len(chunks) else 0}

    @classmethod
    def from_windows(cls, logits: np.ndarray, doc_index: np.ndarray, window_labels: np.ndarray) -> WindowScores:
        """Build from per-window rows (labels repeated on every window of a document), e.g. after a gather.

        Raises:
            RuntimeError: if document indices are not exactly ``0 .. n-1`` (a document lost or invented).
        """
        doc_index = np.asarray(doc_index).astype(np.int64)
        docs = np.unique(doc_index)
        if len(docs) and (docs[0] != 0 or docs[-1] != len(docs) - 1):
            raise RuntimeError(f"window document indices must cover 0..{len(docs) - 1} without gaps")
        labels = np.empty((len(docs),) + window_labels.shape[1:], dtype=window_labels.dtype)
        labels[doc_index] = window_labels
        return cls(logits=np.asarray(logits, dtype=np.float32), doc_index=doc_index, labels=labels)
