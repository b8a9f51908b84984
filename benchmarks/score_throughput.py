"""Documents per second: ``finrisk score`` vs ``transformers.pipeline("text-classification")`` on one model.

    python benchmarks/score_throughput.py --quick                 # ~300 documents, a couple of minutes on CPU
    python benchmarks/score_throughput.py --num-docs 5000 --batch-size 64

The model is the embedded MiniLM with a new classification head, LoRA-wrapped and saved merged (a plain
transformers model the pipeline can load). Its weights are untrained: throughput does not depend on them.
Documents are the shipped demo texts when present, else synthetic loan narratives of varied length
(5 to 600 words). finrisk reads them from ``.txt`` files and writes a Parquet table; the pipeline gets them as
an in-memory list. Both timings include loading the model. The three methods run in turn ``--repeats`` times and
the fastest run of each counts (the least disturbed by other work on the machine). Prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import torch

from finrisk_nlp.config import EMBEDDED_MODEL, LoraSettings, ModelConfig
from finrisk_nlp.modeling import ModelMetadata, build_model, save_model
from finrisk_nlp.scoring import ScoreOptions, score_documents
from finrisk_nlp.tasks import get_task

DEMO = Path(__file__).resolve().parent.parent / "finrisk_nlp" / "demo_data" / "credit_text.jsonl"
WORDS = ("applicant borrower loan payment missed late salary employer savings debt income mortgage rent card "
         "balance account overdraft arrears collections bankruptcy business revenue invoice repayment schedule "
         "restructured guarantor collateral vehicle property months years steady stable lost job medical bills "
         "the a and of to for with has had was is on after since before").split()


def make_texts(n: int, seed: int = 0) -> list[str]:
    if DEMO.is_file():
        rows = [json.loads(line)["text"] for line in DEMO.read_text().splitlines() if line.strip()]
        return [rows[i % len(rows)] for i in range(n)]
    rng = random.Random(seed)
    texts = []
    for _ in range(n):
        words = int(min(600, max(5, rng.lognormvariate(4.0, 0.9))))  # median ~55 words, long tail
        texts.append(" ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + ".")
    return texts


def make_model(base: str, max_length: int, out: Path) -> Path:
    task = get_task("credit_text")
    model, tokenizer = build_model(ModelConfig(name_or_path=base, max_length=max_length), LoraSettings(), task)
    meta = ModelMetadata(task=asdict(task), base_model=base, max_length=max_length, lora=True)
    return save_model(model, tokenizer, meta, out, merged=True)


def time_finrisk(model_dir: Path, docs_dir: Path, out: Path, batch_size: int) -> float:
    started = time.perf_counter()
    summary = score_documents(str(model_dir), ScoreOptions(inputs=[str(docs_dir)], out=str(out),
                                                           batch_size=batch_size, cpu=True))
    assert summary.complete and summary.failed == 0
    return time.perf_counter() - started


def time_pipeline(model_dir: Path, texts: list[str], batch_size: int | None, max_length: int) -> float:
    from transformers import pipeline

    started = time.perf_counter()
    pipe = pipeline("text-classification", model=str(model_dir), device=-1, top_k=None)
    kwargs = {"batch_size": batch_size} if batch_size else {}
    results = pipe(texts, truncation=True, max_length=max_length, **kwargs)
    assert len(results) == len(texts)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-docs", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--base-model", default=EMBEDDED_MODEL, help="encoder to build the classifier from")
    parser.add_argument("--repeats", type=int, default=3, help="runs per method; the fastest counts")
    parser.add_argument("--quick", action="store_true", help="300 documents, 2 repeats")
    parser.add_argument("--work-dir", help="where the model, documents and scores go (default: a temp dir)")
    args = parser.parse_args(argv)
    n = 300 if args.quick else args.num_docs
    repeats = 2 if args.quick else args.repeats
    from finrisk_nlp.recipe import setup_logging

    setup_logging()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.work_dir or tmp)
        model_dir = make_model(args.base_model, args.max_length, work / "model")
        texts = make_texts(n)
        docs = work / "docs"
        docs.mkdir(parents=True, exist_ok=True)
        for i, text in enumerate(texts):
            (docs / f"doc{i:06d}.txt").write_text(text)
        runs: dict[str, list[float]] = {"finrisk": [], "default": [], "batched": []}
        for rep in range(repeats):  # interleaved, so a busy spell on the machine hits every method alike
            runs["finrisk"].append(time_finrisk(model_dir, docs, work / f"scores{rep}.parquet", args.batch_size))
            runs["default"].append(time_pipeline(model_dir, texts, None, args.max_length))
            runs["batched"].append(time_pipeline(model_dir, texts, args.batch_size, args.max_length))
        results = [("finrisk score (sorted, dynamic padding, reader thread)", args.batch_size, min(runs["finrisk"])),
                   ("pipeline, default batch_size", 1, min(runs["default"])),
                   ("pipeline, same batch_size", args.batch_size, min(runs["batched"]))]
    finrisk_rate = n / results[0][2]
    words = sorted(len(t.split()) for t in texts)
    print(f"\n{n} documents ({words[len(words) // 2]} words median, {words[-1]} max), max_length {args.max_length}, "
          f"model {args.base_model}; {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"torch {torch.__version__} ({torch.get_num_threads()} threads); fastest of {repeats} runs each\n")
    print("| method | batch size | seconds | documents/s | finrisk speed-up |")
    print("|---|---:|---:|---:|---:|")
    for name, batch, seconds in results:
        print(f"| {name} | {batch} | {seconds:.1f} | {n / seconds:.1f} | {finrisk_rate / (n / seconds):.2f}x |")


if __name__ == "__main__":
    main()
