"""Texts (or records: text + structured fields) from the command line or a file, as ``finrisk predict`` and
``finrisk explain`` take them.

    finrisk predict runs/credit_text "text one" "text two"
    finrisk explain runs/credit_text --file narratives.txt
    finrisk predict runs/credit_application '{"text": "...", "income": 4200, "region": "north"}' --json
    finrisk predict runs/credit_application --json --records applications.jsonl
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from finrisk_nlp.errors import FinriskError


def file_texts(file: str | None) -> list[str]:
    """The non-blank lines of ``--file``."""
    if not file:
        return []
    path = Path(file)
    if not path.is_file():
        raise FinriskError(f"--file {str(path)!r} does not exist; give a text file with one text per line")
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def read_texts(args: argparse.Namespace, verb: str) -> list[str]:
    """Texts given as arguments plus those in ``--file`` (one per line); an error if there are none."""
    texts = list(args.texts) + file_texts(args.file)
    if not texts:
        raise FinriskError(f"nothing to {verb}: give texts as arguments or --file with one text per line")
    return texts


def parse_record(text: str, where: str) -> dict[str, Any]:
    """One JSON object (a record: the text and the fields)."""
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FinriskError(f"{where}: not a JSON object ({exc.msg} at character {exc.pos}); a record looks like "
                           '{"text": "...", "income": 4200, "region": "north"}') from None
    if not isinstance(record, dict):
        raise FinriskError(f"{where}: expected a JSON object (a record), found a {type(record).__name__}")
    return record


def read_records(args: argparse.Namespace, verb: str) -> list[str | dict[str, Any]]:
    """Texts and records: arguments that start with ``{`` are JSON records, the others texts; then the lines of
    ``--file`` (texts) and of ``--records`` (one JSON object per line)."""
    items: list[str | dict[str, Any]] = [parse_record(t, f"argument {i + 1}") if t.lstrip().startswith("{") else t
                                         for i, t in enumerate(args.texts)]
    items += file_texts(args.file)
    if getattr(args, "records", None):
        path = Path(args.records)
        if not path.is_file():
            raise FinriskError(f"--records {str(path)!r} does not exist; give a JSONL file with one record per line")
        items += [parse_record(line, f"{path} line {n}")
                  for n, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), 1) if line.strip()]
    if not items:
        raise FinriskError(f"nothing to {verb}: give texts or JSON records as arguments, --file with one text per "
                           "line, or --records with one JSON object per line")
    return items


def record_text(item: str | dict[str, Any], text_column: str) -> str:
    """The text of a text or a record (under the task's text column, or ``text``)."""
    if isinstance(item, str):
        return item
    return str(item.get(text_column, item.get("text", "")))
