"""Reading ahead for ``finrisk score``: a thread reads, extracts and tokenises documents while the model runs.

    finrisk score runs/credit_text docs/ mail.zip --out scores.parquet
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from finrisk_nlp.inference.predictor import Predictor
from finrisk_nlp.scoring.documents import Document

DONE = object()  # end-of-input marker on the reader queue
SORT_WINDOW_BATCHES = 8  # documents are sorted by length within windows of this many batches


@dataclass
class Batch:
    """What the reader thread hands to the model: documents, their padded windows and which document each window
    belongs to (``encoding`` None: documents that failed to read)."""

    docs: list[Document]
    encoding: Any = None
    doc_index: np.ndarray | None = None


def make_batches(predictor: Predictor, docs: list[Document], batch_size: int) -> list[Batch]:
    """Redact and cut a group of documents into windows, sort them by length and pack them into batches.

    A document's windows stay in one batch (so its probabilities can be aggregated right away) and a batch holds
    at most ``batch_size`` windows unless one document alone has more. Sorting a group of several batches makes
    the windows of a batch about equally long, so little of each forward pass is spent on padding; the output
    is put back in input order at the merge.
    """
    columns, doc_index = predictor.encode([d.text or "" for d in docs])
    windows_of: list[list[int]] = [[] for _ in docs]
    for window, doc in enumerate(doc_index):
        windows_of[doc].append(window)
    lengths = [len(ids) for ids in columns["input_ids"]]
    order = sorted(range(len(docs)), key=lambda i: (len(windows_of[i]), max(lengths[w] for w in windows_of[i])),
                   reverse=True)
    groups: list[list[int]] = [[]]
    for i in order:
        if groups[-1] and sum(len(windows_of[j]) for j in groups[-1]) + len(windows_of[i]) > batch_size:
            groups.append([])
        groups[-1].append(i)
    batches = []
    for group in groups:
        windows = [w for i in group for w in windows_of[i]]
        local = np.asarray([n for n, i in enumerate(group) for _ in windows_of[i]], dtype=np.int64)
        padded = predictor.tokenizer.pad([{k: columns[k][w] for k in columns} for w in windows], return_tensors="pt")
        batches.append(Batch([docs[i] for i in group], padded, local))
    return batches


def read_ahead(docs: Iterator[Document], skip: set[str], q: queue.Queue, stop: threading.Event,
                counts: dict[str, int], ids: list[tuple[int, str]], prepare: Callable[[list[Document]], list[Batch]],
                window: int, batch_size: int) -> None:
    """Reader thread: read, extract and tokenise documents while the model runs; drop those already scored."""

    def put(items: list[Batch]) -> bool:
        for item in items:
            while not stop.is_set():
                try:
                    q.put(item, timeout=0.2)
                    break
                except queue.Full:
                    continue
        return not stop.is_set()

    try:
        good: list[Document] = []
        failed: list[Document] = []
        for doc in docs:
            ids.append((doc.index, doc.doc_id))
            if doc.doc_id in skip:
                counts["skipped"] += 1
                continue
            skip.add(doc.doc_id)
            (failed if doc.error else good).append(doc)
            if len(failed) >= batch_size:
                if not put([Batch(failed)]):
                    return
                failed = []
            if len(good) >= window:
                if not put(prepare_each(prepare, good)):
                    return
                good = []
        if not put(([Batch(failed)] if failed else []) + (prepare_each(prepare, good) if good else [])):
            return
        q.put(DONE)
    except BaseException as exc:  # re-raised in the scoring thread
        q.put(exc)


def prepare_each(prepare: Callable[[list[Document]], list[Batch]], docs: list[Document]) -> list[Batch]:
    """``prepare`` a group of documents; if it fails, each document alone, so that only the bad one fails."""
    try:
        return prepare(docs)
    # The tokenizer or redaction may choke on one hostile text with any exception type.
    except Exception:  # noqa: BLE001
        pass
    batches: list[Batch] = []
    failed: list[Document] = []
    for doc in docs:
        try:
            batches.extend(prepare([doc]))
        except Exception as exc:  # noqa: BLE001
            failed.append(Document(doc.index, doc.source, doc.doc_id,
                                   error=f"could not be tokenised ({type(exc).__name__}: {exc})"))
    return ([Batch(failed)] if failed else []) + batches


def next_batch(q: queue.Queue) -> Batch | None:
    """The next batch from the reader, or None when the input is exhausted."""
    item = q.get()
    if isinstance(item, BaseException):
        raise item
    return None if item is DONE else item
