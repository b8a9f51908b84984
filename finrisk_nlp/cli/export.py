"""The ``finrisk export`` command: a trained model as a merged PyTorch model, an ONNX graph or a Hub-format folder
for plain transformers, parity-checked.

    finrisk export runs/credit_text --format merged --out exports/credit_merged
    finrisk export runs/credit_text --format onnx --quantize int8 --out exports/credit_onnx
    finrisk export runs/credit_text --format hf --out exports/credit_hf     # AutoModel... trust_remote_code=True
    finrisk export runs/multitask --format onnx --task aml_alert --texts alerts.csv --out exports/aml_onnx

Exit codes: 0 exported, 2 bad input, failed parity or a failed int8 quality gate (nothing written).
Kept apart from :mod:`finrisk_nlp.export.exporter` so that building the CLI parser imports no torch.
"""

from __future__ import annotations

import argparse
import json
import sys


def _run_export(args: argparse.Namespace) -> int:
    from finrisk_nlp.export.exporter import export_model

    manifest = export_model(args.model, args.out, fmt=args.format, quantize=args.quantize, task=args.task,
                            texts_file=args.texts, force=args.force)
    entries = manifest["tasks"].values() if isinstance(manifest.get("tasks"), dict) else [manifest]
    for entry in entries:
        parity = entry["parity"]
        sys.stdout.write(f"{', '.join(entry['tasks'])}: max |logit diff| {parity['max_abs_logit_diff']:.2e} "
                         f"(<= {parity['tolerance']:g}) on {parity['num_texts']} texts\n")
        for report in (entry.get("int8_gate") or {}).get("tasks", []):
            shown = {k: report[k] for k in ("agreement", "macro_f1_fp32", "macro_f1_reduced")}
            sys.stdout.write(f"  int8 gate {'passed' if report['passed'] else 'FAILED (forced)'}: "
                             f"{json.dumps(shown)}\n")
    sys.stdout.write(f"wrote {args.out}\n")
    return 0


def add_export_command(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("export", help="export a model (LoRA merged, or ONNX for onnxruntime)")
    parser.add_argument("model", help="run or model directory, registry:NAME[@STAGE|@VERSION], or hub:ORG/NAME")
    parser.add_argument("--format", choices=["merged", "onnx", "hf"], required=True,
                        help="merged: PyTorch with LoRA merged into the encoder; onnx: window encoder as ONNX; hf: a "
                             "folder plain transformers loads (trust_remote_code=True), ready for the Hub")
    parser.add_argument("--quantize", choices=["int8"],
                        help="onnx only: also write a dynamically int8-quantised graph (checked by the quality gate)")
    parser.add_argument("--task", help="export one task of a multi-task model (default: all)")
    parser.add_argument("--texts", help="texts for the parity check and the int8 gate: .txt (one per line) or a "
                                        "table with the task's text (and label) column; default: the run's "
                                        "validation split, else built-in texts")
    parser.add_argument("--force", action="store_true", help="keep an int8 graph that fails the quality gate")
    parser.add_argument("--out", required=True, help="output directory (replaced)")
    parser.set_defaults(func=_run_export)
