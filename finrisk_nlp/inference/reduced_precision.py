"""A loaded model in bf16 or int8, kept only when it passes the quality gate: ``--precision`` of ``finrisk score``,
``finrisk serve`` and ``Predictor.load``.

    finrisk score runs/credit_text docs/ --out scores.parquet --precision auto     # bf16 on a CPU with native bf16
    finrisk serve registry:credit-text@production --precision int8

bf16 casts the encoder's weights to bf16 (the heads, pooling of documents and calibration stay fp32): on a CPU with
AVX512_BF16 or AMX every matmul runs at twice the fp32 rate. int8 is dynamic quantisation of the encoder's Linear
layers (int8 weights, activations quantised per batch; VNNI dot products), made selective: quantising every Linear
moves the decisions of documents near the threshold, so the layers whose quantisation moves the model most on the
reference texts are kept in fp32 until the gate passes. Which layers that was is measured, logged and returned.
Every result is compared with fp32 by :mod:`finrisk_nlp.inference.quality_gate`.
"""

from __future__ import annotations

import copy
import logging
import re
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from finrisk_nlp.errors import FinriskError
from finrisk_nlp.inference.quality_gate import (
    MAX_F1_DROP,
    MIN_AGREEMENT,
    GateReport,
    enforce_gate,
    gate_predictor,
    quality_gate,
    reference_fields,
    reference_texts,
)
from finrisk_nlp.precision import PRECISIONS, resolve_precision

if TYPE_CHECKING:
    from finrisk_nlp.data.fields import FieldBatch
    from finrisk_nlp.inference.predictor import Predictor

logger = logging.getLogger("finrisk_nlp")

# Layer groups: "<layer index>.<attention|ffn>" from a Linear's module name (BERT, RoBERTa, DeBERTa, MiniLM).
LAYER_INDEX = re.compile(r"\blayers?\.(\d{1,4})\.")
KEPT_FP32_STEPS = (0, 1, 2, 4, 6, 9)  # how many of the most sensitive groups int8 keeps in fp32, tried in turn
SENSITIVITY_TEXTS = 48  # reference texts nearest the threshold, on which each group's effect is measured


def precision_choice(precision: str | None, quantize: str | None) -> str:
    """``--precision`` with ``--quantize int8`` as its older spelling (both given: they must agree).

    Raises:
        FinriskError: an unknown precision or quantisation, or the two disagreeing.
    """
    if quantize not in (None, "int8", "none"):
        raise FinriskError(f"--quantize {quantize!r} is not supported; use --precision int8 (or --quantize int8)")
    if precision is not None and precision not in PRECISIONS:
        raise FinriskError(f"--precision {precision!r} is unknown; use one of {list(PRECISIONS)}")
    if quantize == "int8" and precision not in (None, "int8"):
        raise FinriskError(f"--quantize int8 and --precision {precision} disagree; give --precision only")
    return precision or ("int8" if quantize == "int8" else "fp32")


def to_bf16(predictor: Predictor) -> Predictor:
    """A copy of ``predictor`` whose encoder computes in bf16 (heads and calibration stay fp32)."""
    low = copy.copy(predictor)
    low.model = copy.deepcopy(predictor.model)
    low.model.encoder.to(torch.bfloat16)
    low.precision = "bf16"
    return low


def linear_groups(model: torch.nn.Module) -> dict[str, list[str]]:
    """The encoder's Linear layers by transformer block and part: ``{"3.attention": [names], "3.ffn_in": [...],
    "3.ffn_out": [...]}``."""
    groups: dict[str, list[str]] = {}
    for name, module in model.named_modules():
        if not isinstance(module, torch.nn.Linear) or not name.startswith("encoder."):
            continue
        match = LAYER_INDEX.search(name)
        if match is None:
            continue
        # The feed-forward's two Linears apart: the second reads GELU outputs, whose outliers int8 handles worst.
        part = ("attention" if "attention" in name or "attn" in name
                else "ffn_in" if "intermediate" in name else "ffn_out")
        groups.setdefault(f"{match.group(1)}.{part}", []).append(name)
    return groups


def to_int8(predictor: Predictor, names: list[str]) -> Predictor:
    """A copy of ``predictor`` with the Linear layers ``names`` dynamically quantised to int8 (CPU only)."""
    if predictor.device.type != "cpu":
        raise FinriskError(f"--precision int8 runs on CPU only, but the model is on {predictor.device}; add --cpu "
                           "or use --precision bf16")
    with warnings.catch_warnings():  # torch.ao.quantization warns that it is deprecated in favour of torchao
        warnings.simplefilter("ignore")
        from torch.ao.quantization import quantize_dynamic

        model = quantize_dynamic(predictor.model, set(names), dtype=torch.qint8, inplace=False)
    low = copy.copy(predictor)
    low.model = model
    low.precision = "int8"
    return low


def group_sensitivity(predictor: Predictor, groups: dict[str, list[str]], texts: list[str],
                      fields: FieldBatch | None = None) -> dict[str, float]:
    """Mean |change of the log-probabilities| when only one group is quantised, on ``texts`` (with their
    ``fields`` for a model that reads structured fields): how far each group's quantisation moves the model."""
    base = _log_probs(predictor, texts, fields)
    return {group: float(np.abs(_log_probs(to_int8(predictor, names), texts, fields) - base).mean())
            for group, names in groups.items()}


def _log_probs(predictor: Predictor, texts: list[str], fields: FieldBatch | None) -> np.ndarray:
    return np.log(np.clip(predictor.predict_documents(texts, fields=fields)[0], 1e-7, 1 - 1e-7))


def near_threshold(predictor: Predictor, texts: list[str], probs: np.ndarray, n: int) -> list[str]:
    """The ``n`` texts whose fp32 probability of the risk class (the top class otherwise) is nearest the operating
    threshold (0.5 when none is stored): those whose decisions quantisation moves first."""
    threshold = predictor.positive_threshold
    column = probs[:, predictor.task.positive_index] if predictor.task.is_binary else probs.max(axis=1)
    distance = np.abs(column - (0.5 if threshold is None else threshold))
    return [texts[i] for i in np.argsort(distance, kind="stable")[:n]]


def selective_int8(fp32: Predictor, texts_file: str | Path | None = None) -> tuple[Predictor, GateReport, list[str]]:
    """int8 with the fewest groups kept in fp32 that passes the gate (:data:`KEPT_FP32_STEPS`), or, when none
    does, the best attempt. Returns the predictor, its gate report and the groups kept in fp32."""
    ref = reference_texts(fp32.model_dir, fp32.metadata, fp32.task.name, texts_file)
    fields = reference_fields(fp32, ref)
    probs = fp32.predict_documents(ref.texts, fields=fields)[0]
    groups = linear_groups(fp32.model)
    if not groups:
        raise FinriskError(f"found no transformer-block Linear layers to quantise in {type(fp32.model.encoder)}; "
                           "use --precision bf16 or fp32")
    order: list[str] | None = None
    best: tuple[Predictor, GateReport, list[str]] | None = None
    for keep in KEPT_FP32_STEPS:
        if keep and order is None:  # measured only when quantising everything fails
            # Measured on the texts nearest the threshold; a model with fields on all of them (rows stay aligned).
            texts = near_threshold(fp32, ref.texts, probs, SENSITIVITY_TEXTS) if fields is None else ref.texts
            sensitivity = group_sensitivity(fp32, groups, texts, fields)
            order = sorted(groups, key=sensitivity.__getitem__, reverse=True)
            logger.info("int8 sensitivity by layer group (mean |log-probability change|, most first): " + ", ".join(
                f"{g} {sensitivity[g]:.4f}" for g in order))
        kept = (order or [])[:keep]
        low = to_int8(fp32, [n for g, names in groups.items() if g not in kept for n in names])
        report = quality_gate(fp32, low, ref, precision="int8", fp32_probs=probs)
        logger.info(f"int8 with {keep} of {len(groups)} layer groups kept in fp32 {kept}: {report.summary()}")
        if best is None or report.agreement > best[1].agreement:
            best = (low, report, kept)
        if report.passed:
            return low, report, kept
    assert best is not None
    return best


def apply_precision(predictor: Predictor, precision: str, *, force: bool = False,
                    texts_file: str | Path | None = None) -> Predictor:
    """``predictor`` in ``precision`` (``auto`` resolved for its device), gated against itself in fp32.

    The returned predictor's ``precision`` says what it runs in and ``precision_record`` what was measured (the
    gate's report, for int8 the groups kept in fp32). fp32 returns ``predictor`` itself.

    Raises:
        FinriskError: the precision failing the gate without ``force``, int8 off the CPU, bf16 with onnx.
    """
    picked = resolve_precision(precision, predictor.device, backend=predictor.backend)
    record: dict[str, Any] = {"requested": precision, "precision": picked}
    if picked == "fp32":
        predictor.precision, predictor.precision_record = "fp32", record
        return predictor
    if predictor.backend == "onnx":
        raise FinriskError(f"--precision {picked} with --backend onnx: onnxruntime runs fp32 or its int8 graph "
                           "(--precision int8 through Predictor.load); use --backend torch for bf16")
    kept: list[str] = []
    if picked == "bf16":
        low = to_bf16(predictor)
        ref = reference_texts(predictor.model_dir, predictor.metadata, predictor.task.name, texts_file)
        report = quality_gate(predictor, low, ref, precision="bf16")
    else:
        low, report, kept = selective_int8(predictor, texts_file)
        record["int8_layer_groups_kept_fp32"] = kept
    enforce_gate([report], force)
    record["gate"] = _gate_record(report, force)
    low.precision_record = record
    return low


def gate_onnx_int8(int8: Predictor, fp32: Predictor, *, force: bool = False,
                   texts_file: str | Path | None = None) -> Predictor:
    """An onnxruntime int8 graph, gated against the fp32 graph of the same export (``--backend onnx --precision
    int8``); returns ``int8`` with its ``precision_record``.

    Raises:
        FinriskError: the int8 graph failing the gate without ``force``.
    """
    report = gate_predictor(fp32, int8, precision="int8", force=force, texts_file=texts_file)
    int8.precision = "int8"
    int8.precision_record = {"requested": "int8", "precision": "int8", "gate": _gate_record(report, force)}
    return int8


def _gate_record(report: GateReport, force: bool) -> dict[str, Any]:
    return {**asdict(report), "passed": report.passed, "forced": force and not report.passed,
            "min_agreement": MIN_AGREEMENT, "max_f1_drop": MAX_F1_DROP}


def replay_precision(predictor: Predictor, record: dict[str, Any]) -> Predictor:
    """``predictor`` (fp32, merged) in the precision ``record`` says another load of the same model passed the gate
    with (its ``precision_record``), without measuring again: what each Ray scoring actor does."""
    picked = record.get("precision", "fp32")
    if picked == "bf16":
        return to_bf16(predictor)
    if picked == "int8":
        kept = set(record.get("int8_layer_groups_kept_fp32", []))
        names = [n for g, group in linear_groups(predictor.model).items() if g not in kept for n in group]
        return to_int8(predictor, names)
    return predictor
