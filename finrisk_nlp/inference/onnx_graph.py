"""A merged PyTorch encoder as an ONNX graph, optimised or int8-quantised by onnxruntime: ``finrisk export --format
onnx [--quantize int8]`` and ``--backend onnx`` on a model that was not exported.

    finrisk export runs/credit_text --format onnx --quantize int8 --out exports/credit_onnx
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from finrisk_nlp.modeling import DocumentClassifier

logger = logging.getLogger("finrisk_nlp")

OPSET = 17


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

