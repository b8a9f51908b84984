"""Do two versions of a model give the same logits? ``finrisk export`` and ``--backend onnx`` check before use.

    finrisk export runs/credit_text --format onnx --out exports/credit_onnx   # max |logit diff| <= 1e-4 or nothing

:func:`max_logit_diff` compares any two :class:`~finrisk_nlp.inference.document_model.DocumentModel` (PyTorch,
merged, ONNX) on reference texts, windows cut as in training; :func:`check_parity` refuses a difference above
:data:`PARITY_TOLERANCE`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from finrisk_nlp.data.windows import window_encodings
from finrisk_nlp.errors import ModelLoadError
from finrisk_nlp.inference.document_model import DocumentModel
from finrisk_nlp.modeling import ModelMetadata

# Parity texts when neither a run's validation split nor a file of texts is at hand: short and long (several
# windows), so that padding and window pooling are both exercised.
BUILT_IN_TEXTS = [
    "Applicant lost his job in March and missed two loan payments since.",
    "Steady salary, ontime payment history and good savings.",
    "Cash deposits just below the reporting threshold at three branches on the same day.",
    "Card payment at a grocery store.",
    "Wire transfer to a newly opened account abroad, followed by immediate withdrawals. " * 12,
    "The borrower runs a small bakery; revenue fell after a road closure, rent is two months late, and the "
    "owner asks for a payment holiday while a second shop opens. " * 6,
    "Refund of an annual fee.",
    "Medical bills and high debt; the applicant asks to consolidate four credit cards.",
]


PARITY_TOLERANCE = 1e-4  # max |logit difference| allowed between an fp32 export and the PyTorch model


def document_logits(model: DocumentModel, tokenizer: Any, meta: ModelMetadata, texts: list[str], task: str,
                    batch_size: int = 8) -> np.ndarray:
    """Document logits of ``task`` for ``texts`` from a DocumentClassifier or an OnnxDocumentModel, windows cut as
    the model was trained; small batches of mixed lengths, so that padding is exercised. A model with structured
    fields gets :meth:`~finrisk_nlp.data.fields.FieldPreprocessor.example_rows` beside the texts (ranges, unseen
    categories, missing values and a bare row), so parity covers the field inputs too."""
    entry = meta.task_metadata(task)
    fields = {}
    if entry.fields is not None:
        prep = entry.fields
        fields = prep.transform(prep.example_rows(len(texts)), "parity rows").tensors()
    columns, _ = window_encodings(tokenizer, texts, meta.max_length, entry.windows.stride, entry.windows.max_chunks)
    doc_index = np.asarray(columns.pop("doc_index"), dtype=np.int64)
    vectors = []
    with torch.inference_mode():
        for start in range(0, len(doc_index), batch_size):
            stop = min(start + batch_size, len(doc_index))
            rows = [{k: v[i] for k, v in columns.items()} for i in range(start, stop)]
            batch = tokenizer.pad(rows, return_tensors="pt")
            vectors.append(model.embed_windows(**batch, task=task).float().cpu())
        logits = model.classify(torch.cat(vectors), torch.as_tensor(doc_index), len(texts), task=task, **fields)
    return np.asarray(logits.float().cpu(), dtype=np.float64)


def max_logit_diff(reference: DocumentModel, candidate: DocumentModel, tokenizer: Any, meta: ModelMetadata,
                   texts: list[str]) -> float:
    """The largest |logit difference| between two models over every task of ``meta`` (the candidate's tasks)."""
    return max(float(np.abs(document_logits(reference, tokenizer, meta, texts, name)
                            - document_logits(candidate, tokenizer, meta, texts, name)).max())
               for name in meta.task_names())


def check_parity(diff: float, what: str, tolerance: float = PARITY_TOLERANCE) -> None:
    """Raise ModelLoadError when ``diff`` exceeds ``tolerance`` (or is not a number)."""
    if not diff <= tolerance:
        raise ModelLoadError(
            f"{what} does not match the PyTorch model: max |logit difference| {diff:.3g} > {tolerance:g}. Nothing "
            "was written; report it with the model's architecture, or use --format merged (PyTorch) instead")
