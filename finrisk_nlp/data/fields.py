"""Structured fields beside the text: typing, missing values, scaling and category vocabularies, fitted on train.

Used by every run with ``data.feature_columns`` and by every use of such a model (``finrisk predict --json``,
``finrisk score``, ``finrisk serve``)::

    accelerate launch recipes/credit_application.py data.feature_columns=[income,amount,region]

A :class:`FieldPreprocessor` is fitted on the training split only and saved inside ``finrisk_model.json`` (plain
JSON numbers and strings, no pickle), so a reloaded model turns a record into exactly the same inputs:

* numeric fields: a missing indicator each, the missing value imputed with the training median; amounts (heavy
  tails, large magnitudes) go through a signed ``log1p`` first, so a linear head can weigh their logarithms and
  express ratios such as debt / income; then robust scaling (median and inter-quartile range from
  scikit-learn's ``RobustScaler``), clipped to +-``CLIP``.
* categorical fields: a vocabulary of the training values (most frequent first, at most ``MAX_CATEGORIES``), index 0
  for a missing value and 1 for a value never seen in training (counted, so scoring reports drifted categories).

A row with no field at all (a bare document) is marked absent: its whole field vector is dropped, which is only
meaningful for models trained with ``model.field_dropout > 0``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

from finrisk_nlp.errors import DataError

FieldKind = Literal["numeric", "categorical"]
MISSING_INDEX = 0
UNKNOWN_INDEX = 1
MAX_CATEGORIES = 200  # rarer training values share the unknown bucket
CLIP = 8.0  # scaled numeric values beyond this many IQRs are clipped: one wild amount must not swamp the head
NUMERIC_SHARE = 0.9  # type inference: a column whose values are at least this share numbers is numeric
HEAVY_MAGNITUDE = 100.0  # a numeric field reaching this |value| (or highly skewed) is log-scaled: an amount


def is_missing(value: Any) -> bool:
    """None, NaN and empty / blank strings are missing values."""
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    return isinstance(value, str) and not value.strip()


def as_number(value: Any) -> float | None:
    """A float for numbers and numeric strings ("1200", " 3.5 "); None when the value is not a number."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float | np.integer | np.floating):
        return float(value)
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def signed_log1p(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.log1p(np.abs(x))


@dataclass
class FieldSpec:
    """One fitted field: its kind, how it is transformed, and what training saw (for the model card)."""

    name: str
    kind: FieldKind
    log: bool = False  # numeric: signed log1p before scaling
    center: float = 0.0  # numeric: training median of the (logged) values
    scale: float = 1.0  # numeric: training inter-quartile range of the (logged) values
    categories: list[str] = field(default_factory=list)  # categorical: vocabulary, index i + 2
    stats: dict[str, Any] = field(default_factory=dict)  # training: missing rate, min/max/median or top categories

    @property
    def cardinality(self) -> int:
        """Embedding rows of a categorical field: missing + unknown + vocabulary."""
        return len(self.categories) + 2

    @property
    def embedding_dim(self) -> int:
        """Width of a categorical field's embedding (fastai's rule of thumb, capped at 16)."""
        return int(min(16, max(2, round(1.6 * self.cardinality ** 0.56))))


@dataclass
class FieldBatch:
    """Model inputs of a batch of rows: scaled numeric values then their missing indicators ``(n, 2 * numeric)``,
    category indices ``(n, categorical)``, whether each row had any field (``present``) and which were missing."""

    numeric: np.ndarray
    categorical: np.ndarray
    present: np.ndarray
    missing: list[list[str]]
    unseen: Counter[str] = field(default_factory=Counter)  # field -> rows with a category never seen in training

    def tensors(self, device: Any = None) -> dict[str, Any]:
        """The head's keyword inputs (``field_numeric``, ``field_categorical``, ``field_present``) as torch tensors."""
        import torch

        return {"field_numeric": torch.as_tensor(self.numeric, device=device),
                "field_categorical": torch.as_tensor(self.categorical, device=device),
                "field_present": torch.as_tensor(self.present.astype(np.float32), device=device)}

    def rows(self, start: int, stop: int) -> FieldBatch:
        """Rows ``start:stop`` (unseen counts are not split)."""
        return FieldBatch(self.numeric[start:stop], self.categorical[start:stop], self.present[start:stop],
                          self.missing[start:stop])


class FieldPreprocessor:
    """The fitted transformation of a task's fields; ``to_dict``/``from_dict`` round-trip it exactly through JSON."""

    def __init__(self, specs: list[FieldSpec]) -> None:
        self.specs = specs

    def __eq__(self, other: object) -> bool:  # the same fitted fields (a saved model's metadata compares equal)
        return isinstance(other, FieldPreprocessor) and self.specs == other.specs

    __hash__ = None  # type: ignore[assignment]  (mutable specs)

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.specs]

    @property
    def numeric(self) -> list[FieldSpec]:
        return [s for s in self.specs if s.kind == "numeric"]

    @property
    def categorical(self) -> list[FieldSpec]:
        return [s for s in self.specs if s.kind == "categorical"]

    def input_layout(self) -> dict[str, Any]:
        """What the model's field encoder needs: the numeric input width and each categorical field's
        (cardinality, embedding width)."""
        return {"numeric_width": 2 * len(self.numeric),
                "categories": [[s.cardinality, s.embedding_dim] for s in self.categorical]}

    def to_dict(self) -> dict[str, Any]:
        return {"fields": [asdict(s) for s in self.specs]}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> FieldPreprocessor:
        return cls([FieldSpec(**spec) for spec in raw["fields"]])

    @classmethod
    def fit(cls, rows: Mapping[str, Sequence[Any]], columns: Sequence[str], categorical: Sequence[str] | None,
            source: str) -> FieldPreprocessor:
        """Fit on the training rows (``{column: values}``).

        Args:
            columns: the field columns (``data.feature_columns``), in model input order within each kind.
            categorical: columns to treat as categories (``data.categorical_columns``); None infers the kind: a
                column is numeric when at least 90% of its values are numbers (the others are then reported as
                errors), categorical otherwise.
            source: the file the rows come from (for messages).

        Raises:
            DataError: for a column that is not in the data, a declared-numeric column holding non-numbers, or a
                column with no value at all.
        """
        check_columns(list(rows), columns, source)
        specs = []
        for name in columns:
            values = list(rows[name])
            present = [v for v in values if not is_missing(v)]
            if not present:
                raise DataError(f"{source}: field column {name!r} has no value in any of its {len(values)} training "
                                "rows; fill it or leave it out of data.feature_columns")
            if categorical is None:
                # Mostly numbers with a few stray values is a data error (named with its rows), not a category.
                share = sum(as_number(v) is not None for v in present) / len(present)
                kind: FieldKind = "numeric" if share >= NUMERIC_SHARE else "categorical"
            else:
                kind = "categorical" if name in categorical else "numeric"
            missing_rate = round(1 - len(present) / len(values), 6)
            if kind == "numeric":
                numbers = numeric_column(name, values, source)
                specs.append(fit_numeric(name, numbers, missing_rate))
            else:
                counts = Counter(category_text(v) for v in present)
                vocabulary = [c for c, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))][:MAX_CATEGORIES]
                top = {c: counts[c] for c in vocabulary[:10]}
                specs.append(FieldSpec(name, "categorical", categories=vocabulary, stats={
                    "missing_rate": missing_rate, "num_categories": len(counts), "top_categories": top}))
        return cls(specs)

    def transform(self, rows: Sequence[Mapping[str, Any] | None], source: str = "input") -> FieldBatch:
        """Model inputs of ``rows`` (dicts holding the field keys; None or a dict without any field key: absent).

        Raises:
            DataError: naming the column and rows when a numeric field holds a non-number.
        """
        n = len(rows)
        numeric = np.zeros((n, 2 * len(self.numeric)), dtype=np.float32)
        categorical = np.zeros((n, len(self.categorical)), dtype=np.int64)
        present = np.array([row is not None and any(k in row for k in self.names) for row in rows], dtype=bool)
        missing: list[list[str]] = [[s.name for s in self.specs if row is None or is_missing(row.get(s.name))]
                                    for row in rows]
        width = len(self.numeric)
        for j, spec in enumerate(self.numeric):
            values = numeric_column(spec.name, [None if r is None else r.get(spec.name) for r in rows], source)
            absent = np.isnan(values)
            numeric[:, j] = np.where(absent, 0.0, spec_scale(spec, np.nan_to_num(values)))
            numeric[:, width + j] = absent
        unseen: Counter[str] = Counter()
        for j, spec in enumerate(self.categorical):
            index = {c: i + 2 for i, c in enumerate(spec.categories)}
            for i, row in enumerate(rows):
                value = None if row is None else row.get(spec.name)
                if is_missing(value):
                    categorical[i, j] = MISSING_INDEX
                else:
                    categorical[i, j] = index.get(category_text(value), UNKNOWN_INDEX)
                    unseen[spec.name] += int(categorical[i, j] == UNKNOWN_INDEX)
        return FieldBatch(numeric, categorical, present, missing, +unseen)

    def example_rows(self, n: int) -> list[dict[str, Any]]:
        """``n`` rows spanning what training saw, for parity checks: each numeric field cycles through its minimum,
        median, maximum, a value beyond the range and missing; each categorical field through its categories, a
        value never seen and missing; the last row has no field at all (a bare document)."""
        rows: list[dict[str, Any]] = []
        for i in range(n):
            row: dict[str, Any] = {}
            for k, s in enumerate(self.specs):
                if s.kind == "numeric":
                    choices = [s.stats["min"], s.stats["median"], s.stats["max"], 10 * s.stats["max"] + 1, None]
                else:
                    choices = [*s.categories, "never-seen-in-training", None]
                row[s.name] = choices[(i + k) % len(choices)]
            rows.append(row)
        return rows[:-1] + [{}] if n > 1 else rows

    def card(self) -> list[dict[str, Any]]:
        """One entry per field for the model card and registry: name, kind, scaling and training statistics."""
        out = []
        for s in self.specs:
            entry: dict[str, Any] = {"name": s.name, "kind": s.kind, **s.stats}
            if s.kind == "numeric":
                entry["scaling"] = "signed log1p, then robust" if s.log else "robust"
            out.append(entry)
        return out


def split_records(records: Sequence[str | Mapping[str, Any]], text_column: str, fields: FieldPreprocessor | None,
                  source: str = "input") -> tuple[list[str], FieldBatch | None]:
    """Texts and field inputs of records: plain strings (bare documents) or dicts holding the text under
    ``text_column`` (or ``text``) and the fields.

    Raises:
        DataError: for a record without text, or a non-number in a numeric field.
    """
    texts: list[str] = []
    rows: list[Mapping[str, Any] | None] = []
    for i, record in enumerate(records):
        if isinstance(record, str):
            texts.append(record)
            rows.append(None)
            continue
        key = next((k for k in (text_column, "text") if k in record), None)
        if key is None or not isinstance(record[key], str):
            raise DataError(f"{source}: record {i + 1} has no text under {text_column!r}; each record needs its "
                            f"text there (found keys {sorted(record)[:10]})")
        texts.append(record[key])
        rows.append(record)
    return texts, (fields.transform(rows, source) if fields is not None else None)


def spec_scale(spec: FieldSpec, values: np.ndarray) -> np.ndarray:
    logged = signed_log1p(values) if spec.log else values
    return np.clip((logged - spec.center) / spec.scale, -CLIP, CLIP).astype(np.float32)


def category_text(value: Any) -> str:
    """Categories compare as text, so 3, 3.0 and "3" from CSV, JSON or Parquet agree."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def numeric_column(name: str, values: Sequence[Any], source: str) -> np.ndarray:
    """Floats (NaN where missing).

    Raises:
        DataError: naming the column and the first rows (1-based) whose value is not a number.
    """
    out = np.full(len(values), np.nan, dtype=np.float64)
    bad = []
    for i, value in enumerate(values):
        if is_missing(value):
            continue
        number = as_number(value)
        if number is None:
            bad.append((i, value))
        else:
            out[i] = number
    if bad:
        rows = ", ".join(f"row {i + 1} ({str(v)[:30]!r})" for i, v in bad[:5])
        raise DataError(f"{source}: field {name!r} is numeric, but {len(bad)} row(s) hold something else: {rows}"
                        f"{' ...' if len(bad) > 5 else ''}. Fix or blank these values (blank = missing), or list the "
                        f"column in data.categorical_columns if it holds categories.")
    return out


def fit_numeric(name: str, numbers: np.ndarray, missing_rate: float) -> FieldSpec:
    """Median / IQR scaling of the present values, after signed log1p for amount-like columns."""
    from sklearn.preprocessing import RobustScaler

    present = numbers[~np.isnan(numbers)]
    skew = float(((present - present.mean()) ** 3).mean() / max(present.std(), 1e-12) ** 3) if len(present) > 2 else 0
    heavy = bool(np.abs(present).max() >= HEAVY_MAGNITUDE or abs(skew) > 2.0)
    logged = signed_log1p(present) if heavy else present
    scaler = RobustScaler().fit(logged.reshape(-1, 1))
    scale = float(scaler.scale_[0])
    if scale <= 0 or not math.isfinite(scale):  # a nearly constant column: its IQR is 0
        scale = float(logged.std()) or 1.0
    stats = {"missing_rate": missing_rate, "min": float(present.min()), "max": float(present.max()),
             "median": float(np.median(present))}
    return FieldSpec(name, "numeric", log=heavy, center=float(scaler.center_[0]), scale=scale, stats=stats)


def check_columns(found: Sequence[str], columns: Sequence[str], source: str) -> None:
    """Raises DataError naming the field columns missing from ``found``."""
    missing = [c for c in columns if c not in found]
    if missing:
        raise DataError(f"{source}: field column(s) {missing} from data.feature_columns are not in the data; found "
                        f"columns {list(found)}. Add them, or fix data.feature_columns.")
