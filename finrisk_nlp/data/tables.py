"""Loading, validating, splitting and batching labelled risk text.

Used by the training recipes (``accelerate launch recipes/credit_text.py``) and ``finrisk validate``:

    finrisk validate --config recipes/configs/credit_text.yaml data.train_file=my_loans.csv

Files may be CSV, JSONL/JSON, Parquet (UTF-8 text) or a directory written by ``datasets.Dataset.save_to_disk``.
They are read into memory: no copy of their raw text is written to the datasets cache. Every schema problem is
reported with the file, the row and the fix.
"""

from __future__ import annotations

import logging
import math
import random
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import torch
from sklearn.model_selection import train_test_split
from torch.utils.data import DataLoader, Sampler
from transformers import DataCollatorWithPadding, PreTrainedTokenizerBase

from finrisk_nlp.config import DataConfig
from finrisk_nlp.data.redaction import counts_by_type, redact_texts
from finrisk_nlp.data.windows import window_encodings
from finrisk_nlp.errors import DataError
from finrisk_nlp.tasks import Task, get_task, with_overrides

logger = logging.getLogger(__name__)

SUFFIXES = {".csv": "csv", ".jsonl": "json", ".json": "json", ".parquet": "parquet"}
MULTI_LABEL_SEPARATORS = ("|", ";")


def load_table(path: str | Path) -> datasets.Dataset:
    """Read one data file (CSV, JSONL, Parquet or a ``save_to_disk`` directory) into a ``datasets.Dataset``.

    Raises:
        DataError: if the file is missing, of an unknown kind, unreadable, or a DatasetDict directory.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"data file {str(path)!r} does not exist; check data.train_file / data.*_file in your config")
    if path.is_dir():
        try:
            loaded = datasets.load_from_disk(str(path))
        except Exception as exc:  # datasets raises FileNotFoundError or a generic error for non-dataset dirs
            raise DataError(
                f"{path} is a directory but not one written by datasets' save_to_disk ({exc}); "
                "pass a CSV, JSONL or Parquet file instead"
            ) from exc
        if isinstance(loaded, datasets.DatasetDict):
            raise DataError(
                f"{path} holds a DatasetDict with splits {list(loaded)}, but one split is expected here; "
                f"did you mean {path / next(iter(loaded))}?"
            )
        return loaded
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise DataError(
            f"{path}: unsupported file type {path.suffix!r}; expected one of {sorted(SUFFIXES)} "
            "or a directory written by save_to_disk"
        )
    # Read here, into memory: datasets' from_csv/from_json/from_parquet copy the raw (unredacted) text into an
    # Arrow file under the datasets cache even with keep_in_memory=True.
    try:
        if kind == "csv":
            import pandas as pd

            # utf-8-sig: a byte-order mark (Excel writes one) would otherwise become part of the first column's name.
            return datasets.Dataset.from_pandas(pd.read_csv(path, encoding="utf-8-sig"), preserve_index=False)
        if kind == "json":
            return _read_json(path)
        import pyarrow.parquet as pq
        from datasets.table import InMemoryTable

        return datasets.Dataset(InMemoryTable(pq.read_table(path)))
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{path} is not UTF-8 text: byte {exc.object[exc.start:exc.start + 1]!r} at offset {exc.start} cannot be "
            "decoded; the file was probably saved as Latin-1 / Windows-1252 (e.g. by Excel). Re-save it as UTF-8, "
            f"e.g. `iconv -f CP1252 -t UTF-8 {path} > {path.with_suffix('.utf8' + path.suffix)}`, and point the "
            "config at the new file."
        ) from None
    except DataError:
        raise
    except Exception as exc:  # pandas/pyarrow parse errors come in many types
        raise DataError(f"{path}: could not be read as {kind} ({type(exc).__name__}: {exc})") from exc


def _read_json(path: Path) -> datasets.Dataset:
    """JSON Lines (one object per line), or one JSON array of objects; columns in order of first appearance."""
    import json

    text = path.read_bytes().decode("utf-8-sig")
    if text.lstrip().startswith("["):
        rows = json.loads(text)
        numbered = list(enumerate(rows, 1))
    else:
        numbered = []
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    numbered.append((number, json.loads(line)))
                except json.JSONDecodeError as exc:
                    raise DataError(f"{path}: could not be read as json (line {number}: {exc.msg}); each line must "
                                    "hold one JSON object") from None
    columns: dict[str, list[Any]] = {}
    for i, (number, row) in enumerate(numbered):
        if not isinstance(row, dict):
            raise DataError(f"{path}: could not be read as json (record {number} is a {type(row).__name__}, "
                            "not an object); write one object per row, e.g. {\"text\": ..., \"label\": ...}")
        for key, value in row.items():
            columns.setdefault(key, [None] * i).append(value)
        for values in columns.values():
            if len(values) == i:  # a key this row does not have
                values.append(None)
    # A column mixing types (a number in a text column) stays as written, for validate_table to report the row.
    return datasets.Dataset.from_dict(columns, on_mixed_types="use_json")


def _label_values(value: Any, multi_label: bool) -> list[str]:
    """The label(s) of one row as strings; multi-label cells may be lists or 'a|b' strings."""
    if value is None:
        return []
    if multi_label:
        if isinstance(value, str):
            for sep in MULTI_LABEL_SEPARATORS:
                if sep in value:
                    return [v.strip() for v in value.split(sep) if v.strip()]
            return [value.strip()] if value.strip() else []
        return [str(v) for v in value]
    return [str(value)]


def validate_table(
    table: datasets.Dataset, task: Task, source: str, *, min_examples_per_class: int = 0
) -> None:
    """Check that ``table`` fits ``task``: columns present, texts non-empty strings, labels known and frequent enough.

    Raises:
        DataError: naming the file, the first offending rows and what to do.
    """
    missing = [c for c in (task.text_column, task.label_column) if c not in table.column_names]
    if missing:
        raise DataError(
            f"{source}: expected the columns {[task.text_column, task.label_column]} but {missing} "
            f"{'is' if len(missing) == 1 else 'are'} missing; found {table.column_names}. Rename the columns or "
            "set data.text_column=... data.label_column=... on the command line."
        )
    bad_text = [
        (i, t) for i, t in enumerate(table[task.text_column]) if not isinstance(t, str) or not t.strip()
    ]
    if bad_text:
        rows = ", ".join(f"row {i + 1} ({'empty' if t is None or t == '' else repr(t)[:40]})" for i, t in bad_text[:5])
        raise DataError(
            f"{source}: column {task.text_column!r} must hold non-empty text, but {len(bad_text)} row(s) do not: "
            f"{rows}{' ...' if len(bad_text) > 5 else ''}. Remove or fill these rows."
        )
    known = set(task.labels)
    counts: Counter[str] = Counter()
    unknown = []
    for i, value in enumerate(table[task.label_column]):
        values = _label_values(value, task.multi_label)
        if not values and not task.multi_label:
            unknown.append((i, value))
        for v in values:
            if v in known:
                counts[v] += 1
            else:
                unknown.append((i, v))
    if unknown:
        rows = ", ".join(f"row {i + 1} ({v!r})" for i, v in unknown[:5])
        raise DataError(
            f"{source}: column {task.label_column!r} has label(s) outside the expected {list(task.labels)}: "
            f"{rows}{' ...' if len(unknown) > 5 else ''}. Fix the rows, or declare the labels with data.labels=[...]."
        )
    rare = {label: counts[label] for label in task.labels if counts[label] < min_examples_per_class}
    if rare:
        raise DataError(
            f"{source}: every label needs at least {min_examples_per_class} examples to train and evaluate on, "
            f"but found {rare} (all counts: {dict(counts)}). Add examples, drop the label with data.labels=[...], "
            "or lower data.min_examples_per_class."
        )


def infer_labels(table: datasets.Dataset, task: Task) -> list[str]:
    """Sorted distinct labels of a user's file, for data whose labels are not declared anywhere."""
    found: set[str] = set()
    for value in table[task.label_column]:
        found.update(_label_values(value, task.multi_label))
    return sorted(found)


def encode_labels(table: datasets.Dataset, task: Task) -> datasets.Dataset:
    """Add a ``labels`` column: class ids (single-label) or multi-hot float vectors (multi-label)."""
    index = {label: i for i, label in enumerate(task.labels)}

    def encode(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        out = []
        for value in batch[task.label_column]:
            values = _label_values(value, task.multi_label)
            if task.multi_label:
                hot = [0.0] * len(task.labels)
                for v in values:
                    hot[index[v]] = 1.0
                out.append(hot)
            else:
                out.append(index[values[0]])
        return {"labels": out}

    return table.map(encode, batched=True, desc="Encoding labels", keep_in_memory=True)


def _stratum(table: datasets.Dataset, task: Task) -> list[str]:
    return ["|".join(sorted(_label_values(v, task.multi_label))) or "none" for v in table[task.label_column]]


def split_table(
    table: datasets.Dataset, task: Task, validation_fraction: float, test_fraction: float, seed: int
) -> datasets.DatasetDict:
    """Deterministic stratified train/validation/test split of one table."""
    indices = np.arange(len(table))
    strata = np.asarray(_stratum(table, task))
    # Multi-label combinations can be too rare to stratify on; fall back to the first label then.
    if task.multi_label and min(Counter(strata).values()) < 3:
        strata = np.asarray([s.split("|")[0] for s in strata])
    try:
        rest, test = train_test_split(indices, test_size=test_fraction, random_state=seed, stratify=strata)
        relative = validation_fraction / (1.0 - test_fraction)
        train, val = train_test_split(rest, test_size=relative, random_state=seed, stratify=strata[rest])
    except ValueError as exc:
        raise DataError(
            f"cannot make a stratified split of {len(table)} rows ({exc}); add data, or pass "
            "data.validation_file and data.test_file explicitly"
        ) from exc
    return datasets.DatasetDict(
        train=table.select(sorted(train)), validation=table.select(sorted(val)), test=table.select(sorted(test))
    )


def demo_train_file(task_name: str) -> Path:
    """The shipped demo data a task trains on when ``data.train_file`` is null."""
    from finrisk_nlp.data.demo import demo_path

    return demo_path(task_name if task_name != "aml_typology" else "aml_alert")


def redact_split(table: datasets.Dataset, text_column: str) -> tuple[datasets.Dataset, Counter[str]]:
    """Replace identifiers in the text column by typed placeholders (:mod:`finrisk_nlp.data.redaction`)."""
    texts, counts = redact_texts(table[text_column])
    position = table.column_names.index(text_column)
    return table.remove_columns(text_column).add_column(text_column, texts).select_columns(
        table.column_names[:position] + [text_column] + table.column_names[position + 1:]
    ), counts


def load_splits(
    data_cfg: DataConfig, task: Task, seed: int, *, pii_counts: Counter[str] | None = None
) -> tuple[Task, datasets.DatasetDict]:
    """Load, validate and split the data a config points at.

    Returns the task with the user's column names and labels applied, and the train/validation/test splits
    (with a ``labels`` column). When only ``train_file`` is given, validation and test are carved from it.
    With ``data.redact_pii`` (the default) identifiers in the texts are replaced by placeholders such as
    ``[CARD]`` here, before anything else sees them; ``pii_counts``, when given, is updated with the number
    of replacements per type.
    """
    task = with_overrides(task, text_column=data_cfg.text_column, label_column=data_cfg.label_column)
    train_source: str | Path = data_cfg.train_file or demo_train_file(task.name)
    train = load_table(train_source)
    if task.label_column not in train.column_names:
        validate_table(train, task, str(train_source))  # reports the missing column
    # A label column of the user's own has no declared labels: take them from the data (or data.labels).
    default_column = data_cfg.label_column is None or data_cfg.label_column == get_task(task.name).label_column
    labels = data_cfg.labels or (None if default_column else infer_labels(train, task))
    task = with_overrides(task, labels=labels, positive_label=data_cfg.positive_label)
    validate_table(train, task, str(train_source), min_examples_per_class=data_cfg.min_examples_per_class)

    if data_cfg.validation_file and data_cfg.test_file:
        splits = datasets.DatasetDict(train=train)
    else:
        splits = split_table(train, task, data_cfg.validation_fraction, data_cfg.test_fraction, seed)
    for split, path in (("validation", data_cfg.validation_file), ("test", data_cfg.test_file)):
        if path:
            table = load_table(path)
            validate_table(table, task, path)
            splits[split] = table
    if data_cfg.redact_pii:
        total: Counter[str] = Counter()
        for name in list(splits):
            splits[name], counts = redact_split(splits[name], task.text_column)
            total.update(counts)
        logger.info(f"PII redaction ({task.text_column!r}): {counts_by_type(total)} identifiers replaced")
        if pii_counts is not None:
            pii_counts.update(total)
    return task, datasets.DatasetDict({name: encode_labels(t, task) for name, t in splits.items()})


def tokenize_splits(
    splits: datasets.DatasetDict,
    tokenizer: PreTrainedTokenizerBase,
    task: Task,
    max_length: int,
    *,
    stride: int = 0,
    max_chunks: int = 1,
) -> datasets.DatasetDict:
    """Tokenize the text column; keep only model inputs and ``labels``.

    ``train`` is truncated to ``max_length``. Every other split becomes one row per window (up to
    ``max_chunks`` per text, overlapping by ``stride`` tokens; :func:`finrisk_nlp.data.windows.window_encodings`)
    with a ``doc_index`` column naming the row of the text it came from, so evaluation can put the windows
    of a document back together.
    """

    def truncate(batch: dict[str, list[Any]]) -> dict[str, Any]:
        return tokenizer(batch[task.text_column], truncation=True, max_length=max_length)

    def windows(batch: dict[str, list[Any]], indices: list[int]) -> dict[str, Any]:
        columns, _ = window_encodings(tokenizer, batch[task.text_column], max_length, stride, max_chunks)
        local = columns["doc_index"]
        columns["doc_index"] = [indices[i] for i in local]
        columns["labels"] = [batch["labels"][i] for i in local]
        return columns

    out = {}
    for name, split in splits.items():
        if name == "train":
            extra = [c for c in split.column_names if c != "labels"]
            out[name] = split.map(truncate, batched=True, remove_columns=extra, desc=f"Tokenizing {name}",
                                  keep_in_memory=True)
        else:
            out[name] = split.map(windows, batched=True, with_indices=True, remove_columns=split.column_names,
                                  desc=f"Tokenizing {name}", keep_in_memory=True)
    return datasets.DatasetDict(out)


class LengthGroupedSampler(Sampler[int]):
    """Shuffled order in which neighbouring examples have similar lengths, so padded batches waste little.

    Indices are shuffled, cut into mega-batches of ``mega_factor * batch_size``, and each mega-batch is sorted
    by length. The order depends only on ``seed`` and the epoch (:meth:`set_epoch`), so every process and a
    resumed run see the same order.
    """

    def __init__(self, lengths: list[int], batch_size: int, seed: int, mega_factor: int = 50) -> None:
        self.lengths = lengths
        self.mega = max(batch_size * mega_factor, 1)
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self) -> Iterator[int]:
        order = list(range(len(self.lengths)))
        random.Random(self.seed * 1_000_003 + self.epoch).shuffle(order)
        for start in range(0, len(order), self.mega):
            yield from sorted(order[start:start + self.mega], key=self.lengths.__getitem__, reverse=True)


def build_dataloader(
    split: datasets.Dataset,
    tokenizer: PreTrainedTokenizerBase,
    batch_size: int,
    *,
    shuffle: bool,
    seed: int = 0,
    group_by_length: bool = True,
    sampler: Sampler[int] | None = None,
) -> DataLoader:
    """A DataLoader with dynamic padding; training order is shuffled (length-grouped unless disabled, or the
    given ``sampler``'s, e.g. :class:`finrisk_nlp.data.sampling.ClassBalancedSampler`)."""
    collator = DataCollatorWithPadding(tokenizer, pad_to_multiple_of=8 if torch.cuda.is_available() else None)
    lengths = [len(ids) for ids in split["input_ids"]]
    if sampler is not None:
        shuffle = False  # the sampler owns the order
    elif shuffle and group_by_length:
        sampler = LengthGroupedSampler(lengths, batch_size, seed)
    elif not shuffle:  # evaluation: longest first, so memory peaks show up in the first batch rather than the last
        sampler = sorted(range(len(lengths)), key=lengths.__getitem__, reverse=True)  # type: ignore[assignment]
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(
        split, batch_size=batch_size, sampler=sampler, shuffle=shuffle and sampler is None,
        collate_fn=collator, generator=generator if shuffle else None,
    )


def steps_per_epoch(num_examples: int, batch_size: int, num_processes: int, grad_accum: int) -> int:
    """Optimizer steps one epoch takes once batches are sharded across processes."""
    batches = math.ceil(num_examples / batch_size)
    return math.ceil(math.ceil(batches / num_processes) / grad_accum)
