"""The int8 graph of an ONNX export, kept only when it passes the quality gate: ``finrisk export --quantize int8``.

    finrisk export runs/credit_text --format onnx --quantize int8 --out exports/credit_onnx [--force]

The export's int8 graph and its fp32 graph are compared per task by
:func:`~finrisk_nlp.inference.quality_gate.quality_gate` on the texts the export was checked on (decision agreement,
and with labels macro-F1); the result goes into the export manifest. Needs no training code: the reference texts
come from the model, the user's ``--texts`` file or the run's validation split.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from finrisk_nlp.inference.onnx_graph import quantize_graph
from finrisk_nlp.inference.onnx_model import ENCODER_INT8_ONNX, ENCODER_ONNX
from finrisk_nlp.inference.predictor import Predictor
from finrisk_nlp.inference.quality_gate import (
    MAX_F1_DROP,
    MIN_AGREEMENT,
    ReferenceTexts,
    enforce_gate,
    quality_gate,
)


def add_int8_graph(folder: Path, tasks: list[str], refs: dict[str, ReferenceTexts], force: bool) -> dict[str, Any]:
    """Quantise ``folder``'s encoder graph to int8 beside it and gate it against the fp32 graph for each of ``tasks``
    on ``refs``; returns the manifest's ``int8_gate`` record.

    Raises:
        FinriskError: the int8 graph failing the gate without ``force``.
    """
    quantize_graph(folder / ENCODER_ONNX, folder / ENCODER_INT8_ONNX)
    reports = []
    for name in tasks:
        fp32 = Predictor.open(folder, task=name, backend="onnx", quantize="none")
        int8 = Predictor.open(folder, task=name, backend="onnx", quantize="int8")
        reports.append(quality_gate(fp32, int8, refs[name]))
    enforce_gate(reports, force)
    return {"max_f1_drop": MAX_F1_DROP, "min_agreement": MIN_AGREEMENT, "forced": force,
            "tasks": [{**asdict(r), "passed": r.passed} for r in reports]}
