"""The model side of ``finrisk score`` and ``finrisk serve``: which model (fingerprint, version), how it is readied
for fast inference.

    finrisk score runs/credit_text docs/ --out scores.parquet [--quantize int8]
    finrisk serve registry:credit-text@production [--backend onnx] [--quantize int8]
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import logging
import warnings
from dataclasses import asdict
from pathlib import Path

import torch

from finrisk_nlp.data.windows import char_budget
from finrisk_nlp.errors import FinriskError
from finrisk_nlp.modeling import METADATA_FILE
from finrisk_nlp.provenance import sha256_file
from finrisk_nlp.registry.local import resolve_model_ref
from finrisk_nlp.serving.parts import ScoringError
from finrisk_nlp.serving.predictor import Predictor

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
        digest.update(json.dumps(asdict(predictor.metadata), sort_keys=True, default=str).encode())
    return digest.hexdigest()


def model_version(predictor: Predictor, fingerprint: str) -> str:
    extra = predictor.metadata.extra
    for key in ("registry_version", "version"):
        if extra.get(key) is not None:
            return str(extra[key])
    return f"sha256:{fingerprint[:16]}"


def text_char_budget(predictor: Predictor) -> int:
    """How many characters of a document are kept before tokenising (:func:`finrisk_nlp.data.windows.char_budget`
    of the model's windows, as in training). Longer texts keep their head and tail (see
    :func:`finrisk_nlp.data.windows.fit_text`) and their row says ``truncated``; this bounds the memory of
    tokenising a 20 MB text to that of a short one."""
    return char_budget(predictor.metadata.max_length, predictor.max_chunks)


def prepare_for_inference(predictor: Predictor) -> None:
    """Merge a single LoRA adapter into the encoder (no adapter matmuls per layer) and use SDPA attention."""
    from peft import PeftModel

    model = predictor.model
    if isinstance(model.encoder, PeftModel) and len(model.encoder.peft_config) == 1:
        model.encoder = model.encoder.merge_and_unload()
    if getattr(model.config, "_attn_implementation", None) == "eager":
        with contextlib.suppress(Exception):  # models without an SDPA kernel keep eager attention
            model.encoder.set_attn_implementation("sdpa")
    logger.info(f"attention implementation: {getattr(model.config, '_attn_implementation', None)}")


def quantize_int8(predictor: Predictor) -> None:
    """Replace the model's Linear layers by int8 dynamically quantised ones (CPU only; opt-in, see the docs)."""
    if predictor.device.type != "cpu":
        raise ScoringError(f"--quantize int8 runs on CPU only, but the model is on {predictor.device}; "
                           "add --cpu or leave out --quantize")
    with warnings.catch_warnings():  # torch.ao.quantization warns that it is deprecated in favour of torchao
        warnings.simplefilter("ignore")
        from torch.ao.quantization import quantize_dynamic

        predictor.model = quantize_dynamic(predictor.model, {torch.nn.Linear}, dtype=torch.qint8)


def load_for_inference(model_ref: str, *, task: str | None = None, backend: str = "torch",
                       quantize: str | None = None, force: bool = False,
                       device: str | torch.device | None = None) -> Predictor:
    """Load ``model_ref`` as scoring and serving use it: LoRA merged and SDPA attention (torch), or onnxruntime, and
    with ``quantize="int8"`` int8 weights that must pass the quality gate against fp32 on the model's reference
    texts (:func:`~finrisk_nlp.serving.export.gate_int8_predictor`; ``force`` only warns).

    Raises:
        ScoringError: an unsupported ``quantize``, or int8 failing the gate without ``force``.
    """
    from finrisk_nlp.serving.export import gate_int8_predictor

    if quantize not in (None, "int8"):
        raise ScoringError(f"--quantize {quantize!r} is not supported; use int8 or leave it out")
    onnx = backend == "onnx"
    predictor = Predictor.load(model_ref, device=device, task=task, backend=backend,
                               quantize=quantize if onnx else None)
    if not onnx:
        prepare_for_inference(predictor)
    if quantize == "int8":
        if onnx:
            fp32 = Predictor.load(model_ref, task=task, backend="onnx", quantize="none")
        else:
            fp32_model = predictor.model
            quantize_int8(predictor)
            fp32 = copy.copy(predictor)
            fp32.model = fp32_model
        gate_int8_predictor(fp32, predictor, force=force)
    return predictor
