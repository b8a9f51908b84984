"""Overhead of ``finrisk score --engine ray`` against the local scorer, on one machine.

    python benchmarks/score_ray.py --quick                      # 64 short documents, tiny batches: about a minute
    python benchmarks/score_ray.py --num-docs 2000 --num-cpus 8 --out benchmarks/results/score_ray.md

Both engines score the same ``.txt`` files with the same untrained model (the embedded MiniLM with a fresh head,
or ``--base-model``; throughput does not depend on the weights) into Parquet. The Ray engine starts a local Ray
with ``--num-cpus`` CPUs (or joins ``--ray-address``); its start-up is timed apart from the scoring, since a
cluster that is already running does not pay it. Prints a markdown table (seconds, documents per second) and
checks that both engines wrote the same rows (largest probability difference).
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from finrisk_nlp.config import EMBEDDED_MODEL, LoraSettings, ModelConfig
from finrisk_nlp.modeling import ModelMetadata, TaskMetadata, build_model, save_model
from finrisk_nlp.scoring.engine import ScoreOptions, score_documents
from finrisk_nlp.scoring.ray_engine import RayOptions, require_ray, score_documents_ray
from finrisk_nlp.tasks import get_task

WORDS = ["applicant", "missed", "payments", "salary", "steady", "loan", "debt", "job", "lost", "savings", "bank",
         "rent", "card", "late", "income", "verified", "medical", "bills", "family", "business"]


def write_docs(directory: Path, n: int, seed: int = 0) -> Path:
    """``n`` synthetic loan narratives of 5 to 300 words as ``.txt`` files."""
    rng = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        words = rng.choices(WORDS, k=rng.randint(5, 300))
        (directory / f"doc{i:06d}.txt").write_text(" ".join(words) + ".")
    return directory


def make_model(base: str, max_length: int, out: Path) -> Path:
    task = get_task("credit_text")
    model, tokenizer = build_model(ModelConfig(name_or_path=base, max_length=max_length), LoraSettings(),
                                   {task.name: task})
    meta = ModelMetadata(tasks={task.name: TaskMetadata(task)}, base_model=base, max_length=max_length, lora=True)
    return save_model(model.eval(), tokenizer, meta, out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="64 documents, max length 64")
    parser.add_argument("--num-docs", type=int, default=600)
    parser.add_argument("--base-model", default=EMBEDDED_MODEL)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--num-cpus", type=int, default=2, help="CPUs of the local Ray (readers + actors)")
    parser.add_argument("--ray-address", help="join this Ray instead of starting one")
    parser.add_argument("--work-dir", type=Path, help="where documents, model and outputs go (default: a temp dir)")
    parser.add_argument("--out", type=Path, help="also write the table to this markdown file")
    args = parser.parse_args(argv)
    if args.quick:
        args.num_docs, args.max_length = 64, 64
    ray = require_ray()
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work_dir or Path(tmp)
        docs = write_docs(work / "docs", args.num_docs)
        model = make_model(args.base_model, args.max_length, work / "model")
        base = {"inputs": [str(docs)], "batch_size": args.batch_size, "cpu": True}

        start = time.perf_counter()
        score_documents(str(model), ScoreOptions(out=str(work / "local.parquet"), **base))
        local_s = time.perf_counter() - start

        start = time.perf_counter()
        if args.ray_address:
            ray.init(address=args.ray_address, log_to_driver=False)
        else:
            ray.init(num_cpus=args.num_cpus, include_dashboard=False, log_to_driver=False)
        startup_s = time.perf_counter() - start
        start = time.perf_counter()
        score_documents_ray(str(model), ScoreOptions(out=str(work / "ray.parquet"), **base), RayOptions())
        ray_s = time.perf_counter() - start
        ray.shutdown()

        a, b = pq.read_table(work / "local.parquet"), pq.read_table(work / "ray.parquet")
        same_ids = a.column("doc_id").to_pylist() == b.column("doc_id").to_pylist()
        diff = float(np.abs(a.column("p_default").to_numpy() - b.column("p_default").to_numpy()).max())
    n = args.num_docs
    lines = [
        f"{n} documents, max length {args.max_length}, batch size {args.batch_size}, Ray with "
        f"{args.ray_address or f'{args.num_cpus} local CPUs'}",
        "",
        "| engine | seconds | docs/s |",
        "|---|---:|---:|",
        f"| local (1 process) | {local_s:.1f} | {n / local_s:.1f} |",
        f"| ray: start-up | {startup_s:.1f} | |",
        f"| ray: scoring | {ray_s:.1f} | {n / ray_s:.1f} |",
        "",
        f"same ids in the same order: {same_ids}; largest p_default difference: {diff:.2e}",
    ]
    print("\n".join(lines))
    if args.out:
        args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
