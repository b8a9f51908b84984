"""Training throughput: the finrisk loop vs ``transformers.Trainer`` on the same LoRA model, data and batch size.

    python benchmarks/train_throughput.py --out benchmarks/results/train_throughput.md   # MiniLM, 30 steps x 16
    python benchmarks/train_throughput.py --quick                                         # ~1 minute smoke run
    python benchmarks/train_throughput.py --steps 30 --batch-size 16 --max-length 128 --repeats 2 \\
        --methods finrisk,trainer,trainer-grouped,trainer-padded --data-dir finrisk_nlp/data/demo

Every method trains the model built by ``finrisk_nlp.modeling.loading.build_model`` (LoRA r=8 on query/value of the
task's recipe config) for exactly ``--steps`` optimizer steps over the same ``steps x batch_size`` rows, i.e.
one epoch, with the same learning rate, schedule, clipping and seed. Methods:

* ``finrisk``          ``finrisk_nlp.training.engine.train`` (length-grouped batches, dynamic padding)
* ``trainer``          ``Trainer`` + ``DataCollatorWithPadding`` (random order, dynamic padding)
* ``trainer-grouped``  ``Trainer`` with ``train_sampling_strategy="group_by_length"``
* ``trainer-padded``   ``Trainer`` on data tokenized with ``padding="max_length"`` (what many tutorials do)

Each method runs in its own subprocess. Throughput is timed between the end of optimizer step 1 and the end of
the last step (finrisk: the ``time`` of those two steps' lines in ``metrics.jsonl``, ``log_every=steps`` so
nothing is logged in between; Trainer: a callback at ``on_step_end``), so model loading, tokenization,
evaluation and saving are not counted. Peak memory is the
growth of the process's peak RSS from after imports to the end of the loop (CUDA: peak allocated memory).
With ``--repeats`` > 1 the methods run in turn and each keeps its fastest run (least disturbed by other load).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from bench_utils import (
    DEFAULT_DATA_DIR,
    data_file,
    emit,
    fmt,
    machine_description,
    markdown_table,
    model_name,
    peak_rss_mb,
    recipe_config,
)

from finrisk_nlp.config import EMBEDDED_MODEL, RecipeConfig

METHODS = ("finrisk", "trainer", "trainer-grouped", "trainer-padded")
RESULT_PREFIX = "THROUGHPUT_RESULT "


def worker_config(args: argparse.Namespace, workdir: Path, run_name: str) -> RecipeConfig:
    return recipe_config(args.task, [
        f"model.name_or_path={args.model}", f"model.max_length={args.max_length}",
        f"data.train_file={workdir / 'train.jsonl'}", f"data.validation_file={workdir / 'eval.jsonl'}",
        f"data.test_file={workdir / 'eval.jsonl'}", "data.min_examples_per_class=1",
        f"output_dir={workdir / run_name}", "log_with=[]", "train.epochs=1", f"train.max_steps={args.steps}",
        f"train.batch_size={args.batch_size}", f"train.eval_batch_size={args.batch_size}", f"train.lr={args.lr}",
        # The loop always logs step 1; log_every=steps adds the last step and nothing in between.
        f"train.log_every={args.steps}", "train.checkpoint_every=null", "train.early_stopping_patience=null",
    ])


def loop_memory(base_rss: float) -> dict[str, float]:
    if torch.cuda.is_available():
        return {"peak_mb": torch.cuda.max_memory_allocated() / (1 << 20), "memory_kind": "CUDA peak allocated"}
    return {"peak_mb": peak_rss_mb() - base_rss, "memory_kind": "peak RSS growth"}


def run_finrisk(args: argparse.Namespace, workdir: Path, base_rss: float) -> dict[str, Any]:
    import finrisk_nlp.training.engine as training

    cfg = worker_config(args, workdir, "finrisk")
    marks: dict[str, Any] = {}
    evaluate = training.evaluate

    # The first evaluation starts right after the last optimizer step: read the loop's memory peak there.
    def evaluate_after_loop(*a: Any, **k: Any) -> Any:
        marks.setdefault("memory", loop_memory(base_rss))
        return evaluate(*a, **k)

    cpu_times: list[float] = []
    log = training.MetricsLog.log

    def log_with_cpu_time(self: Any, record: dict[str, Any], step: int) -> None:
        if record.get("event") == "train":
            cpu_times.append(time.process_time())
        log(self, record, step)

    training.evaluate = evaluate_after_loop
    training.MetricsLog.log = log_with_cpu_time  # type: ignore[method-assign]
    training.train(cfg)
    lines = (Path(cfg.output_dir) / "metrics.jsonl").read_text().splitlines()
    times = [r["time"] for r in map(json.loads, lines) if r.get("event") == "train"]
    return {"step_times": times, "cpu_times": cpu_times, **marks["memory"]}


def run_trainer(args: argparse.Namespace, workdir: Path, base_rss: float, variant: str) -> dict[str, Any]:
    from transformers import Trainer, TrainerCallback, TrainingArguments

    from finrisk_nlp.data.tables import load_splits, tokenize_splits
    from finrisk_nlp.modeling.loading import build_model
    from finrisk_nlp.tasks import get_task

    cfg = worker_config(args, workdir, variant)
    task, splits = load_splits(cfg.data, get_task(cfg.task), cfg.seed)
    model, tokenizer = build_model(cfg.model, cfg.lora, task)
    if variant == "trainer-padded":
        train_set = splits["train"].map(
            lambda b: tokenizer(b[task.text_column], truncation=True, max_length=args.max_length,
                                padding="max_length"),
            batched=True, remove_columns=[c for c in splits["train"].column_names if c != "labels"])
    else:
        train_set = tokenize_splits(splits, tokenizer, task, args.max_length)["train"]
    step_times: list[float] = []
    cpu_times: list[float] = []
    marks: dict[str, Any] = {}

    class StepTimer(TrainerCallback):
        def on_step_end(self, *a: Any, **k: Any) -> None:
            step_times.append(time.time())
            cpu_times.append(time.process_time())

        def on_train_end(self, *a: Any, **k: Any) -> None:
            marks["memory"] = loop_memory(base_rss)

    on_gpu = torch.cuda.is_available() and not cfg.cpu
    training_args = TrainingArguments(
        output_dir=str(workdir / variant), max_steps=args.steps, per_device_train_batch_size=args.batch_size,
        learning_rate=cfg.train.lr, weight_decay=cfg.train.weight_decay, warmup_steps=cfg.train.warmup_ratio,
        lr_scheduler_type="linear", max_grad_norm=cfg.train.max_grad_norm, seed=cfg.seed,
        train_sampling_strategy="group_by_length" if variant == "trainer-grouped" else "random",
        eval_strategy="no", save_strategy="no", report_to="none", logging_steps=args.steps, disable_tqdm=True,
        use_cpu=not on_gpu, bf16=on_gpu and torch.cuda.is_bf16_supported(),
    )
    trainer = Trainer(model=model, args=training_args, train_dataset=train_set, processing_class=tokenizer,
                      callbacks=[StepTimer()])
    trainer.train()
    return {"step_times": step_times, "cpu_times": cpu_times, **marks["memory"]}


def worker(args: argparse.Namespace) -> None:
    """Run one method in this (fresh) process and print its measurements as one JSON line."""
    import transformers  # noqa: F401  (imported before the memory baseline, like everything below)

    import finrisk_nlp.training.engine  # noqa: F401
    from finrisk_nlp.cli.recipe import setup_logging

    setup_logging()
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    base_rss = peak_rss_mb()
    workdir = Path(args.workdir)
    if args.worker == "finrisk":
        result = run_finrisk(args, workdir, base_rss)
    else:
        result = run_trainer(args, workdir, base_rss, args.worker)
    times, cpu_times = result.pop("step_times"), result.pop("cpu_times")
    if len(times) not in (2, args.steps):
        raise RuntimeError(f"{args.worker}: expected timestamps of {args.steps} steps, recorded {len(times)}")
    # From the end of step 1 (warm-up: allocations, first-call dispatch) to the end of the last step.
    seconds = times[-1] - times[0]
    samples = (args.steps - 1) * args.batch_size
    result.update(samples_per_s=samples / seconds, loop_s=seconds,
                  cpu_ms_per_sample=1000 * (cpu_times[-1] - cpu_times[0]) / samples)
    print(RESULT_PREFIX + json.dumps(result), flush=True)


def prepare_data(args: argparse.Namespace, workdir: Path) -> dict[str, float]:
    """Write ``steps x batch_size`` training rows and a small evaluation file; return token statistics."""
    from transformers import AutoTokenizer

    from finrisk_nlp.modeling.loading import resolve_model_path

    rows = [json.loads(line) for line in data_file(args.data_dir, args.task).read_text().splitlines() if line]
    needed = args.steps * args.batch_size
    if len(rows) < needed + 2 * args.batch_size:
        sys.exit(f"error: {args.task} has {len(rows)} rows; --steps x --batch-size needs {needed} plus "
                 f"{2 * args.batch_size} for evaluation")
    random.Random(0).shuffle(rows)
    train, held_out = rows[:needed], rows[needed:needed + 2 * args.batch_size]
    for name, part in (("train.jsonl", train), ("eval.jsonl", held_out)):
        (workdir / name).write_text("".join(json.dumps(r) + "\n" for r in part))
    tokenizer = AutoTokenizer.from_pretrained(resolve_model_path(args.model))
    text_column = recipe_config(args.task, [f"model.name_or_path={args.model}"]).data.text_column or "text"
    lengths = [len(ids) for ids in tokenizer([r[text_column] for r in train])["input_ids"]]
    return {"mean_tokens": statistics.mean(min(n, args.max_length) for n in lengths),
            "truncated": sum(n > args.max_length for n in lengths) / len(lengths)}


def run_method(args: argparse.Namespace, method: str, workdir: Path) -> dict[str, Any]:
    command = [sys.executable, __file__, "--worker", method, "--workdir", str(workdir), "--model", args.model,
               "--task", args.task, "--steps", str(args.steps), "--batch-size", str(args.batch_size),
               "--max-length", str(args.max_length), "--lr", str(args.lr)]
    done = subprocess.run(command, capture_output=True, text=True)
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith(RESULT_PREFIX)]
    if done.returncode != 0 or not lines:
        sys.exit(f"error: method {method} failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(lines[-1][len(RESULT_PREFIX):])


def report(args: argparse.Namespace, results: dict[str, dict[str, Any]], tokens: dict[str, float]) -> str:
    ours = results.get("finrisk", {}).get("samples_per_s")
    rows = []
    for method, r in results.items():
        speedup = "1.00 (reference)" if method == "finrisk" else fmt(ours / r["samples_per_s"], 2) if ours else "n/a"
        rows.append([method, fmt(r["samples_per_s"], 1), fmt(r["loop_s"], 2), fmt(r["cpu_ms_per_sample"], 0),
                     fmt(r["peak_mb"], 0), speedup])
    memory_kind = next(iter(results.values()))["memory_kind"]
    header = (f"Training throughput, {model_name(args.model)} + LoRA, task {args.task}: {args.steps} optimizer "
              f"steps x batch {args.batch_size}, max_length {args.max_length} (texts: {tokens['mean_tokens']:.0f} "
              f"tokens on average after truncation, {tokens['truncated']:.0%} truncated); best of {args.repeats} "
              f"run(s) per method.\nMachine: {machine_description()}. Date: {time.strftime('%Y-%m-%d')}.\n\n")
    headers = ["method", "samples/s", f"s for steps 2-{args.steps}", "CPU ms/sample", f"{memory_kind} (MB)",
               "finrisk speed-up (x)"]
    table = markdown_table(headers, rows)
    return header + table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=EMBEDDED_MODEL, help="base encoder: the embedded MiniLM or a local dir")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="directory holding <task>.jsonl")
    parser.add_argument("--task", default="credit_text")
    parser.add_argument("--steps", type=int, default=30, help="optimizer steps per method (= one epoch)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--methods", help=f"comma-separated subset of {METHODS} (default: all; --quick: 2)")
    parser.add_argument("--repeats", type=int, default=2, help="runs per method; the fastest counts")
    parser.add_argument("--quick", action="store_true", help="smoke run: 8 steps x 8, max_length 64, 2 methods")
    parser.add_argument("--out", help="also write the markdown table here")
    parser.add_argument("--worker", choices=METHODS, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    if args.quick:
        args.steps, args.batch_size, args.max_length, args.repeats = 8, 8, 64, 1
        args.methods = args.methods or "finrisk,trainer"
    methods = [m.strip() for m in (args.methods or ",".join(METHODS)).split(",") if m.strip()]
    unknown = sorted(set(methods) - set(METHODS))
    if unknown or args.steps < 2:
        sys.exit(f"error: unknown method(s) {unknown} (choose from {METHODS})" if unknown else "error: --steps >= 2")
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="finrisk-throughput-") as tmp:
        workdir = Path(tmp)
        tokens = prepare_data(args, workdir)
        for repeat in range(args.repeats):
            for method in methods:
                r = run_method(args, method, workdir)
                print(f"run {repeat + 1}/{args.repeats} {method}: {r['samples_per_s']:.1f} samples/s", flush=True)
                if method not in results or r["samples_per_s"] > results[method]["samples_per_s"]:
                    results[method] = r
    emit(report(args, results, tokens), args.out)


if __name__ == "__main__":
    main()
