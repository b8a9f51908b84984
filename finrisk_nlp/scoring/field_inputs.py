"""Checking the structured fields of ``finrisk score`` inputs before anything is written.

    finrisk score runs/credit_application applications.parquet --out scores.parquet

A model trained with ``data.feature_columns`` reads each table row's text and fields. Every problem that would
otherwise surface halfway through a run is found first, so a refused run leaves no output behind: a table that
lacks some field columns, a non-number in a numeric field (named with its rows), and bare documents (files, or a
table with none of the field columns) for a model trained without ``model.field_dropout``.
"""

from __future__ import annotations

from pathlib import Path

from finrisk_nlp.errors import DataError
from finrisk_nlp.inference.predictor import Predictor
from finrisk_nlp.scoring.documents import TABLE_SUFFIXES, expand_inputs


def check_field_inputs(predictor: Predictor, inputs: list[str]) -> None:
    """Raise :class:`DataError` (exit 2) for inputs a model with fields cannot score; nothing for a text-only model.

    Raises:
        DataError: naming the input and the missing fields, or the column and rows of non-numeric values.
    """
    if predictor.fields is None:
        return
    from finrisk_nlp.data.tables import load_table

    names = predictor.field_names
    may_be_bare = predictor.field_dropout > 0
    advice = ("add them (an empty value counts as missing)" if not may_be_bare else
              "add them (an empty value counts as missing), or drop them all to score the text alone")
    for item in expand_inputs(inputs):
        path = Path(item)
        if not (path.is_file() and path.suffix.lower() in TABLE_SUFFIXES):
            if not may_be_bare:
                raise DataError(f"{item}: documents read from files carry no fields, but this model reads the fields "
                                f"{names} beside the text and was trained without field dropout; score a table "
                                "(CSV/JSONL/Parquet) with the text and these columns, or use a model trained with "
                                "model.field_dropout > 0")
            continue
        table = load_table(path)
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
