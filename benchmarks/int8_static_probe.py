"""Static (calibrated) int8 against the dynamic int8 finrisk uses: is onnxruntime's ``quantize_static`` faster or
closer to fp32 on finrisk's encoder?

    python benchmarks/int8_static_probe.py --num-docs 600 --out benchmarks/results/int8_static_probe.md

The model, archive and gate texts are those of ``benchmarks/score_throughput.py`` (the embedded MiniLM with a
document head fitted on 400 credit narratives; a mixed archive of memos, narratives and AML notes; 100 labelled
narratives the head was not fitted on). The fp32 graph is the export's (``finrisk export --format onnx``); dynamic
int8 is the graph ``--precision int8 --backend onnx`` quantises (every MatMul, weights int8, activations quantised
per batch). The static graphs are onnxruntime's ``quantize_static`` of the unfused graph (after
``quant_pre_process``), every MatMul, calibrated on 100 further credit narratives (what a model's saved validation
texts would be): QDQ with signed 8-bit activations and per-channel weights (onnxruntime's recommended x86 setting),
the same with percentile (99.99) calibration, QOperator with unsigned activations, and QDQ with unsigned per-tensor
activations. Each row times ``Predictor.predict_documents`` over the archive (after a warm-up call; best of
``--repeats``) and compares its decisions with fp32's on the archive and on the gate texts.
"""

from __future__ import annotations

import argparse
import copy
import tempfile
import time
from pathlib import Path

import numpy as np
from bench_utils import emit, fmt, load_average, machine_description, markdown_table
from score_throughput import DEMO, FIT_DOCS, make_model, make_texts, read_rows

from finrisk_nlp.config import EMBEDDED_MODEL
from finrisk_nlp.export.exporter import export_model
from finrisk_nlp.inference.merging import merged_for_inference
from finrisk_nlp.inference.onnx_graph import export_encoder, quantize_graph
from finrisk_nlp.inference.onnx_model import HEADS_FILE, OnnxDocumentModel
from finrisk_nlp.inference.predictor import Predictor
from finrisk_nlp.modeling.saving import load_model
from finrisk_nlp.precision import cpu_support

CALIBRATION_TEXTS = 100
GATE_TEXTS = 100


def calibration_reader(predictor: Predictor, texts: list[str], max_length: int, batch: int = 10):
    """onnxruntime's calibration input: the graph's inputs for ``texts`` in padded batches."""
    from onnxruntime.quantization import CalibrationDataReader

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            feeds = []
            for i in range(0, len(texts), batch):
                enc = predictor.tokenizer(texts[i:i + batch], padding=True, truncation=True, max_length=max_length,
                                          return_tensors="np")
                feeds.append({name: enc[name].astype(np.int64) for name in predictor.model.input_names})
            self.feeds = iter(feeds)

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.feeds, None)

    return Reader()


def static_graphs(plain: Path, work: Path, predictor: Predictor, texts: list[str], max_length: int
                  ) -> dict[str, Path]:
    """The static int8 variants of the unfused graph ``plain``, by row name."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    pre = work / "plain.pre.onnx"
    # The symbolic shape pass cannot resolve the dynamic window/token axes of this graph; ONNX shape inference can.
    quant_pre_process(str(plain), str(pre), skip_symbolic_shape=True)
    variants = {
        "static QDQ, s8 activations, per-channel, min-max": (QuantFormat.QDQ, QuantType.QInt8, True, "minmax"),
        "static QDQ, s8 activations, per-channel, percentile 99.99": (QuantFormat.QDQ, QuantType.QInt8, True,
                                                                     "percentile"),
        "static QOperator, u8 activations, per-channel, min-max": (QuantFormat.QOperator, QuantType.QUInt8, True,
                                                                   "minmax"),
        "static QDQ, u8 activations, per-tensor, min-max": (QuantFormat.QDQ, QuantType.QUInt8, False, "minmax"),
    }
    methods = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile}
    graphs = {}
    for i, (name, (quant_format, activations, per_channel, method)) in enumerate(variants.items()):
        out = work / f"static{i}.onnx"
        extra = {"ActivationSymmetric": False, "WeightSymmetric": True}
        if method == "percentile":
            extra["CalibPercentile"] = 99.99
        quantize_static(str(pre), str(out), calibration_reader(predictor, texts, max_length),
                        quant_format=quant_format, per_channel=per_channel, activation_type=activations,
                        weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"],
                        calibrate_method=methods[method], extra_options=extra)
        graphs[name] = out
    return graphs


def with_graph(fp32: Predictor, graph: Path, heads: Path) -> Predictor:
    """``fp32`` with its encoder session replaced by ``graph`` (same tokenizer, heads and threshold)."""
    predictor = copy.copy(fp32)
    predictor.model = OnnxDocumentModel(graph, heads, fp32.model.pooling)
    return predictor


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-docs", type=int, default=600)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--base-model", default=EMBEDDED_MODEL, help="encoder to build the classifier from")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs per row; the fastest counts")
    parser.add_argument("--out", help="also write the table to this file")
    args = parser.parse_args(argv)
    texts, fit_texts, labels = make_texts(args.num_docs, None, "mixed")
    credit = read_rows(DEMO)
    gate = [r["text"] for r in credit[FIT_DOCS:FIT_DOCS + GATE_TEXTS]]
    calibration = [r["text"] for r in credit[FIT_DOCS + GATE_TEXTS:FIT_DOCS + GATE_TEXTS + CALIBRATION_TEXTS]]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model_dir = make_model(args.base_model, args.max_length, work / "model", fit_texts, labels)
        export_model(str(model_dir), work / "onnx", fmt="onnx")
        fp32 = Predictor.open(work / "onnx", backend="onnx", quantize="none")
        model, tokenizer, meta = load_model(model_dir, device="cpu")
        plain = work / "plain.onnx"
        export_encoder(merged_for_inference(model, meta, None)[0], tokenizer, plain, texts[:8])
        quantize_graph(work / "onnx" / "encoder.onnx", work / "dynamic.onnx")
        graphs = {"dynamic (finrisk's int8: every MatMul)": work / "dynamic.onnx",
                  **static_graphs(plain, work, fp32, calibration, args.max_length)}
        predictors = {"onnx fp32": fp32} | {name: with_graph(fp32, g, work / "onnx" / HEADS_FILE)
                                             for name, g in graphs.items()}
        seconds = {name: [] for name in predictors}
        probs, gate_probs = {}, {}
        for predictor in predictors.values():  # session start-up and thread pools are not scoring speed
            predictor.predict_documents(texts[:16], batch_size=64)
        for _ in range(args.repeats):  # interleaved, so a busy spell hits every row alike
            for name, predictor in predictors.items():
                started = time.perf_counter()
                probs[name] = predictor.predict_documents(texts, batch_size=64)[0]
                seconds[name].append(time.perf_counter() - started)
        for name, predictor in predictors.items():
            gate_probs[name] = predictor.predict_documents(gate, batch_size=64)[0]
    base = "onnx fp32"
    for name in predictors:
        rate = args.num_docs / min(seconds[name])
        # the decision rule `finrisk score` writes (the stored operating threshold, else the most probable label)
        same = [np.mean(np.asarray(fp32.decide(p[name])) == np.asarray(fp32.decide(p[base])))
                for p in (probs, gate_probs)]
        rows.append([name, f"{rate:.1f}", f"{min(seconds[base]) / min(seconds[name]):.2f}x",
                     f"{same[0]:.1%}", f"{same[1]:.1%}",
                     fmt(float(np.abs(probs[name] - probs[base]).max()))])
    header = (f"Static vs dynamic int8 (onnxruntime), {args.num_docs} mixed-archive documents, max_length "
              f"{args.max_length}.\nMachine: {machine_description()}; {cpu_support().describe()}; load average "
              f"{load_average()}.\n\n")
    table = markdown_table(["graph", "documents/s", "vs fp32", "archive decisions = fp32",
                            "gate-text decisions = fp32", "max abs prob diff"], rows)
    emit(header + table + "\nThe quality gate asks for >= 99.5% agreement on the gate texts.", args.out)


if __name__ == "__main__":
    main()
