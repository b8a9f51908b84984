"""Checking the table inputs of ``finrisk score`` before anything is written.

    finrisk score runs/credit_application applications.parquet --out scores.parquet --id-column application_id

Every problem that would otherwise surface halfway through a run is found first, so a refused run leaves no output
(and no parts directory that a corrected rerun would be refused by) behind: a table without the text column or
the ``--id-column``; and for a model trained with ``data.feature_columns``, a table that lacks some field columns,
a non-number in a numeric field (named with its rows), and bare documents (files, or a table with none of the
field columns) for a model trained without ``model.field_dropout``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from finrisk_nlp.errors import DataError
from finrisk_nlp.inference.predictor import Predictor
from finrisk_nlp.scoring.documents import TABLE_SUFFIXES, check_table_columns, expand_inputs

if TYPE_CHECKING:
    import datasets


def check_table_inputs(predictor: Predictor, inputs: list[str], text_column: str, id_column: str | None = None,
                       ) -> None:
    """Raise :class:`DataError` (exit 2) for inputs this run cannot score.

    Raises:
        DataError: naming the table and the column it lacks, or for a model with fields the missing fields, the
            column and rows of non-numeric values, or the bare documents it cannot score.
    """
    from finrisk_nlp.data.tables import load_table, table_columns

    for item in expand_inputs(inputs):
        path = Path(item)
        if not (path.is_file() and path.suffix.lower() in TABLE_SUFFIXES):
            _check_bare_documents(predictor, item)
            continue
        table = load_table(path) if predictor.fields is not None else None  # the field values are checked too
        columns = table.column_names if table is not None else table_columns(path)
        check_table_columns(path, columns, text_column, id_column)
        if table is not None:
            _check_fields(predictor, table, path)


def _check_bare_documents(predictor: Predictor, item: str) -> None:
    if predictor.fields is not None and predictor.field_dropout <= 0:
        raise DataError(f"{item}: documents read from files carry no fields, but this model reads the fields "
                        f"{predictor.field_names} beside the text and was trained without field dropout; score a "
                        "table (CSV/JSONL/Parquet) with the text and these columns, or use a model trained with "
                        "model.field_dropout > 0")


def _check_fields(predictor: Predictor, table: datasets.Dataset, path: Path) -> None:
    assert predictor.fields is not None
    names = predictor.field_names
    may_be_bare = predictor.field_dropout > 0
    advice = ("add them (an empty value counts as missing)" if not may_be_bare else
              "add them (an empty value counts as missing), or drop them all to score the text alone")
    missing = [c for c in names if c not in table.column_names]
    if missing and (len(missing) < len(names) or not may_be_bare):
        raise DataError(f"{path}: this model reads the fields {names} beside the text, but {missing} "
                        f"{'is' if len(missing) == 1 else 'are'} not a column of this table (found "
                        f"{table.column_names}); {advice}"
                        + ("" if may_be_bare else "; a model trained with model.field_dropout > 0 may score "
                           "bare documents"))
    present = [c for c in names if c in table.column_names]
    if present:
        predictor.fields.transform(table.select_columns(present).to_list(), str(path))
