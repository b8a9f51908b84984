"""GPU training check: samples/s at 128 tokens and peak GPU memory per launch mode, one table.

    bash benchmarks/gpu_check.sh                          # every mode this machine supports, ~5 min on one GPU
    python benchmarks/gpu_check.py prepare --out DIR      # a BERT-base-size random encoder and synthetic data
    accelerate launch ... benchmarks/gpu_check.py worker --out DIR --model DIR/bert-base --mode fsdp2
    python benchmarks/gpu_check.py table --out DIR        # the table of every result written so far

The worker runs the real training loop (``finrisk_nlp.training.engine.train``, LoRA, the credit_text recipe) for
``--steps`` optimizer steps on documents of exactly one 128-token window. Throughput counts the documents of
steps 2..N of all processes over the time between the end of step 1 and the end of step N (model loading,
compilation warm-up, evaluation and saving are not counted). Peak memory is ``torch.cuda.max_memory_allocated`` of
the main process over the loop.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

import torch
from bench_utils import markdown_table, recipe_config

WORDS = ("payment account salary loan missed default balance employer transfer card savings debt branch online "
         "mortgage invoice overdue review customer income").split()
RESULTS = "results.jsonl"


def prepare(out: Path) -> None:
    """``OUT/bert-base``: a random encoder of BERT-base size (110M parameters) with MiniLM's (BERT's) tokenizer;
    ``OUT/{train,eval}.jsonl``: texts long enough to fill a 128-token window."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    from finrisk_nlp.config import EMBEDDED_MODEL
    from finrisk_nlp.modeling.build import resolve_model_path

    out.mkdir(parents=True, exist_ok=True)
    base = out / "bert-base"
    if not (base / "config.json").is_file():
        tokenizer = AutoTokenizer.from_pretrained(resolve_model_path(EMBEDDED_MODEL))
        torch.manual_seed(0)
        BertModel(BertConfig(vocab_size=len(tokenizer)), add_pooling_layer=False).save_pretrained(base)
        tokenizer.save_pretrained(base)
    rng = random.Random(0)
    for name, rows in (("train", 8192), ("eval", 64)):
        lines = []
        for i in range(rows):
            outcome = "default" if i % 3 == 0 else "repaid"
            lines.append(json.dumps({"text": " ".join(rng.choices(WORDS, k=200)), "outcome": outcome}) + "\n")
        (out / f"{name}.jsonl").write_text("".join(lines))


def worker(args: argparse.Namespace) -> None:
    """One training run under ``accelerate launch``; the main process appends its result to ``OUT/results.jsonl``."""
    from finrisk_nlp.training.engine import train

    out = Path(args.out)
    cfg = recipe_config("credit_text", [
        f"model.name_or_path={args.model}", "model.max_length=128", "model.max_chunks=1",
        f"data.train_file={out / 'train.jsonl'}", f"data.validation_file={out / 'eval.jsonl'}",
        f"data.test_file={out / 'eval.jsonl'}", "data.min_examples_per_class=1", "data.dedup=warn",
        "data.redact_pii=false", f"output_dir={out / 'runs' / f'{Path(args.model).name}-{args.mode}'}",
        "train.epochs=1", f"train.max_steps={args.steps}", f"train.batch_size={args.batch_size}",
        f"train.eval_batch_size={args.batch_size}", f"train.log_every={args.steps}", "train.checkpoint_every=null",
        "train.early_stopping_patience=null", "train.group_by_length=false", "log_with=[]",
        *args.overrides,
    ])
    marks: dict[int, float] = {}
    cuda = torch.cuda.is_available()  # False only in the CPU smoke test of this script

    def probe(state: Any) -> None:
        if state.global_step in (1, args.steps):
            if cuda:
                torch.cuda.synchronize()  # only on these two steps: the clock must include the queued GPU work
                if state.global_step == 1:
                    torch.cuda.reset_peak_memory_stats()
            marks[state.global_step] = time.perf_counter()

    train(cfg, callbacks=[probe])
    if not torch.distributed.is_initialized() or torch.distributed.get_rank() == 0:
        world = torch.distributed.get_world_size() if torch.distributed.is_initialized() else 1
        info = json.loads((Path(cfg.output_dir) / "run_info.json").read_text())
        seconds = marks[args.steps] - marks[1]
        documents = (args.steps - 1) * args.batch_size * cfg.train.grad_accum_steps * world
        peak = torch.cuda.max_memory_allocated() / 2**30 if cuda else 0.0
        result = {"model": Path(args.model).name, "mode": args.mode, "gpus": world,
                  "precision": info["mixed_precision"], "distributed": info["distributed_type"],
                  "samples_per_s": documents / seconds, "peak_gib": peak}
        with (out / RESULTS).open("a") as f:
            f.write(json.dumps(result) + "\n")


def table(out: Path) -> str:
    """The results written so far plus the skipped modes (``OUT/skipped.jsonl``) as one markdown table."""
    rows = []
    for name in (RESULTS, "skipped.jsonl"):
        path = out / name
        for line in path.read_text().splitlines() if path.is_file() else []:
            r = json.loads(line)
            if "reason" in r:
                rows.append([r["model"], r["mode"], "-", "-", "-", f"skipped: {r['reason']}", "-"])
            else:
                rows.append([r["model"], r["mode"], str(r["gpus"]), r["precision"], r["distributed"].split(".")[-1],
                             f"{r['samples_per_s']:.0f}", f"{r['peak_gib']:.2f}"])
    headers = ["model", "mode", "GPUs", "precision", "accelerate", "samples/s (128 tok)", "peak GiB (rank 0)"]
    return markdown_table(headers, rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("prepare", "table"):
        sub.add_parser(name).add_argument("--out", type=Path, required=True)
    skip = sub.add_parser("skip")
    skip.add_argument("--out", type=Path, required=True)
    skip.add_argument("--model", required=True)
    skip.add_argument("--mode", required=True)
    skip.add_argument("--reason", required=True)
    run = sub.add_parser("worker")
    run.add_argument("--out", required=True)
    run.add_argument("--model", required=True)
    run.add_argument("--mode", required=True)
    run.add_argument("--steps", type=int, default=20)
    run.add_argument("--batch-size", type=int, default=32)
    run.add_argument("overrides", nargs="*", help="extra recipe overrides, e.g. train.mixed_precision=fp16")
    args = parser.parse_args(argv)
    if args.command == "prepare":
        prepare(args.out)
    elif args.command == "table":
        print(table(args.out))
    elif args.command == "skip":
        args.out.mkdir(parents=True, exist_ok=True)
        with (args.out / "skipped.jsonl").open("a") as f:
            f.write(json.dumps({"model": Path(args.model).name, "mode": args.mode, "reason": args.reason}) + "\n")
    else:
        worker(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
