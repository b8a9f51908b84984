"""Export a trained model: ``finrisk export MODEL_REF --format merged|onnx|hf --out DIR``.

    finrisk export runs/credit_text --format merged --out exports/credit_merged
    finrisk export registry:credit-text@production --format onnx --quantize int8 --out exports/credit_onnx

``merged`` saves the model with its LoRA adapter merged into the encoder (a plain model directory, loaded with
no peft). ``hf`` writes the Hub format (:mod:`finrisk_nlp.modeling.hub_format`): a folder that plain transformers
loads with ``trust_remote_code=True`` (one task per folder; a multi-task model gives ``DIR/<task>/``).
``onnx`` writes the window encoder as an ONNX graph and the document heads as safetensors beside it
(:mod:`finrisk_nlp.inference.onnx_model`). Multi-task models: hard sharing gives one export with every task's head;
soft sharing gives one export per task in ``DIR/<task>/`` (each task has its own adapters, hence its own merged
encoder), which ``Predictor.load(DIR, task=...)`` and ``finrisk score DIR --task ...`` find.

Every export is checked against the PyTorch model before it is kept: the max |logit difference| on reference
texts (the run's validation split when MODEL_REF is a run, else ``--texts FILE``, else built-in texts) must be at
most 1e-4, or nothing is written. An int8 export also passes the quality gate
(:mod:`finrisk_nlp.export.int8_gate`): decision agreement and macro-F1 against fp32. Both are recorded in
``DIR/export_manifest.json`` with the sha256 of every file, checked whenever the export is loaded (a changed file
is refused by name).
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path
from typing import Any

from finrisk_nlp.errors import FinriskError, ModelLoadError
from finrisk_nlp.export.formats import EXPORT_FORMATS, WRITERS
from finrisk_nlp.export.int8_gate import add_int8_graph
from finrisk_nlp.inference.merging import merged_for_inference
from finrisk_nlp.inference.onnx_model import QUANTIZE_CHOICES, require_onnx
from finrisk_nlp.inference.parity import PARITY_TOLERANCE
from finrisk_nlp.inference.quality_gate import ReferenceTexts, reference_texts
from finrisk_nlp.modeling import DocumentClassifier, ModelMetadata, load_model
from finrisk_nlp.modeling.layout import EXPORT_MANIFEST
from finrisk_nlp.modeling.reference_texts import write_reference_texts
from finrisk_nlp.modeling.saving import write_dir_atomic
from finrisk_nlp.provenance import write_json_atomic
from finrisk_nlp.registry.local import resolve_model_ref
from finrisk_nlp.registry.publishing import scrub_release
from finrisk_nlp.registry.release import public_base_model, seal_export
from finrisk_nlp.version import __version__

logger = logging.getLogger("finrisk_nlp")


def _export_one(model: DocumentClassifier, tokenizer: Any, meta: ModelMetadata, folder: Path, fmt: str,
                quantize: str | None, task: str | None, refs: dict[str, ReferenceTexts], force: bool) -> dict[str, Any]:
    """One exported model (all tasks of a hard-sharing model, or one task) into ``folder``."""
    merged, merged_meta = merged_for_inference(model, meta, task)
    names = merged_meta.task_names()
    texts = [t for name in names for t in refs[name].texts]
    entry: dict[str, Any] = {"tasks": names, "parity": {
        **WRITERS[fmt](model, merged, tokenizer, merged_meta, folder, texts), "tolerance": PARITY_TOLERANCE,
        "num_texts": len(texts), "texts": sorted({refs[name].source for name in names})}}
    # The export carries the texts it was checked on: a later int8 gate on it compares on the model's own task.
    write_reference_texts(folder, {name: (refs[name].texts, refs[name].labels) for name in names},
                          "; ".join(sorted({refs[name].source for name in names})))
    if quantize == "int8":
        entry["int8_gate"] = add_int8_graph(folder, names, refs, force)
    seal_export(folder, {"format": fmt, "quantize": quantize, **entry})
    return entry


def export_model(model_ref: str, out: str | Path, *, fmt: str = "onnx", quantize: str | None = None,
                 task: str | None = None, texts_file: str | Path | None = None, force: bool = False) -> dict[str, Any]:
    """Export ``model_ref`` to ``out`` (replaced atomically; nothing is written when a check fails).

    Args:
        fmt: ``merged`` (PyTorch, LoRA merged), ``onnx`` or ``hf`` (Hub format for plain transformers).
        quantize: ``int8`` (onnx only): also write an int8 graph, kept if it passes the quality gate.
        task: export one task of a multi-task model (default: all).
        texts_file: reference texts for parity and the gate (see
            :func:`~finrisk_nlp.inference.quality_gate.reference_texts`).
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
        require_onnx("finrisk export --format onnx")
    started = time.time()
    model_dir = resolve_model_ref(model_ref)
    model, tokenizer, meta = load_model(model_dir, device="cpu")
    names = meta.task_names()
    if task is not None and task not in names:
        raise ModelLoadError(f"{model_ref} has tasks {names}, but --task {task!r} was asked for; pass one of them")
    soft = len(names) > 1 and meta.head.strategy == "soft" and model.strategy == "soft"
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
