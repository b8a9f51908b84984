"""Leakage check between splits: validation/test texts that repeat a train text, test texts that repeat a
validation text, repeats within a split and near-duplicates.

Run by :func:`finrisk_nlp.data.tables.load_splits` after PII redaction, on what the model will read::

    finrisk validate data.train_file=memos.csv data.dedup=error

A repeat is *exact* (the same string) or *normalised* (the same once digits are masked and case and
whitespace folded, :func:`normalise_text`). Metrics on such rows reward memorising the training set, so by
default (``data.dedup=drop``) they leave validation and test; ``warn`` keeps them and logs the counts,
``error`` refuses the data. Test is also checked against validation (thresholds and calibration are fitted
there). Repeats within a split and near-duplicates (word-shingle Jaccard >= 0.8,
:mod:`finrisk_nlp.data.near_duplicates`) are counted and logged under every mode. Train itself is never changed.
"""

from __future__ import annotations

import logging
import re
from typing import Any, get_args

import datasets

from finrisk_nlp.config import SPLIT_ORDER, DedupMode
from finrisk_nlp.data.near_duplicates import NEAR_JACCARD, near_duplicate_rows
from finrisk_nlp.errors import DataError

logger = logging.getLogger(__name__)

DEDUP_MODES: tuple[str, ...] = get_args(DedupMode)
DIGITS = re.compile(r"\d")


def normalise_text(text: str) -> str:
    """A text as compared for near-duplicates: every digit masked, case and whitespace folded.

    ``"POS 4411 Starbucks  #12"`` and ``"pos 9021 starbucks #77"`` become the same string: a memo that differs
    from a training one only by its reference numbers teaches the model nothing new about the test.
    """
    return " ".join(DIGITS.sub("0", text).casefold().split())


def _within(texts: list[str]) -> int:
    """Rows that repeat an earlier row of the same split once normalised."""
    return len(texts) - len({normalise_text(t) for t in texts})


def deduplicate_splits(
    splits: datasets.DatasetDict, text_column: str, mode: str = "drop"
) -> tuple[datasets.DatasetDict, dict[str, Any]]:
    """Find validation/test texts that repeat a train text (or, for test, a validation text), exactly or after
    :func:`normalise_text`; count repeats within each split and near-duplicates (word-shingle Jaccard >= 0.8,
    :mod:`finrisk_nlp.data.near_duplicates`).

    Args:
        splits: train plus validation and/or test.
        text_column: the column compared (after PII redaction, i.e. what the model reads).
        mode: ``drop`` removes the repeats from validation/test (train is never changed), ``warn`` logs the
            counts and keeps them, ``error`` refuses the data. Near-duplicates and repeats within a split are
            reported (logged and counted) under every mode, never dropped.

    Returns:
        The splits (without the repeats under ``drop``) and the counts: ``{"mode": ..., "train_within": n,
        split: {"rows", "exact", "normalised", "dropped", "within", "near_duplicates"}}``; ``normalised`` counts
        every repeat of an earlier split (train, and validation for test), exact ones included, with
        ``of_validation`` the test rows that repeat validation; ``near_duplicates`` counts the other rows whose
        best Jaccard against the earlier splits is >= 0.8.

    Raises:
        DataError: under ``error`` when there are repeats, and under ``drop`` when they are all of a split.
    """
    if mode not in DEDUP_MODES:
        raise DataError(f"data.dedup must be one of {list(DEDUP_MODES)}, got {mode!r}")
    train = splits["train"][text_column]
    references = [normalise_text(t) for t in train]
    normal_train = set(references)
    exact_earlier, normal_earlier = set(train), set(normal_train)
    counts: dict[str, Any] = {"mode": mode, "train_within": _within(train)}
    repeats: dict[str, list[int]] = {}
    examples: list[str] = []
    for name in [s for s in SPLIT_ORDER[1:] if s in splits] + [s for s in splits if s not in SPLIT_ORDER]:
        texts = splits[name][text_column]
        normal = [normalise_text(t) for t in texts]
        exact = sum(t in exact_earlier for t in texts)
        repeats[name] = [i for i, t in enumerate(normal) if t in normal_earlier]
        counts[name] = {"rows": len(texts), "exact": exact, "normalised": len(repeats[name]),
                        "dropped": len(repeats[name]) if mode == "drop" else 0, "within": _within(texts)}
        if name == "test" and "validation" in splits:
            counts[name]["of_validation"] = sum(normal[i] not in normal_train for i in repeats[name])
        near, info = near_duplicate_rows(normal, references, set(repeats[name]))
        counts[name]["near_duplicates"] = len(near)
        if info["sampled"]:
            counts[name]["near_duplicates_sampled"] = True
        examples += [f"{name} row {i + 1}: {texts[i][:60]!r}" for i in repeats[name][:2]]
        # later splits are compared with every earlier one: test with train and validation
        exact_earlier |= set(texts)
        normal_earlier |= set(normal)
        references += normal
    _report_within_and_near(counts)
    found = ", ".join(f"{name} {c['exact']} exact / {c['normalised']} after normalising of {c['rows']}"
                      for name, c in counts.items() if isinstance(c, dict))
    if not any(repeats.values()):
        return splits, counts
    if mode == "error":
        raise DataError(
            f"validation/test texts repeat train texts ({found}; normalising masks digits and folds case and "
            f"whitespace), so their metrics would reward memorising, e.g. {'; '.join(examples[:3])}. Remove the "
            "repeats from your files, split by customer with data.group_column, or set data.dedup=drop (drop "
            "them from validation/test) or data.dedup=warn (keep them)."
        )
    if mode == "warn":
        logger.warning(f"validation/test texts that repeat a train text are kept (data.dedup=warn): {found}; "
                       "their metrics are optimistic")
        return splits, counts
    emptied = [name for name, rows in repeats.items() if rows and len(rows) == len(splits[name])]
    if emptied:
        raise DataError(
            f"data.dedup=drop would remove every row of {emptied} ({found}): each one repeats a train text once "
            "digits are masked. Such templated texts need a split by customer/account (data.group_column) or "
            "by time (data.time_column); data.dedup=warn keeps them."
        )
    out = datasets.DatasetDict()
    for name, split in splits.items():
        drop = set(repeats.get(name, []))
        out[name] = split.select([i for i in range(len(split)) if i not in drop]) if drop else split
    logger.info(f"dropped validation/test texts that repeat a train text (data.dedup=drop): {found}")
    return out, counts


def _report_within_and_near(counts: dict[str, Any]) -> None:
    splits = {name: c for name, c in counts.items() if isinstance(c, dict)}
    within = {"train": counts["train_within"], **{name: c["within"] for name, c in splits.items()}}
    if any(within.values()):
        logger.warning(f"texts repeated within a split (digits masked, case and space folded): {within}; they "
                       "weigh more than once in training or in a metric")
    near = {name: c["near_duplicates"] for name, c in splits.items() if c["near_duplicates"]}
    if near:
        logger.warning(f"near-duplicates of an earlier split's text (word Jaccard >= {NEAR_JACCARD}): {near}; kept, "
                       "but their metrics are optimistic (one changed word is not a new case)")
