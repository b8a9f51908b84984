"""The three formats of ``finrisk export MODEL --format merged|onnx|hf``, each checked against the PyTorch model.

    finrisk export runs/credit_text --format merged --out exports/credit_merged   # PyTorch, LoRA merged, no peft
    finrisk export runs/credit_text --format onnx --out exports/credit_onnx       # window encoder as ONNX + heads
    finrisk export runs/credit_text --format hf --out exports/credit_hf           # plain transformers (remote code)

Every writer gets the original model and its merged copy, writes the merged one into ``folder`` and returns the
parity it measured (max |logit difference| on the reference texts, at most
:data:`~finrisk_nlp.inference.parity.PARITY_TOLERANCE`, else nothing is kept).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from finrisk_nlp.inference.onnx_graph import OPSET, export_encoder, optimize_graph
from finrisk_nlp.inference.onnx_model import ENCODER_ONNX, OnnxDocumentModel
from finrisk_nlp.inference.parity import PARITY_TOLERANCE, check_parity, max_logit_diff
from finrisk_nlp.modeling import DocumentClassifier, ModelMetadata, load_model, save_model
from finrisk_nlp.modeling.layout import HEADS_FILE

Writer = Callable[[DocumentClassifier, DocumentClassifier, Any, ModelMetadata, Path, list[str]], dict[str, Any]]


def export_merged(model: DocumentClassifier, merged: DocumentClassifier, tokenizer: Any, meta: ModelMetadata,
                  folder: Path, texts: list[str]) -> dict[str, Any]:
    """The merged model saved as a plain model directory (no peft), reloaded and compared."""
    save_model(merged, tokenizer, meta, folder, merged=True)
    reloaded, _, _ = load_model(folder, device="cpu")
    diff = max_logit_diff(model, reloaded, tokenizer, meta, texts)
    check_parity(diff, "the merged model")
    return {"max_abs_logit_diff": diff}


def export_onnx(model: DocumentClassifier, merged: DocumentClassifier, tokenizer: Any, meta: ModelMetadata,
                folder: Path, texts: list[str]) -> dict[str, Any]:
    """The window encoder as ONNX (onnxruntime's fusions kept when they cost no parity) and the heads as
    safetensors."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in merged.heads.state_dict().items()}, str(folder / HEADS_FILE),
              metadata={"format": "pt"})
    tokenizer.save_pretrained(folder)
    meta.write(folder)
    encoder = folder / ENCODER_ONNX
    export_encoder(merged, tokenizer, encoder, texts)
    pooling = meta.head.pooling

    def parity(path: Path) -> float:
        candidate = OnnxDocumentModel(path, folder / HEADS_FILE, pooling)
        return max_logit_diff(model, candidate, tokenizer, meta, texts)

    diff = parity(encoder)
    check_parity(diff, "the ONNX graph")
    optimised = folder / "encoder.optimized.onnx"
    record: dict[str, Any] = {"max_abs_logit_diff": diff, "opset": OPSET, "optimization": "none"}
    if optimize_graph(encoder, optimised):
        opt_diff = parity(optimised)
        if opt_diff <= PARITY_TOLERANCE:  # kept only when it does not cost parity
            optimised.replace(encoder)
            record.update(max_abs_logit_diff=opt_diff, optimization="onnxruntime bert fusions",
                          unoptimized_max_abs_logit_diff=diff)
        else:
            optimised.unlink()
            record["optimization"] = f"discarded (max |logit diff| {opt_diff:.3g})"
    return record


def export_hf(model: DocumentClassifier, merged: DocumentClassifier, tokenizer: Any, meta: ModelMetadata,
              folder: Path, texts: list[str]) -> dict[str, Any]:
    """The Hub format (:mod:`finrisk_nlp.modeling.hub_format`), reloaded and compared."""
    from finrisk_nlp.modeling.hub_format import save_hub_model

    save_hub_model(merged, tokenizer, meta, folder)
    reloaded, _, _ = load_model(folder, device="cpu")
    diff = max_logit_diff(model, reloaded, tokenizer, meta, texts)
    check_parity(diff, "the Hub-format model")
    return {"max_abs_logit_diff": diff}


WRITERS: dict[str, Writer] = {"merged": export_merged, "onnx": export_onnx, "hf": export_hf}
EXPORT_FORMATS = tuple(WRITERS)
