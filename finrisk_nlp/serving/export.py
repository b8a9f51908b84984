"""Export a trained model: ``finrisk export MODEL_REF --format merged|onnx|hf --out DIR``.

    finrisk export runs/credit_text --format merged --out exports/credit_merged
    finrisk export registry:credit-text@production --format onnx --quantize int8 --out exports/credit_onnx

``merged`` saves the model with its LoRA adapter merged into the encoder (a plain model directory, loaded with
no peft). ``hf`` writes the Hub format (:mod:`finrisk_nlp.modeling.hub_format`): a folder that plain transformers
loads with ``trust_remote_code=True`` (one task per folder; a multi-task model gives ``DIR/<task>/``).
``onnx`` writes the window encoder as an ONNX graph and the document heads as safetensors beside it
(:mod:`finrisk_nlp.serving.onnx_backend`). Multi-task models: hard sharing gives one export with every task's head;
soft sharing gives one export per task in ``DIR/<task>/`` (each task has its own adapters, hence its own merged
encoder), which ``Predictor.load(DIR, task=...)`` and ``finrisk score DIR --task ...`` find.

Every export is checked against the PyTorch model before it is kept: the max |logit difference| on reference
texts (the run's validation split when MODEL_REF is a run, else ``--texts FILE``, else built-in texts) must be at
most 1e-4, or nothing is written. An int8 export also passes the quality gate (:func:`int8_quality_gate`): decision
agreement and macro-F1 against fp32. Both are recorded in ``DIR/export_manifest.json`` with the sha256 of every
file, checked whenever the export is loaded (a changed file is refused by name).
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from finrisk_nlp import __version__
from finrisk_nlp.data.fields import FieldBatch
from finrisk_nlp.data.tables import encode_labels, load_table
from finrisk_nlp.errors import FinriskError, ModelLoadError
from finrisk_nlp.evaluation.metrics import compute_metrics
from finrisk_nlp.modeling import DocumentClassifier, ModelMetadata, load_model, save_model
from finrisk_nlp.modeling.layout import EXPORT_MANIFEST, HEADS_FILE, METADATA_FILE
from finrisk_nlp.modeling.reference_texts import read_reference_texts, write_reference_texts
from finrisk_nlp.modeling.saving import write_dir_atomic
from finrisk_nlp.provenance import write_json_atomic
from finrisk_nlp.registry.local import resolve_model_ref
from finrisk_nlp.registry.publishing import scrub_release
from finrisk_nlp.registry.release import public_base_model, seal_export
from finrisk_nlp.serving import onnx_backend
from finrisk_nlp.serving.onnx_backend import (
    BUILT_IN_TEXTS,
    ENCODER_INT8_ONNX,
    ENCODER_ONNX,
    PARITY_TOLERANCE,
    QUANTIZE_CHOICES,
)
from finrisk_nlp.serving.predictor import Predictor

logger = logging.getLogger("finrisk_nlp")

EXPORT_FORMATS = ("merged", "onnx", "hf")
MAX_F1_DROP = 0.005  # macro-F1 an int8 model may lose against fp32 (0.5 point)
MIN_AGREEMENT = 0.995  # share of documents whose int8 decision must equal the fp32 one
MAX_REFERENCE_TEXTS = 512  # documents per task used for parity and the gate (a validation split may be larger)


@dataclass
class ReferenceTexts:
    """Texts to compare two versions of a model on; ``labels`` (class ids or 0/1 rows) when known."""

    texts: list[str]
    source: str
    labels: np.ndarray | None = None
    records: list[dict[str, Any]] | None = None  # the rows of a table (their structured fields), when read from one


@dataclass
class GateReport:
    """An int8 model against its fp32 original on one task's reference texts."""

    task: str
    source: str
    num_texts: int
    agreement: float
    macro_f1_fp32: float | None = None
    macro_f1_int8: float | None = None
    pr_auc_fp32: float | None = None
    pr_auc_int8: float | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        text = f"{self.task}: decision agreement {self.agreement:.2%} on {self.num_texts} texts ({self.source})"
        if self.macro_f1_fp32 is not None:
            text += (f"; macro-F1 {self.macro_f1_fp32:.4f} -> {self.macro_f1_int8:.4f}; PR-AUC "
                     f"{_fmt(self.pr_auc_fp32)} -> {_fmt(self.pr_auc_int8)}")
        return text


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


# ----------------------------------------------------------------------------------------------
# Reference texts


def _run_validation(model_dir: Path, task: str) -> ReferenceTexts | None:
    """The validation split of the run ``model_dir`` was saved by (RUN_DIR/model beside RUN_DIR/config.yaml)."""
    config = model_dir.parent / "config.yaml"
    if model_dir.name != "model" or not config.is_file():
        return None
    from finrisk_nlp.config import load_config
    from finrisk_nlp.data.tables import load_splits
    from finrisk_nlp.tasks import get_task
    from finrisk_nlp.training.task_data import task_data_config

    try:
        cfg = load_config(config)
        spec, splits = load_splits(task_data_config(cfg, task), get_task(task), cfg.seed)
    except (FinriskError, OSError, KeyError) as exc:
        logger.warning(f"the validation split of {model_dir.parent} could not be loaded ({exc}); comparing on "
                       "built-in texts instead (pass --texts FILE to use your own)")
        return None
    split = splits["validation"]
    return ReferenceTexts(list(split[spec.text_column]), f"validation split of {model_dir.parent}",
                          np.asarray(split["labels"]), split.to_list())


def _saved_texts(model_dir: Path, task: str) -> ReferenceTexts | None:
    """The validation texts saved with the model (training writes them; an export carries its own)."""
    saved = read_reference_texts(model_dir, task)
    if saved is None:
        return None
    texts, labels, source = saved
    return ReferenceTexts(texts, source, None if labels is None else np.asarray(labels))


def _texts_file(path: Path, task: Any) -> ReferenceTexts:
    """A .txt file (one text per line) or a table with the task's text column (and its label column, if any)."""
    if not path.is_file():
        raise FinriskError(f"--texts {str(path)!r} does not exist; give a .txt file with one text per line, or a "
                           f"CSV/JSONL/Parquet table with a {task.text_column!r} column")
    if path.suffix.lower() == ".txt":
        texts = [line.strip() for line in path.read_text().splitlines() if line.strip()]
        if not texts:
            raise FinriskError(f"--texts {str(path)!r} holds no text; give one text per line")
        return ReferenceTexts(texts, str(path))
    table = load_table(path)
    if task.text_column not in table.column_names:
        raise FinriskError(f"--texts {str(path)!r} has no {task.text_column!r} column (found {table.column_names}); "
                           "add it, or give a .txt file with one text per line")
    if task.label_column not in table.column_names:
        return ReferenceTexts(list(table[task.text_column]), str(path), records=table.to_list())
    table = encode_labels(table, task)
    return ReferenceTexts(list(table[task.text_column]), str(path), np.asarray(table["labels"]), table.to_list())


def reference_texts(model_dir: Path | None, meta: ModelMetadata, task: str, texts_file: str | Path | None = None,
                    max_texts: int = MAX_REFERENCE_TEXTS) -> ReferenceTexts:
    """What parity and the int8 gate compare on: ``texts_file`` when given, else the validation texts saved with
    the model (:mod:`finrisk_nlp.modeling.reference_texts`), else the run's validation split, else
    :data:`~finrisk_nlp.serving.onnx_backend.BUILT_IN_TEXTS` (no labels: the gate checks agreement only).

    Raises:
        FinriskError: when ``texts_file`` is missing, empty or lacks the task's text column.
    """
    spec = meta.for_task(task).to_task()
    ref = (_texts_file(Path(texts_file), spec) if texts_file else None) or (
        _saved_texts(Path(model_dir), task) if model_dir else None) or (
        _run_validation(Path(model_dir), task) if model_dir else None) or ReferenceTexts(
        list(BUILT_IN_TEXTS), "built-in texts")
    if len(ref.texts) > max_texts:
        ref = ReferenceTexts(ref.texts[:max_texts], f"{ref.source}, first {max_texts}",
                             None if ref.labels is None else ref.labels[:max_texts])
    return ref


# ----------------------------------------------------------------------------------------------
# int8 quality gate


def int8_quality_gate(fp32: Predictor, int8: Predictor, ref: ReferenceTexts, *, max_f1_drop: float = MAX_F1_DROP,
                      min_agreement: float = MIN_AGREEMENT) -> GateReport:
    """Compare an int8 predictor with its fp32 original: decisions at the stored threshold, and with labels
    macro-F1 and PR-AUC. The report's ``problems`` list what fails the gate (agreement below ``min_agreement``,
    macro-F1 lower by more than ``max_f1_drop``)."""
    fields = reference_fields(fp32, ref)
    p32, _ = fp32.predict_documents(ref.texts, fields=fields)
    p8, _ = int8.predict_documents(ref.texts, fields=fields)
    same = [a == b for a, b in zip(fp32.decide(p32), int8.decide(p8), strict=True)]
    report = GateReport(fp32.task.name, ref.source, len(ref.texts), float(np.mean(same)) if same else 1.0)
    if report.agreement < min_agreement:
        report.problems.append(f"decision agreement {report.agreement:.2%} < {min_agreement:.1%}")
    if ref.labels is not None and len(ref.labels):
        m32, m8 = compute_metrics(p32, ref.labels, fp32.task), compute_metrics(p8, ref.labels, int8.task)
        report.macro_f1_fp32, report.macro_f1_int8 = m32["macro_f1"], m8["macro_f1"]
        report.pr_auc_fp32, report.pr_auc_int8 = m32["pr_auc"], m8["pr_auc"]
        if report.macro_f1_fp32 - report.macro_f1_int8 > max_f1_drop:
            report.problems.append(f"macro-F1 drops by {report.macro_f1_fp32 - report.macro_f1_int8:.4f} "
                                   f"> {max_f1_drop}")
    return report


def reference_fields(predictor: Predictor, ref: ReferenceTexts) -> FieldBatch | None:
    """The field inputs beside the reference texts of a model with structured fields: the table's own rows when
    they hold the fields, else rows spanning what training saw (``FieldPreprocessor.example_rows``)."""
    if predictor.fields is None:
        return None
    names = predictor.field_names
    rows = ref.records if ref.records and all(n in ref.records[0] for n in names) else None
    return predictor.fields.transform(rows or predictor.fields.example_rows(len(ref.texts)), ref.source)


def enforce_gate(reports: list[GateReport], force: bool) -> None:
    """Log each report; raise FinriskError when one fails, unless ``force`` (then warn)."""
    for report in reports:
        logger.info(f"int8 quality gate {'passed' if report.passed else 'FAILED'}: {report.summary()}")
    failed = [r for r in reports if not r.passed]
    if not failed:
        return
    problems = "; ".join(f"{r.task}: {', '.join(r.problems)}" for r in failed)
    if force:
        logger.warning(f"int8 quality gate failed ({problems}); going on because of --force")
        return
    raise FinriskError(f"int8 quantisation costs too much quality: {problems} (int8 against fp32 on "
                       f"{failed[0].source}). Use fp32 (leave out --quantize), or pass --force to accept it")


def gate_int8_predictor(fp32: Predictor, int8: Predictor, *, force: bool = False,
                        texts_file: str | Path | None = None) -> GateReport:
    """:func:`int8_quality_gate` on the model's reference texts, enforced (what ``finrisk score --quantize int8``
    runs before scoring)."""
    ref = reference_texts(fp32.model_dir, fp32.metadata, fp32.task.name, texts_file)
    report = int8_quality_gate(fp32, int8, ref)
    enforce_gate([report], force)
    return report


# ----------------------------------------------------------------------------------------------
# Export


def _export_merged(model: DocumentClassifier, merged: DocumentClassifier, tokenizer: Any, meta: ModelMetadata,
                   folder: Path, texts: list[str]) -> dict[str, Any]:
    save_model(merged, tokenizer, meta, folder, merged=True)
    reloaded, _, _ = load_model(folder, device="cpu")
    diff = onnx_backend.max_logit_diff(model, reloaded, tokenizer, meta, texts)
    onnx_backend.check_parity(diff, "the merged model")
    return {"max_abs_logit_diff": diff}


def _export_onnx(model: DocumentClassifier, merged: DocumentClassifier, tokenizer: Any, meta: ModelMetadata,
                 folder: Path, texts: list[str]) -> dict[str, Any]:
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in merged.heads.state_dict().items()}, str(folder / HEADS_FILE),
              metadata={"format": "pt"})
    tokenizer.save_pretrained(folder)
    write_json_atomic(folder / METADATA_FILE, asdict(meta))
    encoder = folder / ENCODER_ONNX
    onnx_backend.export_encoder(merged, tokenizer, encoder, texts)
    pooling = (meta.head or {}).get("pooling", "attention")

    def parity(path: Path) -> float:
        candidate = onnx_backend.OnnxDocumentModel(path, folder / HEADS_FILE, pooling)
        return onnx_backend.max_logit_diff(model, candidate, tokenizer, meta, texts)

    diff = parity(encoder)
    onnx_backend.check_parity(diff, "the ONNX graph")
    optimised = folder / "encoder.optimized.onnx"
    record: dict[str, Any] = {"max_abs_logit_diff": diff, "opset": onnx_backend.OPSET, "optimization": "none"}
    if onnx_backend.optimize_graph(encoder, optimised):
        opt_diff = parity(optimised)
        if opt_diff <= PARITY_TOLERANCE:  # kept only when it does not cost parity
            optimised.replace(encoder)
            record.update(max_abs_logit_diff=opt_diff, optimization="onnxruntime bert fusions",
                          unoptimized_max_abs_logit_diff=diff)
        else:
            optimised.unlink()
            record["optimization"] = f"discarded (max |logit diff| {opt_diff:.3g})"
    return record


def _export_hf(model: DocumentClassifier, merged: DocumentClassifier, tokenizer: Any, meta: ModelMetadata,
               folder: Path, texts: list[str]) -> dict[str, Any]:
    from finrisk_nlp.modeling.hub_format import save_hub_model

    save_hub_model(merged, tokenizer, meta, folder)
    reloaded, _, _ = load_model(folder, device="cpu")
    diff = onnx_backend.max_logit_diff(model, reloaded, tokenizer, meta, texts)
    onnx_backend.check_parity(diff, "the Hub-format model")
    return {"max_abs_logit_diff": diff}


def _export_one(model: DocumentClassifier, tokenizer: Any, meta: ModelMetadata, folder: Path, fmt: str,
                quantize: str | None, task: str | None, refs: dict[str, ReferenceTexts], force: bool) -> dict[str, Any]:
    """One exported model (all tasks of a hard-sharing model, or one task) into ``folder``."""
    merged, merged_meta = onnx_backend.merged_for_inference(model, meta, task)
    names = merged_meta.task_names()
    texts = [t for name in names for t in refs[name].texts]
    saver = {"merged": _export_merged, "onnx": _export_onnx, "hf": _export_hf}[fmt]
    entry: dict[str, Any] = {"tasks": names, "parity": {
        **saver(model, merged, tokenizer, merged_meta, folder, texts), "tolerance": PARITY_TOLERANCE,
        "num_texts": len(texts), "texts": sorted({refs[name].source for name in names})}}
    # The export carries the texts it was checked on: a later int8 gate on it compares on the model's own task.
    write_reference_texts(folder, {name: (refs[name].texts, refs[name].labels) for name in names},
                          "; ".join(sorted({refs[name].source for name in names})))
    if quantize == "int8":
        onnx_backend.quantize_graph(folder / ENCODER_ONNX, folder / ENCODER_INT8_ONNX)
        reports = []
        for name in names:
            fp32 = Predictor.load(folder, task=name, backend="onnx", quantize="none")
            int8 = Predictor.load(folder, task=name, backend="onnx", quantize="int8")
            reports.append(int8_quality_gate(fp32, int8, refs[name]))
        enforce_gate(reports, force)
        entry["int8_gate"] = {"max_f1_drop": MAX_F1_DROP, "min_agreement": MIN_AGREEMENT, "forced": force,
                              "tasks": [{**asdict(r), "passed": r.passed} for r in reports]}
    seal_export(folder, {"format": fmt, "quantize": quantize, **entry})
    return entry


def export_model(model_ref: str, out: str | Path, *, fmt: str = "onnx", quantize: str | None = None,
                 task: str | None = None, texts_file: str | Path | None = None, force: bool = False) -> dict[str, Any]:
    """Export ``model_ref`` to ``out`` (replaced atomically; nothing is written when a check fails).

    Args:
        fmt: ``merged`` (PyTorch, LoRA merged), ``onnx`` or ``hf`` (Hub format for plain transformers).
        quantize: ``int8`` (onnx only): also write an int8 graph, kept if it passes :func:`int8_quality_gate`.
        task: export one task of a multi-task model (default: all).
        texts_file: reference texts for parity and the gate (see :func:`reference_texts`).
        force: keep an int8 graph that fails the gate.

    Returns:
        The export manifest (also written as ``out/export_manifest.json``).

    Raises:
        FinriskError: bad arguments, failed parity, or a failed int8 gate without ``force``.
        ModelLoadError: an unloadable model, or the onnx extra missing for ``--format onnx``.
    """
    if fmt not in EXPORT_FORMATS:
        raise FinriskError(f"--format {fmt!r} is not supported; use one of {list(EXPORT_FORMATS)}")
    if quantize is not None and (quantize not in QUANTIZE_CHOICES or fmt != "onnx"):
        raise FinriskError(f"--quantize {quantize} needs --format onnx and one of {list(QUANTIZE_CHOICES)}; "
                           f"got --format {fmt} --quantize {quantize}")
    if fmt == "onnx":
        onnx_backend.require_onnx("finrisk export --format onnx")
    started = time.time()
    model_dir = resolve_model_ref(model_ref)
    model, tokenizer, meta = load_model(model_dir, device="cpu")
    names = meta.task_names()
    if task is not None and task not in names:
        raise ModelLoadError(f"{model_ref} has tasks {names}, but --task {task!r} was asked for; pass one of them")
    soft = bool(meta.multitask) and (meta.head or {}).get("strategy") == "soft" and model.strategy == "soft"
    soft = soft or (fmt == "hf" and len(names) > 1 and task is None)  # the Hub format holds one task
    chosen = [task] if task else names
    refs = {name: reference_texts(model_dir, meta, name, texts_file) for name in chosen}
    manifest: dict[str, Any] = {"format": fmt, "quantize": quantize, "source": str(model_ref),
                                "source_dir": str(model_dir), "finrisk_nlp": __version__}
    if fmt == "hf":  # made to be uploaded: no local paths
        manifest.update(source=Path(str(model_ref)).name, source_dir=None)

    def fill(tmp: Path) -> None:
        if soft:  # one encoder per task: one export per task, found by task_dirs
            manifest["task_dirs"] = {name: name for name in chosen}
            manifest["tasks"] = {name: _export_one(model, tokenizer, meta, tmp / name, fmt, quantize, name, refs,
                                                   force) for name in chosen}
        else:
            inner = tmp / "model"
            manifest.update(_export_one(model, tokenizer, meta, inner, fmt, quantize, task, refs, force))
            for path in inner.iterdir():
                shutil.move(str(path), tmp / path.name)
            inner.rmdir()
        manifest["seconds"] = round(time.time() - started, 1)
        write_json_atomic(tmp / EXPORT_MANIFEST, manifest)
        if fmt == "hf":
            scrub_release(tmp, {meta.base_model: public_base_model(meta.base_model)})
            for sub in manifest.get("task_dirs", {}).values():  # sealed again: the hashes of the files as they ship
                seal_export(tmp / sub, json.loads((tmp / sub / EXPORT_MANIFEST).read_text()))
        seal_export(tmp, json.loads((tmp / EXPORT_MANIFEST).read_text()))  # last: every file as written

    write_dir_atomic(out, fill)
    logger.info(f"exported {model_ref} ({fmt}{', ' + quantize if quantize else ''}) to {out}")
    return manifest
