"""Document logits of a whole split during training, from every process, each document exactly once.

    accelerate launch recipes/credit_text.py       # validation after every epoch, test at the end
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from accelerate import Accelerator
from tqdm.auto import tqdm


@dataclass
class DocumentScores:
    """Logits ``(n, num_labels)``, labels (``(n,)`` class ids or ``(n, L)`` multi-hot) and windows per document,
    in the order of the split's rows."""

    logits: np.ndarray
    labels: np.ndarray
    num_windows: np.ndarray

    def chunking_summary(self) -> dict[str, int]:
        """How many documents took more than one window, and the most windows any document used."""
        return {"num_chunked_documents": int((self.num_windows > 1).sum()),
                "max_chunks_used": int(self.num_windows.max()) if len(self.num_windows) else 0}


def predict_split(model: torch.nn.Module, loader: Any, accelerator: Accelerator, task: str, desc: str,
                  ) -> DocumentScores:
    """Run ``model`` over ``loader`` in eval mode; ``gather_for_metrics`` drops the samples Accelerate repeats to
    even out the last batch, so every document is counted once."""
    model.eval()
    logits_parts, label_parts, window_parts, row_parts = [], [], [], []
    for batch in tqdm(loader, desc=desc, leave=False, disable=not accelerator.is_local_main_process):
        labels = batch.pop("labels")
        rows = batch.pop("rows")
        num_windows = torch.bincount(batch["doc_index"], minlength=len(labels))
        with torch.no_grad():
            logits = model(**batch, num_docs=len(labels), task=task).logits.float()
        gathered = accelerator.gather_for_metrics((logits, labels, num_windows, rows))
        for parts, value in zip((logits_parts, label_parts, window_parts, row_parts), gathered, strict=True):
            parts.append(value.cpu().numpy())
    model.train()
    order = np.argsort(np.concatenate(row_parts), kind="stable")  # the loader runs longest first
    return DocumentScores(np.concatenate(logits_parts)[order], np.concatenate(label_parts)[order],
                          np.concatenate(window_parts)[order])
