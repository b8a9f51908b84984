"""Loading, validating, splitting and batching labelled risk text.

Used by the training recipes (``accelerate launch recipes/credit_text.py``) and ``finrisk validate``:

    finrisk validate --config recipes/configs/credit_text.yaml data.train_file=my_loans.csv

Files may be CSV, JSONL/JSON, Parquet (UTF-8 text) or a directory written by ``datasets.Dataset.save_to_disk``.
They are read into memory: no copy of their raw text is written to the datasets cache. Every schema problem is
reported with the file, the row and the fix.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Any

import datasets

from finrisk_nlp.config import CALIBRATION_SPLIT, DataConfig
from finrisk_nlp.data.leakage import deduplicate_splits
from finrisk_nlp.data.redaction import counts_by_type, redact_texts
from finrisk_nlp.data.splits import (  # noqa: F401  split_table is re-exported for existing callers
    carve_calibration,
    label_values,
    split_table,
    summarise_splits,
)
from finrisk_nlp.data.windows import fit_text
from finrisk_nlp.errors import ConfigError, DataError
from finrisk_nlp.tasks import Task, get_task, risk_label_from_vocabulary, with_overrides

logger = logging.getLogger(__name__)

SUFFIXES = {".csv": "csv", ".jsonl": "json", ".json": "json", ".parquet": "parquet"}


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


def table_columns(path: str | Path) -> list[str]:
    """The column names of a table file, reading only its header (CSV) or schema (Parquet) where the format has
    one; JSON is read whole (its columns are the keys of every row).

    Raises:
        DataError: as :func:`load_table`, for a file it cannot read.
    """
    path = Path(path)
    kind = SUFFIXES.get(path.suffix.lower())
    try:
        if kind == "csv":
            import pandas as pd

            return [str(c) for c in pd.read_csv(path, nrows=0, encoding="utf-8-sig").columns]
        if kind == "parquet":
            import pyarrow.parquet as pq

            return list(pq.read_schema(path).names)
    except Exception:  # noqa: BLE001 -- load_table names the problem (encoding, parse error) for the user
        pass
    return load_table(path).column_names


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
        values = label_values(value, task.multi_label)
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
        found.update(label_values(value, task.multi_label))
    return sorted(found)


def with_risk_class(task: Task, source: str) -> Task:
    """A binary task whose risk class is known: declared (``data.positive_label`` or the task's own), else the
    one label named like a risk outcome (``default``, ``bad``, ``fraud``, ``1``, ``yes``, ...).

    Raises:
        DataError: when neither says which label is the risk class; PR-AUC, thresholds and recall would
            otherwise silently refer to whichever label sorts last.
    """
    if not task.is_binary or task.positive_label:
        return task
    found = risk_label_from_vocabulary(task.labels)
    if found is None:
        raise DataError(
            f"{source}: binary labels {list(task.labels)} do not say which one is the risk class (the one PR-AUC, "
            "thresholds and recall refer to): none or both are a known risk name (default, bad, fraud, spam, "
            f"escalate, suspicious, 1, yes, true, ...). Set data.positive_label to one of {list(task.labels)}."
        )
    logger.info(f"risk class of {list(task.labels)}: {found!r} (a known risk label; set data.positive_label to "
                "choose another)")
    return with_overrides(task, positive_label=found)


def encode_labels(table: datasets.Dataset, task: Task) -> datasets.Dataset:
    """Add a ``labels`` column: class ids (single-label) or multi-hot float vectors (multi-label)."""
    index = {label: i for i, label in enumerate(task.labels)}

    def encode(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        out = []
        for value in batch[task.label_column]:
            values = label_values(value, task.multi_label)
            if task.multi_label:
                hot = [0.0] * len(task.labels)
                for v in values:
                    hot[index[v]] = 1.0
                out.append(hot)
            else:
                out.append(index[values[0]])
        return {"labels": out}

    return table.map(encode, batched=True, desc="Encoding labels", keep_in_memory=True)


def demo_train_file(task_name: str) -> Path:
    """The shipped demo data a task trains on when ``data.train_file`` is null."""
    from finrisk_nlp.data.demo import demo_path

    return demo_path(task_name if task_name != "aml_typology" else "aml_alert")


def cap_texts(table: datasets.Dataset, text_column: str, max_chars: int | None, source: str) -> datasets.Dataset:
    """Cut every text longer than ``max_chars`` to its head and tail (:func:`finrisk_nlp.data.windows.fit_text`),
    right after reading and before redaction or tokenising touch it, as scoring does: what the windows cannot reach
    is never read, and a 50 MB cell costs what a short one does."""
    if max_chars is None or text_column not in table.column_names:
        return table
    texts = list(table[text_column])
    long = [i for i, t in enumerate(texts) if isinstance(t, str) and len(t) > max_chars]
    if not long:
        return table
    logger.warning(f"{source}: {len(long)} text(s) longer than {max_chars:,} characters (what model.max_chunks "
                   f"windows of model.max_length tokens can read) were cut to their head and tail, e.g. row "
                   f"{long[0] + 1}")
    for i in long:
        texts[i] = fit_text(texts[i], max_chars)[0]
    position = table.column_names.index(text_column)
    return table.remove_columns(text_column).add_column(text_column, texts).select_columns(
        table.column_names[:position] + [text_column] + table.column_names[position + 1:])


def redact_split(table: datasets.Dataset, text_column: str) -> tuple[datasets.Dataset, Counter[str]]:
    """Replace identifiers in the text column by typed placeholders (:mod:`finrisk_nlp.data.redaction`)."""
    texts, counts = redact_texts(table[text_column])
    position = table.column_names.index(text_column)
    return table.remove_columns(text_column).add_column(text_column, texts).select_columns(
        table.column_names[:position] + [text_column] + table.column_names[position + 1:]
    ), counts


def load_splits(
    data_cfg: DataConfig,
    task: Task,
    seed: int,
    *,
    pii_counts: Counter[str] | None = None,
    summary: dict[str, Any] | None = None,
    max_chars: int | None = None,
) -> tuple[Task, datasets.DatasetDict]:
    """Load, validate and split the data a config points at.

    Returns the task with the user's column names and labels applied, and the train/validation/test splits
    (with a ``labels`` column). When only ``train_file`` is given, validation and test are carved from it:
    at random (stratified), by ``data.time_column`` and/or by ``data.group_column``
    (:mod:`finrisk_nlp.data.splits`). With ``data.redact_pii`` (the default) identifiers in the texts are
    replaced by placeholders such as ``[CARD]`` here, before anything else sees them; ``pii_counts``, when
    given, is updated with the number of replacements per type. Validation/test texts repeating a train text
    are then handled as ``data.dedup`` says (:mod:`finrisk_nlp.data.leakage`). ``summary``, when given, is
    filled with :func:`finrisk_nlp.data.splits.summarise_splits` (kind, periods, groups, dedup counts).
    With ``data.calibration_fraction`` a fourth split, ``calibration``, is carved from the validation rows
    (:func:`finrisk_nlp.data.splits.carve_calibration`) for fitting calibration and thresholds.
    ``max_chars`` (:func:`finrisk_nlp.data.windows.char_budget` of the model's windows) cuts each text as it is
    read (:func:`cap_texts`).
    """
    task = with_overrides(task, text_column=data_cfg.text_column, label_column=data_cfg.label_column)
    if task.labels_from_data and not data_cfg.train_file:
        raise ConfigError([f"data.train_file: task {task.name} trains on your own table and ships no demo data; "
                           f"pass data.train_file=FILE (a .csv, .jsonl or .parquet with columns "
                           f"{task.text_column!r} and {task.label_column!r})"])
    train_source: str | Path = data_cfg.train_file or demo_train_file(task.name)
    train = load_table(train_source)
    if task.label_column not in train.column_names:
        validate_table(train, task, str(train_source))  # reports the missing column
    # A label column of the user's own has no declared labels: take them from the data (or data.labels).
    default_column = (data_cfg.label_column is None or data_cfg.label_column == get_task(task.name).label_column
                      ) and not task.labels_from_data
    labels = data_cfg.labels or (None if default_column else infer_labels(train, task))
    task = with_overrides(task, labels=labels, positive_label=data_cfg.positive_label)
    task = with_risk_class(task, str(train_source))
    validate_table(train, task, str(train_source), min_examples_per_class=data_cfg.min_examples_per_class)
    train = cap_texts(train, task.text_column, max_chars, str(train_source))

    info: dict[str, Any] = {"kind": "files"}
    calibration = data_cfg.calibration_fraction or 0.0
    if data_cfg.validation_file and data_cfg.test_file:
        splits = datasets.DatasetDict(train=train)
    else:
        splits = split_table(train, task, data_cfg.validation_fraction + calibration, data_cfg.test_fraction, seed,
                             time_column=data_cfg.time_column, group_column=data_cfg.group_column,
                             source=str(train_source), summary=info)
    files = []
    for split, path in (("validation", data_cfg.validation_file), ("test", data_cfg.test_file)):
        if path:
            table = load_table(path)
            validate_table(table, task, path)
            splits[split] = cap_texts(table, task.text_column, max_chars, path)
            files.append(split)
    if calibration:
        splits["validation"], splits[CALIBRATION_SPLIT], spanning, dropped = carve_calibration(
            splits["validation"], task, calibration / (data_cfg.validation_fraction + calibration), seed,
            time_column=data_cfg.time_column if data_cfg.time_column in splits["validation"].column_names else None,
            group_column=data_cfg.group_column if data_cfg.group_column in splits["validation"].column_names
            else None)
        if dropped:
            groups = info.setdefault("groups", {})
            groups["rows_dropped"] = groups.get("rows_dropped", 0) + dropped
            groups["spanning_groups"] = groups.get("spanning_groups", 0) + spanning
            logger.warning(f"calibration split: {dropped} validation rows of groups that reach the calibration "
                           "period were dropped, so that no group is in both")
    if data_cfg.redact_pii:
        total: Counter[str] = Counter()
        for name in list(splits):
            splits[name], counts = redact_split(splits[name], task.text_column)
            total.update(counts)
        logger.info(f"PII redaction ({task.text_column!r}): {counts_by_type(total)} identifiers replaced")
        if pii_counts is not None:
            pii_counts.update(total)
    splits, dedup = deduplicate_splits(splits, task.text_column, data_cfg.dedup)
    described = summarise_splits(splits, info["kind"], time_column=data_cfg.time_column,
                                 group_column=data_cfg.group_column, groups_info=info.get("groups"), dedup=dedup,
                                 files=files)
    if summary is not None:
        summary.update(described)
    return task, datasets.DatasetDict({name: encode_labels(t, task) for name, t in splits.items()})
