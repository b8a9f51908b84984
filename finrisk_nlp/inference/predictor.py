"""Classify texts with a trained model: ``finrisk predict RUN_DIR "text" ...``.

:class:`Predictor` is the one way trained models are used for inference; batch scoring and the CLI build on it.
It applies what training stored in ``finrisk_model.json``: PII redaction before tokenisation, the same token
windows and document pooling as in training, the calibration and the operating threshold. ``backend="onnx"`` runs
the window encoder in onnxruntime instead (:mod:`finrisk_nlp.inference.onnx_model`), from an ONNX export or, for
any other model, from one made on load. Both backends are a
:class:`~finrisk_nlp.inference.document_model.DocumentModel`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from peft import PeftModel

from finrisk_nlp.data.fields import UNKNOWN_INDEX, FieldBatch, FieldPreprocessor, split_records
from finrisk_nlp.data.redaction import redact_texts
from finrisk_nlp.data.windows import window_encodings
from finrisk_nlp.errors import DataError, ModelLoadError
from finrisk_nlp.evaluation.calibration import Calibration
from finrisk_nlp.evaluation.thresholds import decide
from finrisk_nlp.inference import onnx_model
from finrisk_nlp.inference.document_model import DocumentModel
from finrisk_nlp.inference.merging import merged_for_inference
from finrisk_nlp.inference.parity import BUILT_IN_TEXTS
from finrisk_nlp.inference.reduced_precision import apply_precision, gate_onnx_int8, precision_choice
from finrisk_nlp.modeling import ModelMetadata, load_model
from finrisk_nlp.registry.local import resolve_model_ref
from finrisk_nlp.tasks import Task

BACKENDS = ("torch", "onnx")
Record = str | Mapping[str, Any]


class Predictor:
    """A loaded model with its tokenizer, label names, calibration, threshold and window settings, for one task.

    Example:
        >>> predictor = Predictor.load("runs/credit_text")
        >>> predictor.predict(["Borrower missed three payments after losing his job."])[0]["decision"]
        'default'

    A model trained with structured fields (``data.feature_columns``) takes records, dicts holding the text and the
    fields: ``predictor.predict([{"text": "...", "income": 4200, "region": "north"}])``.
    """

    def __init__(self, model: DocumentModel, tokenizer: Any, metadata: ModelMetadata,
                 model_dir: Path | None = None, backend: str = "torch") -> None:
        self.model = model
        self.backend = backend
        self.tokenizer = tokenizer
        self.metadata = metadata
        self.model_dir = model_dir
        entry = metadata.task_metadata()
        self.task: Task = entry.task
        self.max_chunks: int = entry.windows.max_chunks
        self.stride: int = entry.windows.stride
        decision = entry.decision
        self.calibration = Calibration.from_dict(decision.calibration if decision else None, self.task)
        self.threshold: dict[str, Any] | None = decision.threshold if decision else None
        self.redact_pii: bool = bool(entry.redact_pii)
        self.fields: FieldPreprocessor | None = entry.fields
        self.field_dropout: float = metadata.head.field_dropout
        self.precision: str = "fp32"  # what the encoder computes in (see :meth:`load`)
        self.precision_record: dict[str, Any] = {}  # how it was picked and its quality gate report

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device | None = None, task: str | None = None, *,
             backend: str = "torch", quantize: str | None = None, precision: str | None = None,
             force: bool = False, texts_file: str | Path | None = None, merge: bool = True) -> Predictor:
        """Load a model by reference (run/model dir, ``registry:NAME[@STAGE]``, ``hub:ORG/NAME``, an export of
        ``finrisk export``); ``task`` picks one task of a multi-task model (required for those).

        Args:
            backend: ``torch``, or ``onnx`` (onnxruntime on CPU; needs the ``onnx`` extra). An ONNX export is
                loaded as it is; any other model is exported on load, its parity with PyTorch checked.
            precision: ``fp32`` (default), ``bf16``, ``int8`` or ``auto`` (bf16 where the device computes it
                natively, else fp32; see :mod:`finrisk_nlp.precision`). bf16 and int8 must pass the quality gate
                against fp32 on the model's reference texts (:mod:`finrisk_nlp.inference.quality_gate`).
            quantize: ``int8`` is ``precision="int8"``; ``none`` the fp32 graph of an int8 ONNX export (which
                otherwise runs its int8 graph, gated when it was exported).
            force: keep a precision that fails the gate (with a warning).
            texts_file: reference texts for the gate instead of the model's own (.txt or a table).
            merge: merge LoRA adapters into the encoder once here (torch backend): the same probabilities within
                1e-5, no adapter matmuls per layer. ``False`` keeps the peft model (e.g. to inspect adapters).

        Raises:
            ModelLoadError: when the reference does not resolve, ``task`` is missing or unknown, or the backend
                cannot load the model.
            FinriskError: an unknown precision, or a reduced precision failing the gate without ``force``.
        """
        if backend not in BACKENDS:
            raise ModelLoadError(f"backend {backend!r} is unknown; use one of {list(BACKENDS)}")
        requested = precision_choice(precision, quantize)
        if backend == "torch":
            return apply_precision(cls.open(path, device, task, merge=merge), requested, force=force,
                                   texts_file=texts_file)
        if requested == "int8":
            return gate_onnx_int8(cls.open(path, task=task, backend="onnx", quantize="int8"),
                                  cls.open(path, task=task, backend="onnx", quantize="none"), force=force,
                                  texts_file=texts_file)
        graph = "none" if precision is not None or quantize is not None else None
        return apply_precision(cls.open(path, task=task, backend="onnx", quantize=graph), requested, force=force,
                               texts_file=texts_file)

    @classmethod
    def open(cls, path: str | Path, device: str | torch.device | None = None, task: str | None = None, *,
             backend: str = "torch", quantize: str | None = None, merge: bool = True) -> Predictor:
        """:meth:`load` in the precision the files hold, with no gate; ``quantize`` picks an ONNX export's graph
        (``int8``, ``none`` for fp32, None for the one it was exported with)."""
        if backend not in BACKENDS:
            raise ModelLoadError(f"backend {backend!r} is unknown; use one of {list(BACKENDS)}")
        model_dir = onnx_model.task_export_dir(path, task) or resolve_model_ref(path)
        if onnx_model.is_onnx_export(model_dir):
            if backend != "onnx":
                raise ModelLoadError(f"{path} is an ONNX export; load it with backend='onnx' (--backend onnx), "
                                     "or load the model it was exported from")
            model, tokenizer, meta = onnx_model.load_onnx_export(model_dir, quantize)
        elif backend == "onnx":
            model, tokenizer, meta, _ = onnx_model.convert_to_onnx(model_dir, task, quantize, BUILT_IN_TEXTS)
        else:
            model, tokenizer, meta = load_model(model_dir, device=device)
        names = meta.task_names()
        if task is None and len(names) > 1:
            raise ModelLoadError(
                f"{path} is a multi-task model for {names}: name the task to predict (no task was given), e.g. "
                f"`finrisk predict MODEL --task {names[0]} \"text\"` or Predictor.load(path, task=...)")
        if task is not None and task not in names:
            kind = "multi-task model for" if len(names) > 1 else "single-task model for"
            raise ModelLoadError(f"{path} is a {kind} {names}, but task {task!r} was asked for; leave out the task "
                                 f"(--task) or pass one of {names}")
        if merge and isinstance(getattr(model, "encoder", None), PeftModel):
            # Merged once here rather than per forward pass: no adapter matmuls, the same probabilities.
            merged, _ = merged_for_inference(model, meta, task or names[0])
            model = merged.to(next(model.parameters()).device)
        predictor = cls(model, tokenizer, meta.for_task(task or names[0]), model_dir, backend)
        if backend == "onnx" and getattr(model, "encoder_path", Path()).name == onnx_model.ENCODER_INT8_ONNX:
            predictor.precision = "int8"
        return predictor

    @property
    def device(self) -> torch.device:
        if self.backend == "onnx":
            return torch.device("cpu")
        return next(self.model.parameters()).device

    @property
    def max_length(self) -> int:
        """Tokens per window, as trained."""
        return self.metadata.max_length

    @property
    def field_names(self) -> list[str]:
        """The structured fields this model reads beside the text ([] for a text-only model)."""
        return self.fields.names if self.fields is not None else []

    def split_records(self, records: Sequence[Record], source: str = "input",
                      ) -> tuple[list[str], FieldBatch | None]:
        """Texts and field inputs of ``records`` (plain strings: bare documents).

        A record names its text by the task's text column (``text`` also works). A row without any field is a bare
        document: a model trained with ``model.field_dropout > 0`` scores it from the text alone, any other field
        model refuses it.

        Raises:
            DataError: for a record without text, a non-number in a numeric field, or bare documents given to a
                model that needs fields.
        """
        texts, batch = split_records(records, self.task.text_column, self.fields, source)
        if batch is not None:
            self.check_present(batch, source)
        return texts, batch

    def check_present(self, batch: FieldBatch, source: str) -> None:
        """Raises DataError when rows carry no field and the model was not trained to score text alone."""
        bare = np.flatnonzero(~batch.present)
        if len(bare) and self.field_dropout <= 0:
            rows = ", ".join(str(i + 1) for i in bare[:5]) + (" ..." if len(bare) > 5 else "")
            raise DataError(f"{source}: this model reads the fields {self.field_names} beside the text, but "
                            f"{len(bare)} row(s) ({rows}) carry none of them; give each row its fields (missing "
                            "values may be null), or train with model.field_dropout > 0 to score bare documents")

    def predict_proba(self, records: Sequence[Record], batch_size: int = 32) -> np.ndarray:
        """``(len(records), num_labels)`` calibrated document probabilities (see :meth:`predict_documents`)."""
        texts, fields = self.split_records(records)
        return self.predict_documents(texts, batch_size, fields=fields)[0]

    def encode(self, texts: list[str], max_chunks: int | None = None) -> tuple[dict[str, list[Any]], np.ndarray]:
        """Model inputs of every window of ``texts`` (unpadded) and the text each window belongs to.

        Texts are redacted first when the model was trained with ``data.redact_pii``, then cut into up to
        ``max_chunks`` (default: as trained) overlapping windows of ``max_length`` tokens.
        """
        if self.redact_pii:
            texts, _ = redact_texts(texts)
        columns, _ = window_encodings(self.tokenizer, list(texts), self.metadata.max_length, self.stride,
                                      max_chunks or self.max_chunks)
        return columns, np.asarray(columns.pop("doc_index"), dtype=np.int64)

    @torch.inference_mode()
    def window_vectors(self, batch: Any) -> torch.Tensor:
        """Encoder vectors ``(W, hidden)`` of one padded batch of windows (e.g. from ``tokenizer.pad``)."""
        vectors = self.model.embed_windows(**{k: v.to(self.device) for k, v in batch.items()}, task=self.task.name)
        return vectors.float()  # a bf16 encoder's vectors: heads, pooling and calibration stay fp32

    @torch.inference_mode()
    def document_probs(self, vectors: torch.Tensor, doc_index: np.ndarray, num_docs: int,
                       fields: FieldBatch | None = None) -> np.ndarray:
        """Calibrated document probabilities from the vectors of all their windows (pooled by the task head) and,
        for a model with structured fields, the documents' field inputs."""
        index = torch.as_tensor(doc_index, device=vectors.device)
        if self.fields is not None and fields is None:
            raise DataError(f"this model reads the fields {self.field_names} beside the text; pass them (records)")
        logits = self.model.classify(vectors, index, num_docs, task=self.task.name,
                                     **(fields.tensors(vectors.device) if fields is not None else {})
                                     ).float().cpu().numpy()
        return self.calibration.apply(logits).astype(np.float32)

    def decide(self, probs: np.ndarray) -> list[Any]:
        """The decision at the stored operating threshold for each row of ``probs``."""
        return decide(probs, self.task, self.threshold)

    @property
    def positive_threshold(self) -> float | None:
        """The operating threshold of the risk class of a binary task (None otherwise or when not tuned)."""
        if not self.task.is_binary or not self.threshold:
            return None
        return float(self.threshold["by_label"][self.task.labels[self.task.positive_index]]["value"])

    def predict_documents(
        self, texts: list[str], batch_size: int = 32, *, max_chunks: int | None = None,
        fields: FieldBatch | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Document-level probabilities and how many model windows each document took.

        Args:
            texts: documents to score.
            batch_size: windows per forward pass of the encoder.
            max_chunks: override the stored window cap (1: score only the first ``max_length`` tokens).
            fields: the documents' field inputs (:meth:`split_records`), for a model with structured fields.

        Returns:
            ``(probs, num_chunks)``: ``(n, num_labels)`` probabilities and an ``(n,)`` int array.
        """
        num_labels = len(self.task.labels)
        if not texts:
            return np.zeros((0, num_labels), dtype=np.float32), np.zeros(0, dtype=np.int64)
        columns, doc_index = self.encode(texts, max_chunks)
        lengths = [len(ids) for ids in columns["input_ids"]]
        order = sorted(range(len(doc_index)), key=lengths.__getitem__, reverse=True)  # less padding per batch
        vectors: torch.Tensor | None = None
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            features = [{key: values[i] for key, values in columns.items()} for i in idx]
            batch_vectors = self.window_vectors(self.tokenizer.pad(features, return_tensors="pt"))
            if vectors is None:
                vectors = batch_vectors.new_zeros(len(doc_index), batch_vectors.shape[1])
            vectors[torch.as_tensor(idx, device=vectors.device)] = batch_vectors
        probs = self.document_probs(vectors, doc_index, len(texts), fields)
        return probs, np.bincount(doc_index, minlength=len(texts))

    def predict(self, records: Sequence[Record], batch_size: int = 32) -> list[dict[str, Any]]:
        """One dict per record (a text, or a dict with the text and the fields): ``label`` (most probable;
        ``labels`` >= 0.5 for multi-label tasks), ``decision`` (at the stored operating threshold),
        ``probabilities`` by name and ``num_chunks``; for a model with fields also ``missing_fields`` (those the
        record left empty or out) and ``unseen_categories`` (fields whose value training never saw)."""
        texts, fields = self.split_records(records)
        probs, num_chunks = self.predict_documents(texts, batch_size, fields=fields)
        return self.format_results(probs, num_chunks, fields)

    def format_results(self, probs: np.ndarray, num_chunks: np.ndarray, fields: FieldBatch | None = None,
                       ) -> list[dict[str, Any]]:
        """The result dicts of :meth:`predict` from probabilities, windows per document and field inputs."""
        decisions = self.decide(probs)
        results = []
        for i, (row, decision, chunks) in enumerate(zip(probs, decisions, num_chunks, strict=True)):
            named = {label: float(p) for label, p in zip(self.task.labels, row, strict=True)}
            if self.task.multi_label:
                result: dict[str, Any] = {"labels": [k for k, p in named.items() if p >= 0.5]}
            else:
                result = {"label": self.task.labels[int(row.argmax())]}
            results.append({**result, "decision": decision, "probabilities": named, "num_chunks": int(chunks)})
            if fields is not None and self.fields is not None:
                results[-1]["missing_fields"] = fields.missing[i]
                results[-1]["unseen_categories"] = [s.name for j, s in enumerate(self.fields.categorical)
                                                    if fields.categorical[i, j] == UNKNOWN_INDEX]
        return results
