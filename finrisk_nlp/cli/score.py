"""The ``finrisk score`` command and ``recipes/batch_score.py``: arguments, summary, exit codes.

    finrisk score runs/credit_text docs/ mail.zip 'letters/**/*.pdf' --out scores.parquet
    finrisk score runs/credit_text docs/ --out scores.parquet --engine ray [--ray-address ray://head:10001]
    accelerate launch recipes/batch_score.py runs/credit_text docs/ --out scores.parquet

Exit codes: 0 all documents done (those that could not be read are listed in the errors file), 2 bad input or
``--out`` in use by another run (no traceback), 3 a process stopped before the end (rerun to finish).
Kept apart from :mod:`finrisk_nlp.scoring.engine` so that building the CLI parser imports no torch.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from finrisk_nlp.errors import FinriskError
from finrisk_nlp.scoring.documents import ReadLimits
from finrisk_nlp.scoring.parts import FORMATS

logger = logging.getLogger("finrisk_nlp")


def add_precision_arguments(parser: argparse.ArgumentParser) -> None:
    """``--precision``, ``--quantize`` (its older spelling), ``--texts`` and ``--force``: shared with serve."""
    parser.add_argument("--precision", choices=["auto", "fp32", "bf16", "int8"],
                        help="fp32 (default); bf16 (twice as fast on CPUs with AVX512_BF16/AMX); int8 (CPU, dynamic "
                             "quantisation of the layers that keep decisions); auto: bf16 where the CPU computes it "
                             "natively, else fp32. bf16 and int8 are refused when decisions agree with fp32 on less "
                             "than 99.5%% of the model's validation texts or macro-F1 drops by more than 0.5 "
                             "point, unless --force")
    parser.add_argument("--quantize", choices=["int8"], help="the same as --precision int8")
    parser.add_argument("--texts", help="reference texts of the precision's quality gate instead of the model's "
                                        "validation texts: .txt (one per line) or a table with the text column")
    parser.add_argument("--force", action="store_true", help="go on in bf16/int8 even if the quality gate fails")


def add_score_arguments(parser: argparse.ArgumentParser) -> None:
    limits = ReadLimits()
    parser.add_argument("model", help="run directory or model directory (recorded as given)")
    parser.add_argument("inputs", nargs="+", help="directories, globs, .zip/.tar/.tar.gz archives, CSV/JSONL/Parquet")
    parser.add_argument("--out", required=True, help="output file: .parquet (default), .csv or .jsonl")
    parser.add_argument("--format", choices=sorted(set(FORMATS.values())), help="output format (default: --out suffix)")
    parser.add_argument("--task", help="the task to score with a multi-task model (required for those)")
    parser.add_argument("--text-column", help="text column of table inputs (default: the model task's)")
    parser.add_argument("--id-column", help="a column of table inputs that identifies each row (e.g. an application "
                                            "id), copied as text into its output row and its errors row; every "
                                            "table input must have it (documents read from files leave it empty)")
    parser.add_argument("--batch-size", type=int, default=64, help="documents per forward pass (default: 64)")
    parser.add_argument("--part-size", type=int,
                        help="documents per part file; a kill loses at most this many (default: the batch size)")
    parser.add_argument("--max-doc-bytes", type=int, default=limits.max_doc_bytes,
                        help="largest document read, in bytes; also the most characters taken from one .pdf or "
                             ".docx (default: 20 MiB)")
    parser.add_argument("--max-archive-bytes", type=int, default=limits.max_archive_bytes,
                        help="total uncompressed size allowed per archive")
    parser.add_argument("--max-archive-members", type=int, default=limits.max_archive_members)
    parser.add_argument("--cpu", action="store_true", help="score on CPU even if a GPU is present")
    add_precision_arguments(parser)
    parser.add_argument("--backend", choices=["torch", "onnx"], default="torch",
                        help="torch (default) or onnx: onnxruntime on CPU, from an export of `finrisk export "
                             "--format onnx` or any model (exported on load); needs the onnx extra")
    parser.add_argument("--engine", choices=["local", "ray"], default="local",
                        help="local: this machine's processes (accelerate launch for several); ray: Ray Data "
                             "readers and model actors on a local Ray or a cluster (needs finrisk_nlp[ray])")
    parser.add_argument("--ray-address", help="--engine ray: the cluster to use (default: RAY_ADDRESS, else a Ray "
                                              "started on this machine)")
    parser.add_argument("--ray-readers", type=int,
                        help="--engine ray: read tasks, each reading one shard of the inputs (default: a quarter "
                             "of the cluster's CPUs)")
    parser.add_argument("--ray-actors", type=int,
                        help="--engine ray: model replicas, one CPU or GPU each (default: one per GPU, else one "
                             "per CPU not reading)")


def options_from_args(args: argparse.Namespace):  # -> scoring.ScoreOptions
    from finrisk_nlp.scoring.engine import ScoreOptions, ScoringError

    for name in ("batch_size", "part_size", "max_doc_bytes", "max_archive_bytes", "max_archive_members",
                 "ray_readers", "ray_actors"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise ScoringError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    return ScoreOptions(
        inputs=list(args.inputs), out=args.out, fmt=args.format, text_column=args.text_column,
        id_column=args.id_column,
        task=args.task, batch_size=args.batch_size, part_size=args.part_size, cpu=args.cpu, quantize=args.quantize,
        precision=args.precision, texts_file=args.texts, backend=args.backend, force=args.force,
        limits=ReadLimits(args.max_doc_bytes, args.max_archive_bytes, args.max_archive_members),
    )


def run_score_command(args: argparse.Namespace) -> int:
    """Score, then print the summary on the main process; exit code 0 done, 3 stopped early (rerun to finish)."""
    options = options_from_args(args)
    ray_flags = [f"--{n.replace('_', '-')}" for n in ("ray_address", "ray_readers", "ray_actors")
                 if getattr(args, n, None) is not None]
    if ray_flags and getattr(args, "engine", "local") != "ray":
        raise FinriskError(f"{', '.join(ray_flags)} only apply to --engine ray, but the engine is local; add "
                           "--engine ray or leave them out")
    if getattr(args, "engine", "local") == "ray":
        from finrisk_nlp.scoring.ray_engine import RayOptions, score_documents_ray

        summary = score_documents_ray(args.model, options, RayOptions(args.ray_address, args.ray_readers,
                                                                      args.ray_actors))
    else:
        from finrisk_nlp.scoring.engine import score_documents

        summary = score_documents(args.model, options)
    if int(os.environ.get("RANK", "0")) == 0:
        sys.stdout.write(
            f"scored {summary.scored}, skipped (already done) {summary.skipped}, failed {summary.failed} "
            f"on {summary.num_processes} process(es)\n")
        if summary.complete:
            sys.stdout.write(f"wrote {summary.rows} rows to {summary.output}; {summary.error_rows} errors "
                             f"in {summary.errors_file}\n")
        else:
            sys.stdout.write("stopped before the end: run the same command again to score the rest\n")
    return 0 if summary.complete else 3


def add_score_command(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("score", help="score document archives into one table (resumable)")
    add_score_arguments(parser)
    parser.set_defaults(func=run_score_command)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``accelerate launch recipes/batch_score.py``: the same arguments as ``finrisk score``."""
    from finrisk_nlp.cli.recipe import exit_code, setup_logging

    parser = argparse.ArgumentParser(prog="batch_score.py", description="Score document archives (resumable).")
    add_score_arguments(parser)
    args = parser.parse_args(argv)
    setup_logging()
    return exit_code(lambda: run_score_command(args))
