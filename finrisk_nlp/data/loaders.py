"""Documents as batches of token windows: tokenising splits, collating, ordering and loading them.

Used by the training engine (``accelerate launch recipes/credit_text.py``). Every row of a tokenised split is one
document holding up to ``model.max_chunks`` windows of ``model.max_length`` tokens (overlapping by
``model.stride``); a batch of ``train.batch_size`` documents therefore holds at most ``batch_size * max_chunks``
windows, which bounds memory and time. :class:`DocumentCollator` pads the windows of a batch together and adds
``doc_index`` (the document of each window) so the model can pool them back into documents.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from typing import Any

import datasets
import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler
from transformers import PreTrainedTokenizerBase

from finrisk_nlp.data.fields import FieldPreprocessor
from finrisk_nlp.data.windows import window_encodings
from finrisk_nlp.tasks import Task

WINDOW_COLUMNS = ("input_ids", "attention_mask", "token_type_ids")
FIELD_COLUMNS = ("field_numeric", "field_categorical", "field_present")


def tokenize_documents(
    split: datasets.Dataset, tokenizer: PreTrainedTokenizerBase, task: Task, max_length: int, *, stride: int = 0,
    max_chunks: int = 1,
) -> datasets.Dataset:
    """One row per document: its windows' ``input_ids``/``attention_mask`` (lists of lists), ``labels``, ``row``
    (its position in ``split``) and ``num_windows`` (how many windows the text had before the ``max_chunks`` cap)."""

    def encode(batch: dict[str, list[Any]], indices: list[int]) -> dict[str, Any]:
        columns, total = window_encodings(tokenizer, batch[task.text_column], max_length, stride, max_chunks)
        doc_index = columns.pop("doc_index")
        out: dict[str, list[Any]] = {k: [[] for _ in total] for k in columns if k in WINDOW_COLUMNS}
        for row, doc in enumerate(doc_index):
            for key in out:
                out[key][doc].append(columns[key][row])
        return {**out, "labels": batch["labels"], "row": indices, "num_windows": total}

    return split.map(encode, batched=True, with_indices=True, remove_columns=split.column_names, keep_in_memory=True,
                     desc="Tokenizing")


def add_field_columns(tokenized: datasets.Dataset, split: datasets.Dataset, fields: FieldPreprocessor,
                      source: str) -> datasets.Dataset:
    """Add each document's field inputs (``field_numeric``, ``field_categorical``, ``field_present``) to a tokenised
    split; its rows are in the order of ``split``'s."""
    batch = fields.transform(split.select_columns(fields.names).to_list(), source)
    return (tokenized.add_column("field_numeric", batch.numeric.tolist())
            .add_column("field_categorical", batch.categorical.tolist())
            .add_column("field_present", batch.present.astype(np.float32).tolist()))


def document_lengths(split: datasets.Dataset) -> list[int]:
    """Tokens per document (all its windows), the cost that length grouping balances."""
    return [sum(len(w) for w in windows) for windows in split["input_ids"]]


class DocumentCollator:
    """Pad the windows of a batch of documents into one tensor batch, with ``doc_index`` and document ``labels``.

    Args:
        pad_to_multiple_of: 8 on GPUs (tensor cores); None on CPU, where padding only costs.
    """

    def __init__(self, tokenizer: PreTrainedTokenizerBase, multi_label: bool,
                 pad_to_multiple_of: int | None = None) -> None:
        self.tokenizer = tokenizer
        self.multi_label = multi_label
        self.pad_to_multiple_of = pad_to_multiple_of

    def __call__(self, documents: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        keys = [k for k in WINDOW_COLUMNS if k in documents[0]]
        windows, doc_index = [], []
        for doc, row in enumerate(documents):
            for w in range(len(row["input_ids"])):
                windows.append({k: row[k][w] for k in keys})
                doc_index.append(doc)
        batch = dict(self.tokenizer.pad(windows, pad_to_multiple_of=self.pad_to_multiple_of, return_tensors="pt"))
        batch["doc_index"] = torch.tensor(doc_index, dtype=torch.long)
        if "row" in documents[0]:
            batch["rows"] = torch.tensor([row["row"] for row in documents], dtype=torch.long)
        if "field_numeric" in documents[0]:
            batch["field_numeric"] = torch.tensor([row["field_numeric"] for row in documents], dtype=torch.float32)
            batch["field_categorical"] = torch.tensor([row["field_categorical"] for row in documents],
                                                      dtype=torch.long).reshape(len(documents), -1)
            batch["field_present"] = torch.tensor([row["field_present"] for row in documents], dtype=torch.float32)
        labels = [row["labels"] for row in documents]
        batch["labels"] = torch.tensor(labels, dtype=torch.float32 if self.multi_label else torch.long)
        return batch


class LengthGroupedSampler(Sampler[int]):
    """Shuffled order in which each batch holds documents of similar length, so padded batches waste little.

    Indices are shuffled, cut into mega-batches of ``mega_factor * batch_size`` and sorted by length within each;
    the sorted mega-batches are cut into batches, and the order of those batches is shuffled. Without that last
    shuffle an epoch would run from the longest documents to the shortest: where length goes with the label (long
    AML notes are escalated more often) every epoch would drift from one class mix to another and end on the
    shortest documents. A short batch (the dataset's remainder) stays last, so every other batch is whole. The
    order depends only on ``seed`` and the epoch (:meth:`set_epoch`), so every process and a resumed run see the
    same order.
    """

    def __init__(self, lengths: list[int], batch_size: int, seed: int, mega_factor: int = 50) -> None:
        self.lengths = lengths
        self.batch_size = max(batch_size, 1)
        self.mega = self.batch_size * max(mega_factor, 1)
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self) -> Iterator[int]:
        rng = random.Random(self.seed * 1_000_003 + self.epoch)
        order = list(range(len(self.lengths)))
        rng.shuffle(order)
        batches = []
        for start in range(0, len(order), self.mega):
            ranked = sorted(order[start:start + self.mega], key=self.lengths.__getitem__, reverse=True)
            batches += [ranked[i:i + self.batch_size] for i in range(0, len(ranked), self.batch_size)]
        short = [b for b in batches if len(b) < self.batch_size]
        whole = [b for b in batches if len(b) == self.batch_size]
        rng.shuffle(whole)
        for batch in whole + short:
            yield from batch


def build_dataloader(
    split: datasets.Dataset, collator: DocumentCollator, batch_size: int, *, shuffle: bool, seed: int = 0,
    group_by_length: bool = True, sampler: Sampler[int] | None = None, num_workers: int = 0,
    pin_memory: bool = False,
) -> DataLoader:
    """A DataLoader of document batches. Training order is shuffled (length-grouped unless disabled, or the given
    ``sampler``'s, e.g. :class:`finrisk_nlp.data.sampling.ClassBalancedSampler`); evaluation runs longest first,
    so a memory peak shows in the first batch rather than the last."""
    lengths = document_lengths(split)
    if sampler is not None:
        shuffle = False  # the sampler owns the order
    elif shuffle and group_by_length:
        sampler = LengthGroupedSampler(lengths, batch_size, seed)
    elif not shuffle:
        sampler = list(np.argsort(-np.asarray(lengths), kind="stable"))  # type: ignore[assignment]
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(
        split, batch_size=batch_size, sampler=sampler, shuffle=shuffle and sampler is None, collate_fn=collator,
        generator=generator if shuffle else None, num_workers=num_workers, pin_memory=pin_memory,
        persistent_workers=num_workers > 0,
    )


def steps_per_epoch(num_batches: int, grad_accum: int) -> int:
    """Optimizer steps one epoch of ``num_batches`` (per process) takes."""
    return math.ceil(num_batches / grad_accum)
