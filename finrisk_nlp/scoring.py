"""Batch scoring of document archives: ``finrisk score MODEL_REF INPUT... --out scores.parquet``.

Several processes (CPU or GPU) through Accelerate::

    accelerate launch recipes/batch_score.py runs/credit_text docs/ mail.zip --out scores.parquet

Each process scores the documents whose index modulo the number of processes is its rank and writes them in
parts, ``OUT.parts/part-<rank>-<n>.parquet`` (each written to a temp file and renamed, so a part is complete
or absent). ``OUT.parts/manifest.json`` records the model and arguments: a rerun with the same ones skips
documents already in a part (by document id) and scores the rest; different ones are refused. When every
process is done, the main process merges the parts into OUT (one row per document, in input order) and
OUT's ``.errors.jsonl`` sibling (documents that could not be scored, with the reason), after checking that
every document enumerated appears exactly once.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from .documents import Document, ReadLimits, iter_documents
from .errors import FinriskError
from .predict import Predictor
from .provenance import sha256_file, write_json_atomic, write_text_atomic
from .score_cli import FORMATS

logger = logging.getLogger("finrisk_nlp")
MANIFEST = "manifest.json"
_DONE = object()  # end-of-input marker on the reader queue


class ScoringError(FinriskError):
    """The output location or its parts cannot be used for this run (e.g. written by another model)."""


@dataclass
class ScoreOptions:
    """What ``finrisk score`` was asked to do; the fields marked *fingerprint* must match on a rerun."""

    inputs: list[str]  # fingerprint
    out: str
    fmt: str | None = None  # parquet | csv | jsonl; None: from the suffix of ``out``
    text_column: str | None = None  # fingerprint; None: the model task's text column
    task: str | None = None  # fingerprint; the task of a multi-task model
    batch_size: int = 64
    part_size: int = 512  # documents per part file: a kill loses at most this many scored documents
    limits: ReadLimits = field(default_factory=ReadLimits)  # fingerprint
    cpu: bool = False
    queue_size: int = 2048  # documents read ahead of the model
    stop_after_parts: int | None = None  # per process; to cut a long job into sessions


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
# Model: fingerprint, version, decisions


def model_fingerprint(model_ref: str, predictor: Predictor) -> str:
    """sha256 over the model's weight and metadata files (over its metadata when the files are not local)."""
    from .modeling import METADATA_FILE, find_model_dir

    digest = hashlib.sha256()
    try:
        model_dir = Path(getattr(predictor, "model_dir", None) or find_model_dir(model_ref))
        files = sorted(model_dir.glob("*.safetensors")) + [model_dir / METADATA_FILE]
        for path in files:
            digest.update(f"{path.name}:{sha256_file(path)}".encode())
    except (FinriskError, OSError):
        digest.update(json.dumps(asdict(predictor.metadata), sort_keys=True, default=str).encode())
    return digest.hexdigest()


def model_version(predictor: Predictor, fingerprint: str) -> str:
    extra = predictor.metadata.extra
    for key in ("registry_version", "version"):
        if extra.get(key) is not None:
            return str(extra[key])
    return f"sha256:{fingerprint[:16]}"


class Decider:
    """Turns probabilities into the predicted label and the decision at the model's threshold."""

    def __init__(self, predictor: Predictor) -> None:
        self.task = predictor.task
        raw = predictor.metadata.extra.get("threshold")
        self.threshold = float(raw) if isinstance(raw, int | float) else 0.5
        self.threshold_source = "metadata" if isinstance(raw, int | float) else "default"

    def __call__(self, probs: np.ndarray) -> tuple[str, str]:
        labels = self.task.labels
        if self.task.multi_label:
            label = ";".join(name for name, p in zip(labels, probs) if p >= 0.5)
            return label, ";".join(name for name, p in zip(labels, probs) if p >= self.threshold)
        label = labels[int(probs.argmax())]
        if not self.task.is_binary:
            return label, label
        pos = self.task.positive_index
        return label, labels[pos] if probs[pos] >= self.threshold else labels[1 - pos]


def prepare_for_inference(predictor: Predictor) -> None:
    """Merge a LoRA adapter into the weights (no adapter matmuls per layer) and make sure SDPA attention is used."""
    from peft import PeftModel

    if isinstance(predictor.model, PeftModel):
        predictor.model = predictor.model.merge_and_unload()
    impl = getattr(predictor.model.config, "_attn_implementation", None)
    if impl == "eager":
        with contextlib.suppress(Exception):  # models without an SDPA kernel keep eager attention
            predictor.model.set_attn_implementation("sdpa")
    logger.info(f"attention implementation: {getattr(predictor.model.config, '_attn_implementation', None)}")


# ----------------------------------------------------------------------------------------------
# Parts and manifest


def check_manifest(directory: Path, fingerprint: dict[str, Any], is_main: bool) -> None:
    """Create the manifest on first use; refuse parts written with another model or other arguments."""
    path = directory / MANIFEST
    if is_main and not path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, {"fingerprint": fingerprint, "created": time.strftime("%Y-%m-%dT%H:%M:%S")})
        return
    if not path.exists():
        raise ScoringError(f"{path} is missing; the main process did not create it")
    found = json.loads(path.read_text()).get("fingerprint", {})
    changed = sorted(k for k in set(found) | set(fingerprint) if found.get(k) != fingerprint.get(k))
    if changed:
        details = "; ".join(f"{k}: parts have {found.get(k)!r}, this run has {fingerprint.get(k)!r}" for k in changed)
        raise ScoringError(
            f"{directory} holds parts of a different scoring run ({details}). Rerun with the same model and "
            f"arguments to finish it, or choose another --out (or delete {directory}) to start over"
        )


def part_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("part-*.parquet"))


def done_ids(directory: Path) -> set[str]:
    ids: set[str] = set()
    for path in part_files(directory):
        ids.update(pq.read_table(path, columns=["doc_id"]).column("doc_id").to_pylist())
    return ids


def _write_atomic(table: pa.Table, path: Path, fmt: str = "parquet") -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        if fmt == "parquet":
            pq.write_table(table, tmp)
        elif fmt == "csv":
            import pyarrow.csv as pacsv

            pacsv.write_csv(table, tmp)
        else:
            with open(tmp, "w") as f:
                f.writelines(json.dumps(row) + "\n" for row in table.to_pylist())
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# ----------------------------------------------------------------------------------------------
# Reading ahead, scoring, merging


def _read_ahead(docs: Iterator[Document], skip: set[str], q: queue.Queue, stop: threading.Event,
                counts: dict[str, int], ids: list[str]) -> None:
    """Reader thread: read and extract documents while the model runs; drop those already scored."""
    try:
        for doc in docs:
            ids.append(doc.doc_id)
            if doc.doc_id in skip:
                counts["skipped"] += 1
                continue
            skip.add(doc.doc_id)
            while not stop.is_set():
                try:
                    q.put(doc, timeout=0.2)
                    break
                except queue.Full:
                    continue
            if stop.is_set():
                return
        q.put(_DONE)
    except BaseException as exc:  # re-raised in the scoring thread
        q.put(exc)


def _next_chunk(q: queue.Queue, size: int) -> tuple[list[Document], bool]:
    """Up to ``size`` documents from the reader; the flag says whether the input is exhausted."""
    chunk: list[Document] = []
    while len(chunk) < size:
        item = q.get()
        if item is _DONE:
            return chunk, True
        if isinstance(item, BaseException):
            raise item
        chunk.append(item)
    return chunk, False


def _autocast(device: torch.device) -> contextlib.AbstractContextManager:
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def part_schema(labels: tuple[str, ...]) -> pa.Schema:
    """Columns of a part file; the output has the same minus ``index`` and ``error``."""
    return pa.schema(
        [("index", pa.int64()), ("doc_id", pa.string()), ("source", pa.string()), ("label", pa.string())]
        + [(f"p_{name}", pa.float32()) for name in labels]
        + [("decision", pa.string()), ("threshold", pa.float64()), ("num_chunks", pa.int64()),
           ("model_ref", pa.string()), ("model_version", pa.string()), ("error", pa.string())]
    )


def _rows(docs: list[Document], probs: np.ndarray, chunks: np.ndarray, decide: Decider,
          meta: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for doc, p, n in zip(docs, probs, chunks):
        label, decision = decide(p)
        rows.append({"index": doc.index, "doc_id": doc.doc_id, "source": doc.source, "label": label,
                     **{f"p_{name}": float(v) for name, v in zip(decide.task.labels, p)},
                     "decision": decision, "threshold": decide.threshold, "num_chunks": int(n), **meta,
                     "error": None})
    return rows


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
    predictor = Predictor.load(model_ref, device=state.device, task=options.task)
    prepare_for_inference(predictor)
    text_column = options.text_column or predictor.task.text_column
    fingerprint_hash = model_fingerprint(model_ref, predictor)
    decide = Decider(predictor)
    fingerprint = {
        "model_ref": model_ref, "model_sha256": fingerprint_hash, "inputs": list(options.inputs),
        "text_column": text_column, "limits": asdict(options.limits), "threshold": decide.threshold,
        "labels": list(predictor.task.labels), **({"task": options.task} if options.task else {}),
    }
    directory = parts_dir(options.out)
    if state.is_main_process:
        check_manifest(directory, fingerprint, is_main=True)
        for pattern in (".part-*.tmp", "rank-*.json", "rank-*.ids"):  # a killed run's temp files; last run's counts
            for stale in directory.glob(pattern):
                stale.unlink(missing_ok=True)
    state.wait_for_everyone()
    if not state.is_main_process:
        check_manifest(directory, fingerprint, is_main=False)

    rank, world = state.process_index, state.num_processes
    skip = done_ids(directory)
    ours = [int(p.name.split("-")[2].split(".")[0]) for p in directory.glob(f"part-{rank:03d}-*.parquet")]
    next_part = max(ours, default=-1) + 1
    meta = {"model_ref": model_ref, "model_version": model_version(predictor, fingerprint_hash)}
    docs = iter_documents(options.inputs, options.limits, text_column=text_column, rank=rank, num_shards=world)
    q: queue.Queue = queue.Queue(maxsize=max(options.queue_size, options.part_size))
    stop = threading.Event()
    counts = {"skipped": 0, "scored": 0, "failed": 0}
    ids: list[str] = []
    reader = threading.Thread(target=_read_ahead, args=(docs, skip, q, stop, counts, ids), daemon=True)
    reader.start()

    from tqdm.auto import tqdm

    bar = tqdm(desc=f"scoring ({world} process{'es' if world > 1 else ''})", unit="doc",
               disable=not state.is_main_process, dynamic_ncols=True)
    schema = part_schema(predictor.task.labels)
    parts_written, exhausted = 0, False
    try:
        while not exhausted:
            chunk, exhausted = _next_chunk(q, options.part_size)
            if not chunk:
                break
            good = sorted((d for d in chunk if d.error is None), key=lambda d: len(d.text or ""), reverse=True)
            rows = [{"index": d.index, "doc_id": d.doc_id, "source": d.source, "error": d.error}
                    for d in chunk if d.error is not None]
            for start in range(0, len(good), options.batch_size):
                batch = good[start:start + options.batch_size]
                with _autocast(predictor.device):
                    probs, chunks = predictor.predict_documents([d.text or "" for d in batch], options.batch_size)
                rows.extend(_rows(batch, probs, chunks, decide, meta))
                bar.update(len(batch))
            bar.update(len(chunk) - len(good))
            part = directory / f"part-{rank:03d}-{next_part:06d}.parquet"
            _write_atomic(pa.Table.from_pylist(rows, schema=schema), part)
            next_part += 1
            parts_written += 1
            counts["scored"] += len(good)
            counts["failed"] += len(chunk) - len(good)
            if options.stop_after_parts and parts_written >= options.stop_after_parts and not exhausted:
                logger.warning(f"process {rank}: stopping after {parts_written} part(s) (--stop-after-parts); "
                               "rerun the same command to score the rest")
                break
    finally:
        stop.set()
        bar.close()
    reader.join(timeout=5)
    if exhausted:  # the ids this process enumerated: the merge checks that each is in exactly one row
        write_text_atomic(directory / f"rank-{rank:03d}.ids", "".join(f"{i}\n" for i in ids))
    write_json_atomic(directory / f"rank-{rank:03d}.json", {**counts, "complete": exhausted})
    state.wait_for_everyone()
    summary = _gather_counts(directory, world)
    if state.is_main_process and summary.complete:
        merge_parts(directory, options.out, fmt, summary)
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


def merge_parts(directory: Path, out: str, fmt: str, summary: ScoreSummary) -> None:
    """Merge all parts into ``out`` and its errors file, in input order, each document exactly once.

    Raises:
        ScoringError: if a document this run enumerated is in no part (which would be a bug).
    """
    expected: set[str] = set()
    for rank in range(summary.num_processes):
        expected.update((directory / f"rank-{rank:03d}.ids").read_text().splitlines())
    tables = [pq.read_table(p) for p in part_files(directory)]
    records = sorted((r for t in tables for r in t.to_pylist()), key=lambda r: r["index"])
    seen: set[str] = set()
    unique = []
    for record in records:
        if record["doc_id"] in expected and record["doc_id"] not in seen:
            seen.add(record["doc_id"])
            unique.append(record)
    if missing := expected - seen:
        raise ScoringError(f"{len(missing)} document(s) were enumerated but are in no part, e.g. "
                           f"{sorted(missing)[:3]}; rerun the same command to score them")
    if stale := len({r["doc_id"] for r in records} - expected):
        logger.warning(f"{stale} row(s) in {directory} belong to documents no longer in the inputs (their "
                       "content changed since they were scored); they are left out of the output")
    scores = [{k: v for k, v in r.items() if k not in ("index", "error")} for r in unique if r["error"] is None]
    errors = [{"doc_id": r["doc_id"], "source": r["source"], "reason": r["error"]} for r in unique if r["error"]]
    out_path = Path(out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    schema = tables[0].schema if tables else pa.schema([("index", pa.int64()), ("error", pa.string())])
    out_schema = pa.schema([f for f in schema if f.name not in ("index", "error")])
    _write_atomic(pa.Table.from_pylist(scores, schema=out_schema), out_path, fmt)
    _write_atomic(pa.Table.from_pylist(errors), errors_path(out), "jsonl")
    summary.output, summary.errors_file = str(out_path), str(errors_path(out))
    summary.rows, summary.error_rows = len(scores), len(errors)
    manifest = json.loads((directory / MANIFEST).read_text())
    manifest.update({"complete": True, "num_processes": summary.num_processes, "output": str(out_path),
                     "rows": len(scores), "errors": len(errors), "parts": len(tables),
                     "finished": time.strftime("%Y-%m-%dT%H:%M:%S")})
    write_json_atomic(directory / MANIFEST, manifest)

