"""ONNX Runtime inference for document classifiers: ``finrisk score MODEL docs/ --backend onnx --out s.parquet``.

An ONNX export (``finrisk export MODEL --format onnx --out DIR``) keeps the model's two halves apart::

    encoder.onnx          the window encoder (LoRA merged): input_ids, attention_mask[, token_type_ids] -> vectors,
                          with dynamic window and token axes
    encoder.int8.onnx     the same, weights dynamically quantised to int8 (only with --quantize int8)
    heads.safetensors     the document heads (pooling + dense + out, and field embeddings / fusion of a model with
                          structured fields), evaluated here with numpy
    finrisk_model.json    tokenizer, labels, threshold, calibration and window settings, as for a PyTorch model
    export_manifest.json  how it was made and the parity measured against the PyTorch model

:class:`OnnxDocumentModel` offers the two methods of :class:`~finrisk_nlp.modeling.DocumentClassifier` that the
Predictor calls (``embed_windows`` and ``classify``), so prediction and scoring run unchanged on either backend.
Needs the ``onnx`` extra (``pip install 'finrisk_nlp[onnx]'``).
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from peft import PeftModel
from safetensors.numpy import load_file
from transformers import AutoTokenizer

from finrisk_nlp.data.fields import FieldPreprocessor
from finrisk_nlp.data.windows import window_encodings
from finrisk_nlp.errors import ModelLoadError
from finrisk_nlp.modeling import DocumentClassifier, ModelMetadata, load_model
from finrisk_nlp.modeling.layout import EXPORT_MANIFEST, HEADS_FILE
from finrisk_nlp.registry.release import verify_export

logger = logging.getLogger("finrisk_nlp")

ENCODER_ONNX = "encoder.onnx"
ENCODER_INT8_ONNX = "encoder.int8.onnx"
OPSET = 17
QUANTIZE_CHOICES = ("int8",)
# Parity texts when neither a run's validation split nor a file of texts is at hand: short and long (several
# windows), so that padding and window pooling are both exercised.
BUILT_IN_TEXTS = [
    "Applicant lost his job in March and missed two loan payments since.",
    "Steady salary, ontime payment history and good savings.",
    "Cash deposits just below the reporting threshold at three branches on the same day.",
    "Card payment at a grocery store.",
    "Wire transfer to a newly opened account abroad, followed by immediate withdrawals. " * 12,
    "The borrower runs a small bakery; revenue fell after a road closure, rent is two months late, and the "
    "owner asks for a payment holiday while a second shop opens. " * 6,
    "Refund of an annual fee.",
    "Medical bills and high debt; the applicant asks to consolidate four credit cards.",
]


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


# ----------------------------------------------------------------------------------------------
# From a PyTorch model to a plain encoder and an ONNX graph


def merged_for_inference(model: DocumentClassifier, meta: ModelMetadata,
                         task: str | None = None) -> tuple[DocumentClassifier, ModelMetadata]:
    """A copy of ``model`` whose encoder has its LoRA adapters merged in (no peft at inference).

    Hard sharing (and single-task models) keep one encoder with every task's head, or ``task``'s head only when
    it is given. With soft sharing each task has its own adapters, hence its own merged encoder: the copy holds
    ``task``'s encoder and head only.

    Raises:
        ModelLoadError: when a soft-sharing model is merged without naming the task.
    """
    head = dict(meta.head or {})
    names = [task] if task else list(model.task_names)
    encoder = model.encoder
    if isinstance(encoder, PeftModel) and head.get("strategy", "hard") == "soft":
        if task is None:
            raise ModelLoadError(f"this soft-sharing model has one adapter set per task {names}; name the task "
                                 "to merge (--task)")
        adapters = model.adapters_for(task)
        encoder = copy.deepcopy(encoder)
        encoder.base_model.set_adapter(adapters)
        encoder = encoder.merge_and_unload(adapter_names=adapters)
    elif isinstance(encoder, PeftModel):
        encoder = copy.deepcopy(encoder).merge_and_unload()
    if task is not None:
        meta = meta.for_task(task)
    layouts = meta.field_layouts()
    out = DocumentClassifier(encoder, {name: meta.tasks()[name] for name in names},
                             pooling=head.get("pooling", "attention"), token_pooling=head.get("token_pooling", "cls"),
                             fields={n: layouts[n] for n in names if n in layouts},
                             fusion=head.get("fusion", "concat"), field_dropout=float(head.get("field_dropout", 0)))
    out.heads.load_state_dict({k: v for k, v in model.heads.state_dict().items() if k.split(".")[0] in names})
    out.encoder.eval()
    out.eval().requires_grad_(False)
    meta = ModelMetadata(**{**meta.__dict__, "lora": False,
                            "head": {**head, "strategy": "hard", "shared_adapter": False}})
    return out, meta


class _WindowEncoder(torch.nn.Module):
    """``embed_windows`` with positional tensor inputs in a fixed order, as the TorchScript exporter traces it."""

    def __init__(self, model: DocumentClassifier, input_names: list[str]) -> None:
        super().__init__()
        self.model = model
        self.input_names = input_names

    def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
        # The encoder is merged (one set of weights for every task), so any of its tasks names the same windows.
        return self.model.embed_windows(**dict(zip(self.input_names, tensors, strict=True)),
                                        task=self.model.task_names[0])


def export_encoder(model: DocumentClassifier, tokenizer: Any, path: Path, sample_texts: list[str]) -> list[str]:
    """Write the window encoder of a merged model to ``path`` as ONNX (dynamic window and token axes).

    The TorchScript exporter (``dynamo=False``) is used: it needs no onnxscript and works offline. The trace
    runs on a padded batch so that the attention mask is part of the graph. Returns the graph's input names.
    """
    names = list(tokenizer.model_input_names)
    texts = (sample_texts + ["a", "a longer text so that the other one is padded in this batch"])[:8]
    batch = tokenizer(texts, padding=True, truncation=True, max_length=32, return_tensors="pt")
    axes = {name: {0: "windows", 1: "tokens"} for name in names} | {"vectors": {0: "windows"}}
    with warnings.catch_warnings():  # the legacy exporter's deprecation and trace notes; parity is checked after
        warnings.simplefilter("ignore")
        torch.onnx.export(_WindowEncoder(model, names).eval(), tuple(batch[n] for n in names), str(path),
                          dynamo=False, input_names=names, output_names=["vectors"], dynamic_axes=axes,
                          opset_version=OPSET, do_constant_folding=True)
    return names


@contextlib.contextmanager
def _quiet_onnxruntime() -> Iterator[None]:
    """onnxruntime's optimiser and quantiser log every fusion (and a pre-processing hint) at INFO on loggers of
    their own; those are theirs, not the user's."""
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)


def optimize_graph(src: Path, dst: Path) -> bool:
    """Fuse transformer operators (onnxruntime's BERT optimiser) from ``src`` into ``dst``; False if it cannot."""
    try:
        from onnxruntime.transformers.optimizer import optimize_model

        with _quiet_onnxruntime():
            optimized = optimize_model(str(src), model_type="bert", num_heads=0, hidden_size=0)
            optimized.save_model_to_file(str(dst))
    except Exception as exc:  # noqa: BLE001  (an architecture the optimiser does not know keeps the plain graph)
        logger.info(f"graph optimisation skipped ({type(exc).__name__}: {exc})")
        return False
    return True


def quantize_graph(src: Path, dst: Path) -> None:
    """Dynamic int8 quantisation of the weights of ``src`` (onnxruntime ``quantize_dynamic``) into ``dst``."""
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with _quiet_onnxruntime():
        # Fused operators (com.microsoft domain) defeat shape inference; their outputs are float32 here.
        quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8,
                         extra_options={"DefaultTensorType": TensorProto.FLOAT})


# ----------------------------------------------------------------------------------------------
# Running an export


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

    Quacks like :class:`~finrisk_nlp.modeling.DocumentClassifier` for inference: ``embed_windows`` and
    ``classify`` take and return torch tensors (on CPU), so :class:`~finrisk_nlp.serving.predictor.Predictor`
    drives both backends the same way.
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
    pooling = (meta.head or {}).get("pooling", "attention")
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
        pooling = (merged_meta.head or {}).get("pooling", "attention")
        fp32 = OnnxDocumentModel(folder / ENCODER_ONNX, folder / HEADS_FILE, pooling)
        diff = max_logit_diff(model, fp32, tokenizer, merged_meta, texts)
        check_parity(diff, f"the ONNX graph of {model_dir}")
        onnx_model = fp32 if quantize != "int8" else OnnxDocumentModel(folder / ENCODER_INT8_ONNX,
                                                                       folder / HEADS_FILE, pooling)
    return onnx_model, tokenizer, merged_meta, diff


# ----------------------------------------------------------------------------------------------
# Parity

PARITY_TOLERANCE = 1e-4  # max |logit difference| allowed between an fp32 export and the PyTorch model


def document_logits(model: Any, tokenizer: Any, meta: ModelMetadata, texts: list[str], task: str,
                    batch_size: int = 8) -> np.ndarray:
    """Document logits of ``task`` for ``texts`` from a DocumentClassifier or an OnnxDocumentModel, windows cut as
    the model was trained; small batches of mixed lengths, so that padding is exercised. A model with structured
    fields gets :meth:`~finrisk_nlp.data.fields.FieldPreprocessor.example_rows` beside the texts (ranges, unseen
    categories, missing values and a bare row), so parity covers the field inputs too."""
    extra = meta.for_task(task).extra or {}
    fields = {}
    if extra.get("fields"):
        prep = FieldPreprocessor.from_dict(extra["fields"])
        fields = prep.transform(prep.example_rows(len(texts)), "parity rows").tensors()
    chunking = extra.get("chunking") or {}
    columns, _ = window_encodings(tokenizer, texts, meta.max_length, int(chunking.get("stride", 0)),
                                  int(chunking.get("max_chunks", 1)))
    doc_index = np.asarray(columns.pop("doc_index"), dtype=np.int64)
    vectors = []
    with torch.inference_mode():
        for start in range(0, len(doc_index), batch_size):
            stop = min(start + batch_size, len(doc_index))
            rows = [{k: v[i] for k, v in columns.items()} for i in range(start, stop)]
            batch = tokenizer.pad(rows, return_tensors="pt")
            vectors.append(model.embed_windows(**batch, task=task).float().cpu())
        logits = model.classify(torch.cat(vectors), torch.as_tensor(doc_index), len(texts), task=task, **fields)
    return np.asarray(logits.float().cpu(), dtype=np.float64)


def max_logit_diff(reference: Any, candidate: Any, tokenizer: Any, meta: ModelMetadata, texts: list[str]) -> float:
    """The largest |logit difference| between two models over every task of ``meta`` (the candidate's tasks)."""
    return max(float(np.abs(document_logits(reference, tokenizer, meta, texts, name)
                            - document_logits(candidate, tokenizer, meta, texts, name)).max())
               for name in meta.task_names())


def check_parity(diff: float, what: str, tolerance: float = PARITY_TOLERANCE) -> None:
    """Raise ModelLoadError when ``diff`` exceeds ``tolerance`` (or is not a number)."""
    if not diff <= tolerance:
        raise ModelLoadError(
            f"{what} does not match the PyTorch model: max |logit difference| {diff:.3g} > {tolerance:g}. Nothing "
            "was written; report it with the model's architecture, or use --format merged (PyTorch) instead")
