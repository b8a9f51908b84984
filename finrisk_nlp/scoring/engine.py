"""Batch scoring of document archives: ``finrisk score MODEL_REF INPUT... --out scores.parquet``.

Several processes (CPU or GPU) through Accelerate::

    accelerate launch recipes/batch_score.py runs/credit_text docs/ mail.zip --out scores.parquet

Each process scores the documents whose index modulo the number of processes is its rank. A reader thread
reads, extracts and tokenises documents while the model runs; it sorts windows of several batches by token
count so that each batch needs little padding. Scored documents go to part files in ``OUT.parts`` (one per
batch by default, see :mod:`finrisk_nlp.scoring.parts`), so a kill loses at most the batch in flight.
``OUT.parts/manifest.json`` records the model and arguments: a rerun with the same ones skips documents
already in a part (by document id) and scores the rest; different ones are refused. When every process is
done, the main process merges the parts into OUT (one row per document, in input order) and OUT's
``.errors.jsonl`` sibling (documents that could not be scored, with the reason), after checking that every
document enumerated appears exactly once.

Only one run may use an ``OUT.parts`` at a time (:class:`~finrisk_nlp.scoring.parts.OutputLock`). Texts are cut to
:func:`~finrisk_nlp.inference.loading.text_char_budget` characters before tokenising, so memory does not grow with
document size; such rows have ``truncated`` set. A document that cannot be read, extracted or tokenised is listed
in the errors file and the run goes on.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from finrisk_nlp.data.fields import FieldBatch
from finrisk_nlp.inference.loading import load_for_inference, model_fingerprint, model_version, text_char_budget
from finrisk_nlp.inference.predictor import Predictor
from finrisk_nlp.provenance import write_json_atomic
from finrisk_nlp.scoring.documents import Document, ReadLimits, iter_documents
from finrisk_nlp.scoring.parts import (
    FORMATS,
    MANIFEST,
    OutputLock,
    PartWriter,
    ScoringError,
    check_manifest,
    done_ids,
    part_files,
    write_table_atomic,
)
from finrisk_nlp.scoring.read_ahead import (
    SORT_WINDOW_BATCHES,
    Batch,
    make_batches,
    next_batch,
    prepare_each,
    read_ahead,
)
from finrisk_nlp.scoring.table_inputs import check_table_inputs

logger = logging.getLogger("finrisk_nlp")

__all__ = ["ScoreOptions", "ScoreSummary", "ScoringError", "check_id_column", "error_row", "run_fingerprint",
           "score_documents", "score_group"]


@dataclass
class ScoreOptions:
    """What ``finrisk score`` was asked to do; the fields marked *fingerprint* must match on a rerun."""

    inputs: list[str]  # fingerprint
    out: str
    fmt: str | None = None  # parquet | csv | jsonl; None: from the suffix of ``out``
    text_column: str | None = None  # fingerprint; None: the model task's text column
    id_column: str | None = None  # fingerprint; a table column copied into each row (and error) under its name
    task: str | None = None  # fingerprint; the task of a multi-task model
    batch_size: int = 64
    part_size: int | None = None  # documents per part file (None: batch_size); a kill loses at most this many
    limits: ReadLimits = field(default_factory=ReadLimits)  # fingerprint
    cpu: bool = False
    quantize: str | None = None  # "int8": the older spelling of precision="int8"
    precision: str | None = None  # auto | fp32 (None) | bf16 | int8; the one run is fingerprinted
    texts_file: str | None = None  # reference texts of the precision's quality gate (default: the model's own)
    backend: str = "torch"  # fingerprint; "onnx": onnxruntime (an ONNX export, or the model exported on load)
    force: bool = False  # score in bf16/int8 even when the precision's quality gate fails
    queue_size: int = 2048  # documents read ahead of the model


@dataclass
class ScoreSummary:
    """Counts over all processes. ``skipped`` were already in the parts from an earlier run."""

    scored: int = 0
    skipped: int = 0
    failed: int = 0
    complete: bool = False
    output: str | None = None
    errors_file: str | None = None
    rows: int = 0
    error_rows: int = 0
    num_processes: int = 1
    unseen_categories: dict[str, int] = field(default_factory=dict)  # field -> rows with a category new to the model


def output_format(out: str, fmt: str | None) -> str:
    if fmt:
        if fmt not in FORMATS.values():
            raise ScoringError(f"--format {fmt!r} is not supported; use one of {sorted(FORMATS.values())}")
        return fmt
    suffix = Path(out).suffix.lower()
    if suffix not in FORMATS:
        raise ScoringError(f"cannot tell the output format from {out!r}; end it in {', '.join(FORMATS)} "
                           "or pass --format")
    return FORMATS[suffix]


def errors_path(out: str | Path) -> Path:
    out = Path(out)
    return out.with_name(f"{out.stem}.errors.jsonl")


def parts_dir(out: str | Path) -> Path:
    return Path(f"{out}.parts")


# ----------------------------------------------------------------------------------------------
# Scoring and merging


def _autocast(device: torch.device) -> contextlib.AbstractContextManager:
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def part_schema(labels: tuple[str, ...], with_fields: bool = False, id_column: str | None = None) -> pa.Schema:
    """Columns of a part file; the output has the same minus ``index`` and ``error``. A model with structured
    fields adds ``missing_fields`` and ``unseen_categories`` (field names joined by ``;``); ``id_column`` adds that
    column, as text, after ``source``."""
    fields = [("missing_fields", pa.string()), ("unseen_categories", pa.string())] if with_fields else []
    key = [(id_column, pa.string())] if id_column else []
    return pa.schema(
        [("index", pa.int64()), ("doc_id", pa.string()), ("source", pa.string()), *key, ("label", pa.string())]
        + [(f"p_{name}", pa.float32()) for name in labels]
        + [("decision", pa.string()), ("threshold", pa.float64()), ("num_chunks", pa.int64()),
           ("truncated", pa.bool_()), *fields, ("model_ref", pa.string()), ("model_version", pa.string()),
           ("error", pa.string())]
    )


def check_id_column(id_column: str | None, predictor: Predictor) -> None:
    """Refuse an ``--id-column`` named like a column the output already has, before anything is written."""
    taken = part_schema(predictor.task.labels, predictor.fields is not None).names
    if id_column is not None and (not id_column.strip() or id_column in taken):
        raise ScoringError(f"--id-column {id_column!r} cannot be an output column name; the output already has "
                           f"{[c for c in taken if c not in ('index', 'error')]}. Name the column of your table "
                           "that identifies each row (rename it if it is one of these)")


def _row_head(doc: Document, id_column: str | None) -> dict[str, Any]:
    """The columns every part row starts with: which document, where it came from, and its ``--id-column``."""
    return {"index": doc.index, "doc_id": doc.doc_id, "source": doc.source,
            **({id_column: doc.key} if id_column else {})}


def error_row(doc: Document, id_column: str | None) -> dict[str, Any]:
    """The part row of a document that was not scored: where it came from and why."""
    return {**_row_head(doc, id_column), "error": doc.error}


def _rows(docs: list[Document], probs: np.ndarray, chunks: np.ndarray, predictor: Predictor,
          meta: dict[str, Any], fields: FieldBatch | None = None, id_column: str | None = None,
          ) -> list[dict[str, Any]]:
    """Output rows: label (most probable; labels >= 0.5 for multi-label), probabilities and the decision at the
    model's operating threshold, exactly as :meth:`Predictor.predict` gives them."""
    task = predictor.task
    rows = []
    extras = ([{"missing_fields": ";".join(r["missing_fields"]), "unseen_categories": ";".join(r["unseen_categories"])}
               for r in predictor.format_results(probs, chunks, fields)] if fields is not None
              else [{}] * len(docs))
    for doc, p, n, decision, extra in zip(docs, probs, chunks, predictor.decide(probs), extras, strict=True):
        label = ";".join(name for name, v in zip(task.labels, p) if v >= 0.5) if task.multi_label else (
            task.labels[int(p.argmax())])
        rows.append({**_row_head(doc, id_column), "label": label,
                     **{f"p_{name}": float(v) for name, v in zip(task.labels, p)},
                     "decision": ";".join(decision) if isinstance(decision, list) else decision,
                     "threshold": predictor.positive_threshold, "num_chunks": int(n), "truncated": doc.truncated,
                     **extra, **meta, "error": None})
    return rows


def _batch_rows(predictor: Predictor, batch: Batch, meta: dict[str, Any],
                id_column: str | None = None) -> list[dict[str, Any]]:
    """Output rows of one padded batch of windows (see :func:`make_batches`)."""
    with _autocast(predictor.device):
        vectors = predictor.window_vectors(batch.encoding)
    fields = None
    if predictor.fields is not None:  # checked before the run (check_table_inputs): no error can come up here
        fields = predictor.fields.transform([d.fields for d in batch.docs], "scoring input")
    probs = predictor.document_probs(vectors, batch.doc_index, len(batch.docs), fields)
    chunks = np.bincount(batch.doc_index, minlength=len(batch.docs))
    return _rows(batch.docs, probs, chunks, predictor, meta, fields, id_column)


def score_group(predictor: Predictor, docs: list[Document], batch_size: int,
                meta: dict[str, Any], id_column: str | None = None) -> list[dict[str, Any]]:
    """Part rows for a group of documents, as the local scorer writes them; for engines that batch elsewhere.

    Documents with ``error`` set, and any the tokenizer chokes on, become error rows; the others are scored in
    batches of at most ``batch_size`` windows (sorted by length, see :func:`make_batches`).

    Args:
        predictor: the loaded model (see :func:`~finrisk_nlp.inference.loading.prepare_for_inference`).
        docs: documents in any order; each row keeps its document's ``index``.
        batch_size: windows per forward pass.
        meta: the ``model_ref`` and ``model_version`` columns.
        id_column: the ``--id-column`` the rows carry (each document's ``key``).
    """
    rows = [error_row(d, id_column) for d in docs if d.error]
    good = [d for d in docs if not d.error]
    for batch in prepare_each(lambda group: make_batches(predictor, group, batch_size), good) if good else []:
        if batch.encoding is None:
            rows.extend(error_row(d, id_column) for d in batch.docs)
        else:
            rows.extend(_batch_rows(predictor, batch, meta, id_column))
    return rows


def run_fingerprint(model_ref: str, options: ScoreOptions, predictor: Predictor,
                    model_sha256: str) -> dict[str, Any]:
    """What ``OUT.parts/manifest.json`` records and a rerun must match (the same for every engine, so a run
    started with one engine can be finished with another)."""
    return {
        "model_ref": model_ref, "model_sha256": model_sha256, "inputs": list(options.inputs),
        "text_column": options.text_column or predictor.task.text_column, "limits": asdict(options.limits),
        "threshold": predictor.threshold, "labels": list(predictor.task.labels), "precision": predictor.precision,
        "max_text_chars": text_char_budget(predictor),
        **({"backend": options.backend} if options.backend != "torch" else {}),
        **({"fields": predictor.field_names} if predictor.field_names else {}),
        **({"task": options.task} if options.task else {}),
        **({"id_column": options.id_column} if options.id_column else {}),
    }


def remove_stale_files(directory: Path) -> None:
    """Delete a killed run's temp files and the last run's counts and id lists from ``OUT.parts``."""
    for pattern in (".part-*.tmp", "rank-*.json", "rank-*.ids"):
        for stale in directory.glob(pattern):
            stale.unlink(missing_ok=True)


def score_documents(model_ref: str, options: ScoreOptions) -> ScoreSummary:
    """Score every document of ``options.inputs`` into ``options.out``; resumable, one or many processes.

    Returns:
        The counts over all processes (the merged output is written by the main process only).

    Raises:
        ScoringError: if ``OUT.parts`` belongs to another model or other arguments, or the merge finds gaps.
        DataError / ModelLoadError: for missing inputs or an unloadable model.
    """
    from accelerate import PartialState

    fmt = output_format(options.out, options.fmt)
    state = PartialState(cpu=options.cpu)
    # Two runs on one --out would delete each other's temp files and counts; the second refuses before writing.
    with OutputLock(parts_dir(options.out)) if state.is_main_process else contextlib.nullcontext():
        return _score_locked(model_ref, options, state, fmt)


def _score_locked(model_ref: str, options: ScoreOptions, state: Any, fmt: str) -> ScoreSummary:
    """:func:`score_documents` once the main process holds the lock on ``OUT.parts``."""
    predictor = load_for_inference(model_ref, task=options.task, backend=options.backend, quantize=options.quantize,
                                   precision=options.precision, force=options.force, texts_file=options.texts_file,
                                   device=state.device)
    text_column = options.text_column or predictor.task.text_column
    check_id_column(options.id_column, predictor)
    check_table_inputs(predictor, options.inputs, text_column, options.id_column)
    fingerprint_hash = model_fingerprint(model_ref, predictor)
    fingerprint = run_fingerprint(model_ref, options, predictor, fingerprint_hash)
    directory = parts_dir(options.out)
    if state.is_main_process:
        check_manifest(directory, fingerprint, is_main=True, record={"precision": predictor.precision_record})
        remove_stale_files(directory)
    state.wait_for_everyone()
    if not state.is_main_process:
        check_manifest(directory, fingerprint, is_main=False)

    rank, world = state.process_index, state.num_processes
    skip = done_ids(directory)
    writer = PartWriter(directory, rank, part_schema(predictor.task.labels, predictor.fields is not None,
                                                     options.id_column))
    part_size = options.part_size or options.batch_size
    meta = {"model_ref": model_ref, "model_version": model_version(predictor, fingerprint_hash)}
    docs = iter_documents(options.inputs, options.limits, text_column=text_column, rank=rank, num_shards=world,
                          max_chars=text_char_budget(predictor), field_columns=tuple(predictor.field_names),
                          id_column=options.id_column)
    q: queue.Queue = queue.Queue(maxsize=max(2, options.queue_size // options.batch_size))
    stop = threading.Event()
    counts = {"skipped": 0, "scored": 0, "failed": 0}
    ids: list[tuple[int, str]] = []
    reader = threading.Thread(target=read_ahead, daemon=True, args=(
        docs, skip, q, stop, counts, ids, lambda window: make_batches(predictor, window, options.batch_size),
        options.batch_size * SORT_WINDOW_BATCHES, options.batch_size))
    reader.start()

    from tqdm.auto import tqdm

    bar = tqdm(desc=f"scoring ({world} process{'es' if world > 1 else ''})", unit="doc",
               disable=not state.is_main_process, dynamic_ncols=True)
    exhausted, pending = False, []
    try:
        while not exhausted:
            batch = next_batch(q)
            exhausted = batch is None
            if batch is not None and batch.encoding is None:
                pending.extend(error_row(d, options.id_column) for d in batch.docs)
            elif batch is not None:
                pending.extend(_batch_rows(predictor, batch, meta, options.id_column))
            if batch is not None:
                bar.update(len(batch.docs))
            # Full parts as soon as they are ready, the rest at the end: a kill loses at most one part's work.
            while pending and (len(pending) >= part_size or exhausted):
                rows, pending = pending[:part_size], pending[part_size:]
                writer.write(rows)
                failed = sum(r["error"] is not None for r in rows)
                counts["scored"] += len(rows) - failed
                counts["failed"] += failed
    finally:
        stop.set()
        bar.close()
    reader.join(timeout=5)
    # What this process enumerated: the merge checks each id is in one row and orders by index.
    write_json_atomic(directory / f"rank-{rank:03d}.ids.json", ids)  # JSON: ids may hold newlines
    write_json_atomic(directory / f"rank-{rank:03d}.json", {**counts, "complete": True,
                                                            "part_files": writer.num_files})
    state.wait_for_everyone()
    summary = _gather_counts(directory, world)
    if state.is_main_process and summary.complete:
        merge_parts(directory, options.out, fmt, summary, options.id_column)
    state.wait_for_everyone()
    return summary

def _gather_counts(directory: Path, world: int) -> ScoreSummary:
    summary = ScoreSummary(complete=True, num_processes=world)
    for rank in range(world):
        counts = json.loads((directory / f"rank-{rank:03d}.json").read_text())
        summary.scored += counts["scored"]
        summary.skipped += counts["skipped"]
        summary.failed += counts["failed"]
        summary.complete &= counts["complete"]
    return summary


def merge_parts(directory: Path, out: str, fmt: str, summary: ScoreSummary, id_column: str | None = None) -> None:
    """Merge all parts into ``out`` and its errors file, in input order, each document exactly once. Error rows
    carry ``id_column`` too.

    Raises:
        ScoringError: if a document this run enumerated is in no part (which would be a bug).
    """
    # A part's index is the one of the run that scored it; inputs added or removed since shift this run's.
    position: dict[str, int] = {}
    for rank in range(summary.num_processes):
        for index, doc_id in json.loads((directory / f"rank-{rank:03d}.ids.json").read_text()):
            position.setdefault(doc_id, index)
    expected = set(position)
    tables = [pq.read_table(p) for p in part_files(directory)]
    records = [r for t in tables for r in t.to_pylist()]
    seen: set[str] = set()
    unique = []
    for record in records:
        if record["doc_id"] in expected and record["doc_id"] not in seen:
            seen.add(record["doc_id"])
            unique.append(record)
    unique.sort(key=lambda r: position[r["doc_id"]])
    if missing := expected - seen:
        raise ScoringError(f"{len(missing)} document(s) were enumerated but are in no part, e.g. "
                           f"{sorted(missing)[:3]}; rerun the same command to score them")
    if stale := len({r["doc_id"] for r in records} - expected):
        logger.warning(f"{stale} row(s) in {directory} belong to documents no longer in the inputs (their "
                       "content changed since they were scored); they are left out of the output")
    scores = [{k: v for k, v in r.items() if k not in ("index", "error")} for r in unique if r["error"] is None]
    errors = [{"doc_id": r["doc_id"], "source": r["source"], **({id_column: r[id_column]} if id_column else {}),
               "reason": r["error"]} for r in unique if r["error"]]
    out_path = Path(out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    schema = tables[0].schema if tables else pa.schema([("index", pa.int64()), ("error", pa.string())])
    out_schema = pa.schema([f for f in schema if f.name not in ("index", "error")])
    write_table_atomic(pa.Table.from_pylist(scores, schema=out_schema), out_path, fmt)
    write_table_atomic(pa.Table.from_pylist(errors), errors_path(out), "jsonl")
    summary.output, summary.errors_file = str(out_path), str(errors_path(out))
    summary.rows, summary.error_rows = len(scores), len(errors)
    unseen = Counter(name for r in scores for name in (r.get("unseen_categories") or "").split(";") if name)
    if unseen:
        summary.unseen_categories = dict(unseen)
        logger.warning(f"categories never seen in training (scored through the unknown bucket), rows per field: "
                       f"{dict(unseen)}; see the unseen_categories column")
    manifest = json.loads((directory / MANIFEST).read_text())
    manifest.update({"complete": True, "num_processes": summary.num_processes, "output": str(out_path),
                     "rows": len(scores), "errors": len(errors), "parts": len(tables),
                     "finished": time.strftime("%Y-%m-%dT%H:%M:%S")})
    write_json_atomic(directory / MANIFEST, manifest)

