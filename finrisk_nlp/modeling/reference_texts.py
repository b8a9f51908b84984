"""Validation texts saved with a model: what a reduced-precision model (int8) is compared with fp32 on.

    accelerate launch recipes/credit_text.py                        # writes RUN_DIR/model/reference_texts.json
    finrisk export runs/credit_text --format onnx --out exports/x   # the export carries the texts it was checked on
    finrisk score exports/x docs/ --out s.parquet --quantize int8   # the int8 gate compares on them

Training writes up to :data:`MAX_SAVED` validation texts per task with their labels, redacted
(:mod:`finrisk_nlp.data.redaction`) whatever ``data.redact_pii`` says, so a model folder never carries raw
identifiers. A model moved away from its run, published or exported keeps them, so its quality gate measures the
model's own task rather than a handful of built-in sentences.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from finrisk_nlp.data.redaction import redact_texts
from finrisk_nlp.modeling.layout import REFERENCE_TEXTS_FILE
from finrisk_nlp.provenance import write_json_atomic

MAX_SAVED = 512  # texts per task: what a gate reads at most
SAVED_WITH = ", saved with "


def _plain(labels: Any) -> list[Any] | None:
    if labels is None:
        return None
    return [v.tolist() if hasattr(v, "tolist") else v for v in labels][:MAX_SAVED]


def write_reference_texts(model_dir: Path, tasks: dict[str, tuple[list[str], Any]], source: str) -> None:
    """Save ``{task: (texts, labels or None)}`` as ``model_dir/reference_texts.json``, texts redacted."""
    entries = {}
    for name, (texts, labels) in tasks.items():
        redacted, _ = redact_texts(list(texts)[:MAX_SAVED])
        entries[name] = {"texts": redacted, "labels": _plain(labels)}
    origin = source.split(SAVED_WITH)[0]  # texts passed on from another folder keep the split they came from
    write_json_atomic(Path(model_dir) / REFERENCE_TEXTS_FILE, {"source": origin, "redacted": True, "tasks": entries})


def read_reference_texts(model_dir: Path, task: str) -> tuple[list[str], list[Any] | None, str] | None:
    """``(texts, labels or None, source)`` saved for ``task`` in ``model_dir``; None when there are none."""
    path = Path(model_dir) / REFERENCE_TEXTS_FILE
    if not path.is_file():
        return None
    document = json.loads(path.read_text())
    entry = (document.get("tasks") or {}).get(task)
    if not entry or not entry.get("texts"):
        return None
    return list(entry["texts"]), entry.get("labels"), f"{document.get('source')}{SAVED_WITH}{Path(model_dir)}"
