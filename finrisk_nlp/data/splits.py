"""Train/validation/test splits: random, out-of-time and grouped, and the leakage check between them.

Used by :func:`finrisk_nlp.data.tables.load_splits`, i.e. by every recipe and ``finrisk validate``::

    finrisk validate data.train_file=loans.csv data.time_column=application_date data.group_column=customer_id

- **random** (default): stratified by label.
- **time** (``data.time_column``): rows sorted by the column (ISO dates or numbers); train is the past,
  validation the next period and test the latest. Rows sharing a timestamp never straddle a cut: they go to
  the later split.
- **group** (``data.group_column``): every row of a customer/account lands in one split, stratified by label
  where the groups allow it (scikit-learn's ``StratifiedGroupKFold``, else ``GroupShuffleSplit``). The
  fractions are then met to within one group and one fold (``1 / round(1 / fraction)``).
- **time+group**: time decides, and every evaluation split stays strictly later than train (validation later
  than train, test later than validation). A group (customer/account) whose rows span a cut belongs to the
  latest split it reaches; its rows dated in an earlier split are dropped, never moved (moving them would put
  early dates into a later split). The cuts are refitted so that the kept rows stay near the asked fractions;
  the dropped rows are counted in the split summary (``groups.rows_dropped``), the report and the model card.

:func:`summarise_splits` describes the result (kind, periods, groups, duplicates) for ``metrics.json``.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections import Counter
from datetime import date, datetime, timezone
from typing import Any

import datasets
import numpy as np
from sklearn.model_selection import GroupShuffleSplit, StratifiedGroupKFold, train_test_split

from finrisk_nlp.config import SPLITS
from finrisk_nlp.errors import DataError
from finrisk_nlp.tasks import Task

logger = logging.getLogger(__name__)

MULTI_LABEL_SEPARATORS = ("|", ";")


def label_values(value: Any, multi_label: bool) -> list[str]:
    """The label(s) of one row as strings; multi-label cells may be lists or 'a|b' / 'a;b' strings."""
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


def _strata(table: datasets.Dataset, task: Task) -> np.ndarray:
    strata = np.asarray(["|".join(sorted(label_values(v, task.multi_label))) or "none"
                         for v in table[task.label_column]])
    # Multi-label combinations can be too rare to stratify on; fall back to the first label then.
    if task.multi_label and min(Counter(strata).values()) < 3:
        strata = np.asarray([s.split("|")[0] for s in strata])
    return strata


def _require_column(table: datasets.Dataset, column: str, key: str, source: str) -> list[Any]:
    if column not in table.column_names:
        raise DataError(
            f"{source}: data.{key}={column!r} names no column; found {table.column_names}. "
            f"Set data.{key} to one of them, or to null for a {'random' if key == 'time_column' else 'row-wise'} split."
        )
    return table[column]


def time_keys(values: list[Any], column: str, source: str) -> list[float] | list[datetime]:
    """Sortable keys for a time column: numbers as they are, else ISO-8601 dates/datetimes (aware ones in UTC).

    Raises:
        DataError: naming the first rows whose value is neither, with what to do.
    """
    def as_number(v: Any) -> float | None:
        if isinstance(v, bool) or v is None:
            return None
        try:
            number = float(v) if isinstance(v, int | float | str) else None
        except ValueError:
            return None
        return None if number is None or math.isnan(number) else number

    numbers = [as_number(v) for v in values]
    if values and all(n is not None for n in numbers):
        return numbers  # type: ignore[return-value]

    def as_datetime(v: Any) -> datetime | None:
        if isinstance(v, datetime):
            moment = v
        elif isinstance(v, date):
            moment = datetime(v.year, v.month, v.day)
        elif isinstance(v, str):
            try:
                moment = datetime.fromisoformat(v.strip())
            except ValueError:
                return None
        else:
            return None
        # Aware and naive datetimes cannot be compared; aware ones are put on UTC, naive ones taken as UTC.
        return moment.astimezone(timezone.utc).replace(tzinfo=None) if moment.tzinfo else moment

    keys = [as_datetime(v) for v in values]
    bad = [(i, v) for i, (v, k) in enumerate(zip(values, keys, strict=True)) if k is None]
    if bad:
        rows = ", ".join(f"row {i + 1} ({v!r})" for i, v in bad[:5])
        raise DataError(
            f"{source}: time column {column!r} must hold ISO dates (2024-03-31, 2024-03-31T14:05:00) or numbers "
            f"(a year, a period index, a Unix time) in every row, but {len(bad)} row(s) do not: {rows}"
            f"{' ...' if len(bad) > 5 else ''}. Fix or remove these rows, or set data.time_column=null."
        )
    return keys  # type: ignore[return-value]


def _snap_back(sorted_keys: list[Any], cut: int) -> int:
    """Move a cut back to the first row of its timestamp, so equal timestamps share the later split."""
    while 0 < cut < len(sorted_keys) and sorted_keys[cut - 1] == sorted_keys[cut]:
        cut -= 1
    return cut


def _sorted_keys(keys: list[Any]) -> tuple[np.ndarray, list[Any]]:
    order = np.argsort(np.asarray(keys, dtype=object), kind="stable")
    return order, [keys[i] for i in order]


def _assign_counts(order: np.ndarray, sorted_keys: list[Any], n_val: int, n_test: int, column: str) -> np.ndarray:
    """Split index per row with about ``n_test`` latest rows in test and ``n_val`` before them in validation;
    cuts fall between distinct times only."""
    n = len(sorted_keys)
    cut_test = _snap_back(sorted_keys, n - n_test)
    cut_val = _snap_back(sorted_keys, min(n - n_test - n_val, cut_test))
    if not 0 < cut_val < cut_test < n:
        raise DataError(
            f"cannot cut {n} rows by time column {column!r} into train, validation and test periods: "
            f"{len(set(sorted_keys))} distinct value(s) (the latest, {sorted_keys[-1]}, alone covers "
            f"{n - _snap_back(sorted_keys, n - 1)} rows). Use a finer time column, add data from more periods, "
            "or set data.time_column=null."
        )
    assignment = np.empty(n, dtype=int)
    assignment[order[:cut_val]], assignment[order[cut_val:cut_test]], assignment[order[cut_test:]] = 0, 1, 2
    return assignment


def assign_by_time(keys: list[Any], validation_fraction: float, test_fraction: float, column: str) -> np.ndarray:
    """Split index per row (0 train, 1 validation, 2 test): the latest fractions of time go to validation/test.

    Raises:
        DataError: if the column has too few distinct times to give every split its own period.
    """
    n = len(keys)
    order, sorted_keys = _sorted_keys(keys)
    return _assign_counts(order, sorted_keys, math.ceil(n * validation_fraction), math.ceil(n * test_fraction),
                          column)


DROPPED = -1
SPANNING_RULE = ("a group whose rows span a time cut belongs to the latest split it reaches; its rows dated in "
                 "earlier splits are dropped")


def drop_early_rows_of_spanning_groups(assignment: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, int, int]:
    """Keep each group in the latest split it reaches and mark its rows in earlier splits :data:`DROPPED`.

    Returns:
        The assignment, the number of groups that spanned a cut and the number of rows dropped.
    """
    latest: dict[Any, int] = {}
    for group, split in zip(groups.tolist(), assignment.tolist(), strict=True):
        latest[group] = max(latest.get(group, 0), split)
    belongs = np.asarray([latest[g] for g in groups.tolist()], dtype=int)
    early = assignment < belongs
    out = np.where(early, DROPPED, assignment)
    return out, len(set(groups[early].tolist())), int(early.sum())


def assign_by_time_and_group(keys: list[Any], groups: np.ndarray, validation_fraction: float,
                             test_fraction: float, column: str, rounds: int = 12) -> tuple[np.ndarray, int, int]:
    """Out-of-time split without a group in two splits (:data:`SPANNING_RULE`), the cuts refitted until the
    kept validation and test rows are near their fractions of all kept rows.

    Returns:
        The split index per row (:data:`DROPPED` for dropped rows), groups that spanned a cut, rows dropped.

    Raises:
        DataError: if the column has too few distinct times to give every split its own period.
    """
    n = len(keys)
    order, sorted_keys = _sorted_keys(keys)
    ask = (math.ceil(n * validation_fraction), math.ceil(n * test_fraction))
    best: tuple[float, np.ndarray, int, int] | None = None
    tried = set()
    for _ in range(rounds):
        tried.add(ask)
        try:
            assignment = _assign_counts(order, sorted_keys, *ask, column)
        except DataError:
            if best is None:
                raise
            break
        assignment, spanning, dropped = drop_early_rows_of_spanning_groups(assignment, groups)
        kept = n - dropped
        want = (validation_fraction * kept, test_fraction * kept)
        got = (int((assignment == 1).sum()), int((assignment == 2).sum()))
        miss = abs(got[0] - want[0]) + abs(got[1] - want[1])
        if best is None or miss < best[0]:
            best = (miss, assignment, spanning, dropped)
        # ask for as many more rows as are missing; validation rows of groups that reach test are lost, so ask more
        ask = (max(1, ask[0] + round(want[0] - got[0])), max(1, ask[1] + round(want[1] - got[1])))
        if miss < 2 or ask in tried or sum(ask) >= n:
            break
    assert best is not None
    return best[1], best[2], best[3]


def _hold_out_groups(indices: np.ndarray, strata: np.ndarray, groups: np.ndarray, fraction: float,
                     seed: int) -> tuple[np.ndarray, np.ndarray, bool]:
    """Split ``indices`` into (kept, held out ~fraction) without cutting a group; stratified where possible."""
    folds = max(2, round(1 / fraction))
    if len(set(groups[indices])) >= folds:
        try:
            with warnings.catch_warnings():  # "least populated class has fewer members than n_splits": best effort
                warnings.simplefilter("ignore", UserWarning)
                splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
                kept, held = next(splitter.split(indices, strata[indices], groups[indices]))
            return indices[kept], indices[held], True
        except ValueError:
            pass
    splitter = GroupShuffleSplit(n_splits=1, test_size=fraction, random_state=seed)
    kept, held = next(splitter.split(indices, groups=groups[indices]))
    return indices[kept], indices[held], False


def assign_by_group(groups: np.ndarray, strata: np.ndarray, validation_fraction: float, test_fraction: float,
                    seed: int, column: str) -> tuple[np.ndarray, bool]:
    """Split index per row so that each group falls in one split; also whether both cuts were stratified.

    Raises:
        DataError: if there are fewer than three groups.
    """
    if len(set(groups)) < 3:
        raise DataError(
            f"cannot split by group column {column!r}: it holds {len(set(groups))} distinct value(s), but "
            "train, validation and test need at least one group each. Check the column, or set "
            "data.group_column=null."
        )
    rest, test, stratified_test = _hold_out_groups(np.arange(len(groups)), strata, groups, test_fraction, seed)
    relative = validation_fraction / (1.0 - test_fraction)
    train, val, stratified_val = _hold_out_groups(rest, strata, groups, relative, seed)
    assignment = np.zeros(len(groups), dtype=int)
    assignment[val], assignment[test] = 1, 2
    return assignment, stratified_test and stratified_val


def _group_values(table: datasets.Dataset, column: str, source: str) -> np.ndarray:
    values = _require_column(table, column, "group_column", source)
    missing = [i for i, v in enumerate(values) if v is None or (isinstance(v, str) and not v.strip())]
    if missing:
        rows = ", ".join(f"row {i + 1}" for i in missing[:5])
        raise DataError(
            f"{source}: group column {column!r} is empty in {len(missing)} row(s): {rows}"
            f"{' ...' if len(missing) > 5 else ''}. Every row needs its customer/account id; fill or remove them."
        )
    return np.asarray([str(v) for v in values])


def split_table(
    table: datasets.Dataset,
    task: Task,
    validation_fraction: float,
    test_fraction: float,
    seed: int,
    *,
    time_column: str | None = None,
    group_column: str | None = None,
    source: str = "train_file",
    summary: dict[str, Any] | None = None,
) -> datasets.DatasetDict:
    """Deterministic train/validation/test split of one table: random (stratified), by time, by group or both.

    Args:
        table: the rows to split.
        task: gives the label column (for stratification).
        validation_fraction: share of rows for validation (approximate for group splits).
        test_fraction: share of rows for test.
        seed: fixes the random and grouped splits.
        time_column: split chronologically by this column (latest rows are test).
        group_column: keep every value of this column in one split.
        source: the file named in error messages.
        summary: when given, receives ``kind`` and ``groups``: for time+group splits the groups that spanned a
            cut, the rows dropped and the rule, for group splits whether stratification was possible.

    Raises:
        DataError: for unparsable times, empty group ids, or data too small to split.
    """
    n = len(table)
    kind = "+".join(k for k, c in (("time", time_column), ("group", group_column)) if c) or "random"
    groups_info: dict[str, Any] = {}
    if time_column:
        keys = time_keys(_require_column(table, time_column, "time_column", source), time_column, source)
        if group_column:
            groups = _group_values(table, group_column, source)
            assignment, spanning, dropped = assign_by_time_and_group(keys, groups, validation_fraction,
                                                                     test_fraction, time_column)
            groups_info = {"spanning_groups": spanning, "rows_dropped": dropped, "rule": SPANNING_RULE}
            if dropped:
                logger.warning(f"time+group split: {spanning} group(s) span a time cut; {dropped} of their rows, "
                               "dated before the split the group belongs to, are dropped so that validation and "
                               "test stay strictly later than train and no group is in two splits")
        else:
            assignment = assign_by_time(keys, validation_fraction, test_fraction, time_column)
    elif group_column:
        groups = _group_values(table, group_column, source)
        assignment, stratified = assign_by_group(groups, _strata(table, task), validation_fraction, test_fraction,
                                                 seed, group_column)
        groups_info = {"stratified": stratified}
    else:
        assignment = _assign_randomly(table, task, validation_fraction, test_fraction, seed)
    splits = datasets.DatasetDict(
        {name: table.select(np.flatnonzero(assignment == k).tolist()) for k, name in enumerate(SPLITS)}
    )
    empty = [name for name in SPLITS if len(splits[name]) == 0]
    if empty:
        raise DataError(
            f"the {kind} split of {n} rows left {empty} empty; add data, lower the long-lived groups' share, "
            "or pass data.validation_file and data.test_file explicitly"
        )
    if summary is not None:
        summary.update(kind=kind, groups=groups_info)
    return splits


def _assign_randomly(table: datasets.Dataset, task: Task, validation_fraction: float, test_fraction: float,
                     seed: int) -> np.ndarray:
    indices = np.arange(len(table))
    strata = _strata(table, task)
    try:
        rest, test = train_test_split(indices, test_size=test_fraction, random_state=seed, stratify=strata)
        relative = validation_fraction / (1.0 - test_fraction)
        _, val = train_test_split(rest, test_size=relative, random_state=seed, stratify=strata[rest])
    except ValueError as exc:
        raise DataError(
            f"cannot make a stratified split of {len(table)} rows ({exc}); add data, or pass "
            "data.validation_file and data.test_file explicitly"
        ) from exc
    assignment = np.zeros(len(table), dtype=int)
    assignment[val], assignment[test] = 1, 2
    return assignment


def carve_calibration(
    pool: datasets.Dataset, task: Task, share: float, seed: int, *, time_column: str | None = None,
    group_column: str | None = None, source: str = "validation split",
) -> tuple[datasets.Dataset, datasets.Dataset, int, int]:
    """Split the validation rows into (validation, calibration) the way the data is split: the latest
    ``share`` of time with a time column (calibration then sits between epoch selection and test), whole groups
    with a group column, both with both (a group spanning the cut keeps its calibration rows and loses its
    earlier validation rows, as in :data:`SPANNING_RULE`), else stratified by label.

    Returns:
        The validation part, the calibration part, the groups spanning the cut and the validation rows dropped.

    Raises:
        DataError: when the pool is too small to give both parts a row.
    """
    n = len(pool)
    spanning = dropped = 0
    if time_column:
        keys = time_keys(pool[time_column], time_column, source)
        order, sorted_keys = _sorted_keys(keys)
        cut = _snap_back(sorted_keys, n - math.ceil(n * share))
        part = np.empty(n, dtype=int)
        part[order[:cut]], part[order[cut:]] = 0, 1
        if group_column:
            part, spanning, dropped = drop_early_rows_of_spanning_groups(part, _group_values(pool, group_column,
                                                                                              source))
        keep, held = np.flatnonzero(part == 0), np.flatnonzero(part == 1)
    elif group_column:
        groups = _group_values(pool, group_column, source)
        keep, held, _ = _hold_out_groups(np.arange(n), _strata(pool, task), groups, share, seed) \
            if len(set(groups)) >= 2 else (np.arange(n), np.array([], dtype=int), False)
    else:
        try:
            keep, held = train_test_split(np.arange(n), test_size=share, random_state=seed,
                                          stratify=_strata(pool, task))
        except ValueError:  # too few rows of a class to stratify: a plain random cut
            keep, held = train_test_split(np.arange(n), test_size=share, random_state=seed)
    if not len(keep) or not len(held):
        raise DataError(
            f"data.calibration_fraction: cannot cut {n} validation rows into validation and calibration parts "
            f"({len(keep)} and {len(held)} rows); add data, raise data.validation_fraction, or set "
            "data.calibration_fraction=null"
        )
    return pool.select(sorted(keep.tolist())), pool.select(sorted(held.tolist())), spanning, dropped


def count_groups(splits: datasets.DatasetDict, column: str) -> dict[str, int]:
    """Distinct groups per split, and how many validation/test groups also occur in train (0 when grouped)."""
    seen = {name: set(map(str, split[column])) for name, split in splits.items() if column in split.column_names}
    counts = {name: len(values) for name, values in seen.items()}
    train = seen.get("train", set())
    counts["shared_with_train"] = sum(len(values & train) for name, values in seen.items() if name != "train")
    return counts


def describe_periods(splits: datasets.DatasetDict, column: str) -> dict[str, dict[str, Any]]:
    """The first and last value of the time column in each split that has it (as found in the data)."""
    periods: dict[str, dict[str, Any]] = {}
    for name, split in splits.items():
        if column not in split.column_names or len(split) == 0:
            continue
        values = split[column]
        keys = time_keys(values, column, f"{name} split")
        first, last = min(range(len(keys)), key=keys.__getitem__), max(range(len(keys)), key=keys.__getitem__)
        periods[name] = {"min": _plain(values[first]), "max": _plain(values[last])}
    return periods


def _plain(value: Any) -> Any:
    # Readers turn ISO date strings into midnight timestamps; they are shown as the dates they were written as.
    if isinstance(value, datetime) and value.time() == datetime.min.time() and value.tzinfo is None:
        return value.date().isoformat()
    return value.isoformat() if isinstance(value, date) else value



def _starts_before_train_ends(splits: datasets.DatasetDict, name: str, column: str) -> bool:
    try:
        train = time_keys(splits["train"][column], column, "train split")
        later = time_keys(splits[name][column], column, f"{name} split")
        return min(later) <= max(train)  # type: ignore[operator]
    except TypeError:  # numbers in one file, dates in the other: not comparable, reported as overlapping
        return True


def summarise_splits(
    splits: datasets.DatasetDict,
    kind: str,
    *,
    time_column: str | None = None,
    group_column: str | None = None,
    groups_info: dict[str, Any] | None = None,
    dedup: dict[str, Any] | None = None,
    files: list[str] | None = None,
) -> dict[str, Any]:
    """The split summary a run reports (``metrics.json`` key ``splits``, ``report.md``, the model card).

    Returns:
        ``{"kind": "random"|"time"|"group"|"time+group"|"files", "rows": {split: n}, "periods": {split:
        {"min", "max"}}, "groups": {split: n, "shared_with_train": n, ...}, "dedup": {...}}``, plus
        ``time_column``/``group_column`` when set, ``out_of_time`` (with a time column: whether every
        evaluation split starts after train ends) and ``files`` (the splits read from their own files).
        Validation/test splits that start before train ends, or share groups with it, are logged as warnings.
    """
    summary: dict[str, Any] = {"kind": kind, "rows": {name: len(split) for name, split in splits.items()},
                               "periods": {}, "groups": {}, "dedup": dict(dedup or {})}
    files = list(files or [])
    if files:
        summary["files"] = files
    if time_column:
        summary["time_column"] = time_column
        summary["periods"] = describe_periods(splits, time_column)
        early = [name for name in splits if name != "train" and name in summary["periods"]
                 and "train" in summary["periods"] and _starts_before_train_ends(splits, name, time_column)]
        summary["out_of_time"] = not early
        if early:
            logger.warning(f"{early} file(s) start before train ends ({time_column!r}: {summary['periods']}): "
                           "this is not an out-of-time validation")
    if group_column:
        summary["group_column"] = group_column
        summary["groups"] = {**count_groups(splits, group_column), **(groups_info or {})}
        if summary["groups"]["shared_with_train"]:
            logger.warning(f"{summary['groups']['shared_with_train']} {group_column!r} group(s) of validation/test "
                           "also occur in train: their metrics are optimistic for new customers")
    return summary
