"""The model side of ``finrisk score`` and ``finrisk serve``: which model (fingerprint, version), how it is readied
for fast inference.

    finrisk score runs/credit_text docs/ --out scores.parquet [--precision auto|fp32|bf16|int8]
    finrisk serve registry:credit-text@production [--backend onnx] [--precision int8]
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from pathlib import Path

import torch

from finrisk_nlp.data.windows import char_budget
from finrisk_nlp.errors import FinriskError
from finrisk_nlp.inference.predictor import Predictor
from finrisk_nlp.inference.reduced_precision import apply_precision, precision_choice
from finrisk_nlp.modeling import METADATA_FILE
from finrisk_nlp.provenance import sha256_file
from finrisk_nlp.registry.local import resolve_model_ref

logger = logging.getLogger("finrisk_nlp")


def model_fingerprint(model_ref: str, predictor: Predictor) -> str:
    """sha256 over the model's weight and metadata files and, for an adapter, its base model's fingerprint
    (over its metadata when the files are not local)."""
    from finrisk_nlp.registry.base_model import base_model_fingerprint

    digest = hashlib.sha256()
    try:
        model_dir = Path(predictor.model_dir or resolve_model_ref(model_ref))
        files = [*sorted(model_dir.rglob("*.safetensors")), *sorted(model_dir.rglob("*.onnx")),
                 model_dir / METADATA_FILE]
        for path in files:
            digest.update(f"{path.name}:{sha256_file(path)}".encode())
        if predictor.metadata.lora:  # an adapter's predictions change with its base weights too
            digest.update(f"base:{base_model_fingerprint(predictor.metadata.base_model)}".encode())
    except (FinriskError, OSError):
        digest.update(json.dumps(predictor.metadata.to_json(), sort_keys=True, default=str).encode())
    return digest.hexdigest()


def model_version(predictor: Predictor, fingerprint: str) -> str:
    """What answers and scored rows name the model's version by: its fingerprint's first 16 hex digits."""
    return f"sha256:{fingerprint[:16]}"


def text_char_budget(predictor: Predictor) -> int:
    """How many characters of a document are kept before tokenising (:func:`finrisk_nlp.data.windows.char_budget`
    of the model's windows, as in training). Longer texts keep their head and tail (see
    :func:`finrisk_nlp.data.windows.fit_text`) and their row says ``truncated``; this bounds the memory of
    tokenising a 20 MB text to that of a short one."""
    return char_budget(predictor.metadata.max_length, predictor.max_chunks)


def prepare_for_inference(predictor: Predictor) -> None:
    """Use SDPA attention where the encoder has it (LoRA is merged by :meth:`Predictor.load` already)."""
    model = predictor.model
    if getattr(model.config, "_attn_implementation", None) == "eager":
        with contextlib.suppress(Exception):  # models without an SDPA kernel keep eager attention
            model.encoder.set_attn_implementation("sdpa")
    logger.info(f"attention implementation: {getattr(model.config, '_attn_implementation', None)}")


def load_for_inference(model_ref: str, *, task: str | None = None, backend: str = "torch",
                       quantize: str | None = None, precision: str | None = None, force: bool = False,
                       texts_file: str | Path | None = None, device: str | torch.device | None = None) -> Predictor:
    """Load ``model_ref`` as scoring and serving use it: LoRA merged and SDPA attention (torch), or onnxruntime, in
    ``precision`` (``quantize="int8"`` is ``precision="int8"``), which bf16 and int8 reach only through the quality
    gate against fp32 on the model's reference texts (see :meth:`Predictor.load`; ``force`` only warns). int8 and
    ``auto`` pick the CPU when no device is given.

    Raises:
        FinriskError: an unknown precision, int8 off the CPU, or a reduced precision failing the gate without
            ``force``.
    """
    requested = precision_choice(precision, quantize)
    if requested == "int8" and device is None:
        device = "cpu"
    if backend != "onnx":  # SDPA before the precision is applied, so that the gate measures what will run
        fp32 = Predictor.load(model_ref, device=device, task=task)
        prepare_for_inference(fp32)
        return apply_precision(fp32, requested, force=force, texts_file=texts_file)
    return Predictor.load(model_ref, task=task, backend=backend, precision=precision, quantize=quantize, force=force,
                          texts_file=texts_file)
