"""ONNX Runtime inference for document classifiers: ``finrisk score MODEL docs/ --backend onnx --out s.parquet``.

An ONNX export (``finrisk export MODEL --format onnx --out DIR``) keeps the model's two halves apart::

    encoder.onnx          the window encoder (LoRA merged): input_ids, attention_mask[, token_type_ids] -> vectors,
                          with dynamic window and token axes
    encoder.int8.onnx     the same, weights dynamically quantised to int8 (only with --quantize int8)
    heads.safetensors     the document heads (pooling + dense + out, and field embeddings / fusion of a model with
                          structured fields), evaluated here with numpy
    finrisk_model.json    tokenizer, labels, threshold, calibration and window settings, as for a PyTorch model
    export_manifest.json  how it was made and the parity measured against the PyTorch model

:class:`OnnxDocumentModel` is a :class:`~finrisk_nlp.inference.document_model.DocumentModel`, as
:class:`~finrisk_nlp.modeling.DocumentClassifier` is, so prediction and scoring run unchanged on either backend.
A model that was not exported is converted on load (:func:`convert_to_onnx`, parity checked).
Needs the ``onnx`` extra (``pip install 'finrisk_nlp[onnx]'``).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.numpy import load_file
from transformers import AutoTokenizer

from finrisk_nlp.errors import ModelLoadError
from finrisk_nlp.inference.merging import merged_for_inference
from finrisk_nlp.inference.onnx_graph import export_encoder, quantize_graph
from finrisk_nlp.inference.parity import check_parity, max_logit_diff
from finrisk_nlp.modeling import ModelMetadata, load_model
from finrisk_nlp.modeling.layout import EXPORT_MANIFEST, HEADS_FILE
from finrisk_nlp.registry.release import verify_export

ENCODER_ONNX = "encoder.onnx"
ENCODER_INT8_ONNX = "encoder.int8.onnx"
QUANTIZE_CHOICES = ("int8",)


def require_onnx(what: str) -> Any:
    """The ``onnxruntime`` module, or a ModelLoadError saying how to install the ``onnx`` extra."""
    try:
        import onnx  # noqa: F401  (the exporter writes through it)
        import onnxruntime
    except ImportError:
        raise ModelLoadError(
            f"{what} needs onnxruntime and onnx, which are not installed; run "
            "`pip install 'finrisk_nlp[onnx]'` (or `make install`), or use the PyTorch backend / --format merged"
        ) from None
    return onnxruntime


def is_onnx_export(folder: str | Path) -> bool:
    return (Path(folder) / ENCODER_ONNX).is_file()


def task_export_dir(path: str | Path, task: str | None) -> Path | None:
    """The per-task directory of an export with one model per task (soft sharing), or None for any other path.

    Raises:
        ModelLoadError: when ``path`` is such an export and ``task`` is missing or not one of its tasks.
    """
    manifest = Path(path) / EXPORT_MANIFEST
    try:
        if not manifest.is_file():
            return None
    except OSError:  # a reference such as registry:NAME@VERSION longer than a file name may be
        return None
    task_dirs = verify_export(path).get("task_dirs")
    if not task_dirs:
        return None
    if task not in task_dirs:
        raise ModelLoadError(f"{path} holds one exported model per task {sorted(task_dirs)} (soft sharing), but "
                             f"task {task!r} was asked for; pass --task with one of them")
    return Path(path) / task_dirs[task]




def field_vector(weights: dict[str, np.ndarray], numeric: np.ndarray, categorical: np.ndarray,
                 present: np.ndarray | None) -> np.ndarray:
    """Numpy twin of :class:`~finrisk_nlp.modeling.classifier.FieldEncoder`, zeroed for rows without fields."""
    parts = [np.asarray(numeric, dtype=np.float32)]
    j = 0
    while f"fields.embeddings.{j}.weight" in weights:
        parts.append(weights[f"fields.embeddings.{j}.weight"][np.asarray(categorical, dtype=np.int64)[:, j]])
        j += 1
    values = np.concatenate(parts, axis=1)
    keep = np.ones(len(values), dtype=np.float32) if present is None else np.asarray(present, dtype=np.float32)
    return values * keep[:, None]


def head_logits(weights: dict[str, np.ndarray], vectors: np.ndarray, doc_index: np.ndarray, num_docs: int,
                pooling: str, fields: dict[str, Any] | None = None) -> np.ndarray:
    """Numpy twin of :class:`~finrisk_nlp.modeling.classifier.DocumentHead` (eval mode): pool, [fuse the field
    vector: concat or gated, as the weights say], dense, tanh, out.

    Args:
        fields: ``field_numeric``, ``field_categorical`` and ``field_present`` arrays of a head with fields.
    """
    vectors = np.asarray(vectors, dtype=np.float32)
    index = np.asarray(doc_index, dtype=np.int64)
    if pooling == "max":
        document = np.full((num_docs, vectors.shape[1]), np.finfo(np.float32).min, dtype=np.float32)
        np.maximum.at(document, index, vectors)
    else:
        if pooling == "attention":
            scores = vectors @ weights["score.weight"][0] + weights["score.bias"][0]
            top = np.full(num_docs, -np.inf, dtype=np.float32)
            np.maximum.at(top, index, scores)
            w = np.exp(scores - top[index])
        else:
            w = np.ones(len(index), dtype=np.float32)
        total = np.zeros(num_docs, dtype=np.float32)
        np.add.at(total, index, w)
        document = np.zeros((num_docs, vectors.shape[1]), dtype=np.float32)
        np.add.at(document, index, (w / total[index])[:, None] * vectors)
    if "dense.weight" in weights and weights["dense.weight"].shape[1] != document.shape[1] or "gate.weight" in weights:
        if not fields:
            raise ValueError("this head was trained with fields: pass field_numeric and field_categorical")
        values = field_vector(weights, fields["field_numeric"], fields["field_categorical"],
                              fields.get("field_present"))
        if "gate.weight" in weights:
            gate = 1.0 / (1.0 + np.exp(-(np.concatenate([document, values], axis=1) @ weights["gate.weight"].T
                                         + weights["gate.bias"])))
            document = document + gate * np.tanh(values @ weights["field_proj.weight"].T + weights["field_proj.bias"])
        else:
            document = np.concatenate([document, values], axis=1)
    hidden = np.tanh(document @ weights["dense.weight"].T + weights["dense.bias"])
    return hidden @ weights["out.weight"].T + weights["out.bias"]


class OnnxDocumentModel:
    """An exported window encoder in an onnxruntime session and the document heads as numpy arrays.

    A :class:`~finrisk_nlp.inference.document_model.DocumentModel`: ``embed_windows`` and ``classify`` take and
    return torch tensors (on CPU), so :class:`~finrisk_nlp.inference.predictor.Predictor` drives both backends the
    same way.
    """

    def __init__(self, encoder_path: Path, heads_path: Path, pooling: str, threads: int | None = None) -> None:
        ort = require_onnx("the onnx backend")
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(encoder_path), options, providers=["CPUExecutionProvider"])
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.encoder_path = encoder_path
        self.pooling = pooling
        heads = load_file(str(heads_path))
        self.task_names = sorted({k.split(".")[0] for k in heads})
        self.heads = {t: {k[len(t) + 1:]: v.astype(np.float32) for k, v in heads.items() if k.split(".")[0] == t}
                      for t in self.task_names}

    def embed_windows(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                      task: str | None = None, **inputs: Any) -> torch.Tensor:
        """Window vectors ``(W, hidden)``; ``task`` is accepted for the Predictor's sake (one encoder per export)."""
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask, **inputs}
        feed = {name: np.asarray(inputs[name].cpu(), dtype=np.int64) for name in self.input_names}
        return torch.from_numpy(self.session.run(["vectors"], feed)[0])

    def classify(self, vectors: torch.Tensor, doc_index: torch.Tensor | None, num_docs: int | None,
                 task: str | None = None, **fields: torch.Tensor | None) -> torch.Tensor:
        """Document logits ``(num_docs, num_labels)`` of ``task`` (see :func:`head_logits`), with the documents'
        ``field_numeric``/``field_categorical``/``field_present`` for a model with structured fields."""
        values = np.asarray(vectors.float().cpu())
        if doc_index is None:
            doc_index, num_docs = np.arange(len(values)), len(values)
        task = task or self.task_names[0]
        if task not in self.heads:
            raise KeyError(f"unknown task {task!r}; this export has {self.task_names}")
        index = np.asarray(doc_index.cpu() if isinstance(doc_index, torch.Tensor) else doc_index)
        arrays = {k: np.asarray(v.cpu()) for k, v in fields.items() if v is not None}
        return torch.from_numpy(head_logits(self.heads[task], values, index, int(num_docs), self.pooling, arrays))


def load_onnx_export(folder: Path, quantize: str | None = None) -> tuple[OnnxDocumentModel, Any, ModelMetadata]:
    """The model, tokenizer and metadata of an export directory. ``quantize``: ``int8`` for the int8 graph
    (quantised on load when the export has none), ``none`` for the fp32 one, None for the one the export was made
    for. The tokenizer produces exactly the graph's inputs.

    Raises:
        ModelLoadError: when the int8 graph is asked for but the export has none.
    """
    meta = ModelMetadata.read(folder)
    manifest = json.loads((folder / EXPORT_MANIFEST).read_text()) if (folder / EXPORT_MANIFEST).is_file() else {}
    if quantize not in (None, "none", *QUANTIZE_CHOICES):
        raise ModelLoadError(f"quantize={quantize!r} is not supported; use int8, none (the fp32 graph) or leave it out")
    int8 = quantize == "int8" or (quantize is None and manifest.get("quantize") == "int8")
    pooling = meta.head.pooling
    if int8 and not (folder / ENCODER_INT8_ONNX).is_file():  # an fp32 export: quantised here, as on export
        with tempfile.TemporaryDirectory(prefix="finrisk-int8-") as tmp:
            quantize_graph(folder / ENCODER_ONNX, Path(tmp) / ENCODER_INT8_ONNX)
            model = OnnxDocumentModel(Path(tmp) / ENCODER_INT8_ONNX, folder / HEADS_FILE, pooling)
    else:
        model = OnnxDocumentModel(folder / (ENCODER_INT8_ONNX if int8 else ENCODER_ONNX), folder / HEADS_FILE, pooling)
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"could not load the tokenizer of the export {folder} ({exc}); export it again") from exc
    tokenizer.model_input_names = [n for n in tokenizer.model_input_names if n in model.input_names]
    return model, tokenizer, meta



def convert_to_onnx(model_dir: Path, task: str | None, quantize: str | None,
                    texts: list[str]) -> tuple[OnnxDocumentModel, Any, ModelMetadata, float]:
    """Export a saved PyTorch model to ONNX in a temporary directory and load it (``--backend onnx`` on a model
    that was not exported). Returns the model, tokenizer, metadata and the max |logit diff| on ``texts``.

    Raises:
        ModelLoadError: when the export's logits differ from the PyTorch model's by more than ``PARITY_TOLERANCE``.
    """
    require_onnx("the onnx backend")
    model, tokenizer, meta = load_model(model_dir, device="cpu")
    merged, merged_meta = merged_for_inference(model, meta, task)
    with tempfile.TemporaryDirectory(prefix="finrisk-onnx-") as tmp:
        folder = Path(tmp)
        export_encoder(merged, tokenizer, folder / ENCODER_ONNX, texts)
        if quantize == "int8":
            quantize_graph(folder / ENCODER_ONNX, folder / ENCODER_INT8_ONNX)
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in merged.heads.state_dict().items()}, str(folder / HEADS_FILE))
        pooling = merged_meta.head.pooling
        fp32 = OnnxDocumentModel(folder / ENCODER_ONNX, folder / HEADS_FILE, pooling)
        diff = max_logit_diff(model, fp32, tokenizer, merged_meta, texts)
        check_parity(diff, f"the ONNX graph of {model_dir}")
        onnx_model = fp32 if quantize != "int8" else OnnxDocumentModel(folder / ENCODER_INT8_ONNX,
                                                                       folder / HEADS_FILE, pooling)
    return onnx_model, tokenizer, merged_meta, diff

