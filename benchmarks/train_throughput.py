"""Training throughput and memory: the finrisk engine vs plain peft + ``transformers.Trainer``, side by side.

    python benchmarks/train_throughput.py --out benchmarks/results/train_throughput.md   # MiniLM, 30 steps x 16
    python benchmarks/train_throughput.py --quick                                         # ~1 minute smoke run
    python benchmarks/train_throughput.py --steps 30 --batch-size 16 --max-length 128 --repeats 2 \\
        --methods finrisk,trainer,trainer-grouped,trainer-padded --data-dir finrisk_nlp/data/demo
    python benchmarks/train_throughput.py --steps 4 --max-chunks 4 --methods finrisk,trainer   # documents of windows

Every method trains the task's recipe model (the encoder, LoRA rank, alpha, dropout and target layers of
``recipes/configs/<task>.yaml``) for exactly ``--steps`` optimizer steps over the same ``steps x batch_size``
rows (one epoch), with the same ``--max-length``, learning rate, warmup, clipping and seed. Methods:

* ``finrisk``          :func:`finrisk_nlp.training.engine.train` (document classifier; length-grouped batches,
                       dynamic padding), fp32 (``train.mixed_precision=no``); with ``--max-chunks N`` a document
                       brings up to N windows
* ``finrisk-bf16``     the same with ``train.mixed_precision=bf16`` (accelerate's bf16 autocast; fp32 master
                       weights), what ``auto`` picks on a CPU with native bf16
* ``trainer``          ``AutoModelForSequenceClassification`` + ``peft.get_peft_model`` (same LoRA targets) trained
                       by ``Trainer`` with ``DataCollatorWithPadding`` (random order, dynamic padding)
* ``trainer-grouped``  the same with ``train_sampling_strategy="group_by_length"``
* ``trainer-padded``   the same on data tokenized with ``padding="max_length"`` (what many tutorials do)
* ``trainer-bf16``     ``trainer`` with ``TrainingArguments(bf16=True)`` (bf16 autocast on CPU too)

Each method runs in its own subprocess. Throughput is timed from the end of optimizer step 1 to the end of the
last step (a step callback in both loops), so model loading, tokenization, evaluation and saving are not counted.
Memory, read in each child: its resident set when training starts (model, data and loaders built), and its peak
resident set (``ru_maxrss``) at the end of the last step; on CUDA also the peak allocated GPU memory. With
``--repeats`` > 1 the methods run in turn and each keeps its fastest run (least disturbed by other load).
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
    current_rss_mb,
    data_file,
    emit,
    fmt,
    load_average,
    machine_description,
    markdown_table,
    model_name,
    peak_rss_mb,
    recipe_config,
)

from finrisk_nlp.config import EMBEDDED_MODEL, RecipeConfig
from finrisk_nlp.precision import cpu_support

METHODS = ("finrisk", "finrisk-bf16", "trainer", "trainer-bf16", "trainer-grouped", "trainer-padded")
RESULT_PREFIX = "THROUGHPUT_RESULT "


def worker_config(args: argparse.Namespace, workdir: Path, run_name: str) -> RecipeConfig:
    precision = "bf16" if run_name.endswith("-bf16") else "'no'"  # quoted: YAML reads a bare no as false
    return recipe_config(args.task, [f"train.mixed_precision={precision}",
        f"model.name_or_path={args.model}", f"model.max_length={args.max_length}",
        f"model.max_chunks={args.max_chunks}",
        f"data.train_file={workdir / 'train.jsonl'}", f"data.validation_file={workdir / 'eval.jsonl'}",
        f"data.test_file={workdir / 'eval.jsonl'}", "data.min_examples_per_class=1",
        f"output_dir={workdir / run_name}", "log_with=[]", "train.epochs=1", f"train.max_steps={args.steps}",
        f"train.batch_size={args.batch_size}", f"train.eval_batch_size={args.batch_size}", f"train.lr={args.lr}",
        # The loop always logs step 1; log_every=steps adds the last step and nothing in between.
        f"train.log_every={args.steps}", "train.checkpoint_every=null", "train.early_stopping_patience=null",
        "eval.explain_examples=0",
        "data.dedup=warn",  # validation and test are the same held-out file on purpose: only throughput is read
    ])


class StepRecorder:
    """Wall and CPU time at the end of every optimizer step; memory when training starts and after the last step."""

    def __init__(self, steps: int) -> None:
        self.steps = steps
        self.times: list[float] = []
        self.cpu_times: list[float] = []
        self.memory: dict[str, float] = {}

    def training_starts(self) -> None:
        if "rss_before_mb" in self.memory:
            return
        self.memory["rss_before_mb"] = current_rss_mb()
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()

    def step_ends(self, step: int) -> None:
        self.times.append(time.time())
        self.cpu_times.append(time.process_time())
        if step == self.steps:
            self.memory["peak_rss_mb"] = peak_rss_mb()
            if torch.cuda.is_available():
                self.memory["cuda_peak_mb"] = torch.cuda.max_memory_allocated() / (1 << 20)


def run_finrisk(args: argparse.Namespace, workdir: Path, recorder: StepRecorder, variant: str) -> int:
    from accelerate import Accelerator

    from finrisk_nlp.training.engine import train

    # The engine prepares model, optimizer and loaders in one call right before its loop: training starts there.
    prepare = Accelerator.prepare

    def prepare_then_mark(self: Accelerator, *objects: Any, **kwargs: Any) -> Any:
        prepared = prepare(self, *objects, **kwargs)
        recorder.training_starts()
        return prepared

    Accelerator.prepare = prepare_then_mark  # type: ignore[method-assign]
    cfg = worker_config(args, workdir, variant)
    results = train(cfg, callbacks=[lambda state: recorder.step_ends(state.global_step)])
    return int(results["parameters"]["trainable"])


def encoder_lora_targets(model: torch.nn.Module, requested: list[str]) -> list[str] | str:
    """finrisk's LoRA targets as full module names inside a sequence-classification model.

    finrisk resolves ``lora.target_modules`` on the bare encoder (no pooler, no head); the same short names here
    would also adapt the pooler's ``dense`` layer, so the encoder's matching layers are listed one by one.
    """
    from finrisk_nlp.modeling.targets import resolve_target_modules

    prefix = model.base_model_prefix
    base = getattr(model, prefix)
    resolved = resolve_target_modules(base, requested)
    if isinstance(resolved, str):  # all-linear: peft's own keyword, which leaves the output layer alone
        return resolved
    return [f"{prefix}.{name}" for name, module in base.named_modules()
            if isinstance(module, torch.nn.Linear) and name.rsplit(".", 1)[-1] in resolved
            and not name.startswith("pooler.")]


def run_trainer(args: argparse.Namespace, workdir: Path, recorder: StepRecorder, variant: str) -> int:
    from peft import LoraConfig, get_peft_model
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        Trainer,
        TrainerCallback,
        TrainingArguments,
    )

    from finrisk_nlp.data.tables import load_splits
    from finrisk_nlp.modeling.build import resolve_model_path
    from finrisk_nlp.tasks import get_task

    cfg = worker_config(args, workdir, variant)
    task, splits = load_splits(cfg.data, get_task(cfg.task), cfg.seed)  # the rows (and redaction) finrisk trains on
    path = resolve_model_path(cfg.model.name_or_path)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(
        path, num_labels=len(task.labels),
        problem_type="multi_label_classification" if task.multi_label else "single_label_classification")
    lora = LoraConfig(task_type="SEQ_CLS", r=cfg.lora.r, lora_alpha=cfg.lora.alpha, lora_dropout=cfg.lora.dropout,
                      target_modules=encoder_lora_targets(model, list(cfg.lora.target_modules)),
                      modules_to_save=list(cfg.lora.modules_to_save) or None)
    model = get_peft_model(model, lora)
    padding = "max_length" if variant == "trainer-padded" else False
    train_set = splits["train"].map(
        lambda b: tokenizer(b[task.text_column], truncation=True, max_length=args.max_length, padding=padding),
        batched=True, remove_columns=[c for c in splits["train"].column_names if c != "labels"])

    class Timer(TrainerCallback):
        def on_train_begin(self, *a: Any, **k: Any) -> None:
            recorder.training_starts()

        def on_step_end(self, _args: Any, state: Any, *a: Any, **k: Any) -> None:
            recorder.step_ends(state.global_step)

    on_gpu = torch.cuda.is_available() and not cfg.cpu
    training_args = TrainingArguments(
        output_dir=str(workdir / variant), max_steps=args.steps, per_device_train_batch_size=args.batch_size,
        learning_rate=cfg.train.lr, weight_decay=cfg.train.weight_decay, warmup_steps=cfg.train.warmup_ratio,
        lr_scheduler_type="linear", max_grad_norm=cfg.train.max_grad_norm, seed=cfg.seed,
        train_sampling_strategy="group_by_length" if variant == "trainer-grouped" else "random",
        eval_strategy="no", save_strategy="no", report_to="none", logging_steps=args.steps, disable_tqdm=True,
        use_cpu=not on_gpu, bf16=variant == "trainer-bf16" or (on_gpu and torch.cuda.is_bf16_supported()),
        dataloader_num_workers=2 if on_gpu else 0,  # as the finrisk engine's loaders
    )
    trainer = Trainer(model=model, args=training_args, train_dataset=train_set, processing_class=tokenizer,
                      callbacks=[Timer()])
    trainer.train()
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def worker(args: argparse.Namespace) -> None:
    """Run one method in this (fresh) process and print its measurements as one JSON line."""
    import peft  # noqa: F401  (every method imports the same libraries before anything is measured)
    import transformers  # noqa: F401

    import finrisk_nlp.training.engine  # noqa: F401
    from finrisk_nlp.cli.recipe import setup_logging

    setup_logging()
    recorder = StepRecorder(args.steps)
    workdir = Path(args.workdir)
    if args.worker.startswith("finrisk"):
        trainable = run_finrisk(args, workdir, recorder, args.worker)
    else:
        trainable = run_trainer(args, workdir, recorder, args.worker)
    times, cpu_times = recorder.times, recorder.cpu_times
    if len(times) != args.steps or "peak_rss_mb" not in recorder.memory:
        raise RuntimeError(f"{args.worker}: expected {args.steps} optimizer steps, recorded {len(times)}")
    # From the end of step 1 (warm-up: allocations, first-call dispatch) to the end of the last step.
    seconds = times[-1] - times[0]
    samples = (args.steps - 1) * args.batch_size
    result = {**recorder.memory, "trainable": trainable, "samples_per_s": samples / seconds, "loop_s": seconds,
              "cpu_ms_per_sample": 1000 * (cpu_times[-1] - cpu_times[0]) / samples}
    print(RESULT_PREFIX + json.dumps(result), flush=True)


def prepare_data(args: argparse.Namespace, workdir: Path) -> dict[str, float]:
    """Write ``steps x batch_size`` training rows and a small evaluation file; return token statistics."""
    from transformers import AutoTokenizer

    from finrisk_nlp.modeling.build import resolve_model_path

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
               "--max-length", str(args.max_length), "--max-chunks", str(args.max_chunks), "--lr", str(args.lr)]
    done = subprocess.run(command, capture_output=True, text=True)
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith(RESULT_PREFIX)]
    if done.returncode != 0 or not lines:
        sys.exit(f"error: method {method} failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(lines[-1][len(RESULT_PREFIX):])


def report(args: argparse.Namespace, results: dict[str, dict[str, Any]], tokens: dict[str, float],
           load: tuple[str, str]) -> str:
    ours = results.get("finrisk", {}).get("samples_per_s")
    cuda = any("cuda_peak_mb" in r for r in results.values())
    rows = []
    for method, r in results.items():
        speedup = "1.00 (reference)" if method == "finrisk" else fmt(ours / r["samples_per_s"], 2) if ours else "n/a"
        memory = [fmt(r["rss_before_mb"], 0), fmt(r["peak_rss_mb"], 0)]
        if cuda:
            memory.append(fmt(r.get("cuda_peak_mb"), 0))
        rows.append([method, fmt(r["samples_per_s"], 1), fmt(r["loop_s"], 2), fmt(r["cpu_ms_per_sample"], 0),
                     *memory, f"{r['trainable']:,}", speedup,
                     fmt(r["samples_per_s"] / ours, 2) if ours else "n/a"])
    windows = (f"; finrisk reads up to {args.max_chunks} windows per document" if args.max_chunks > 1 else "")
    header = (f"Training throughput and memory, {model_name(args.model)} + LoRA, task {args.task}: {args.steps} "
              f"optimizer steps x batch {args.batch_size}, max_length {args.max_length}{windows} (texts: "
              f"{tokens['mean_tokens']:.0f} tokens on average after truncation, {tokens['truncated']:.0%} "
              f"truncated); best of {args.repeats} run(s) per method.\nMachine: {machine_description()}; "
              f"{cpu_support().describe()}; load "
              f"average (1/5/15 min) {load[0]} before, {load[1]} after. Date: {time.strftime('%Y-%m-%d')}.\n\n")
    headers = ["method", "samples/s", f"s for steps 2-{args.steps}", "CPU ms/sample", "RSS at start (MB)",
               "peak RSS (MB)", *(["CUDA peak allocated (MB)"] if cuda else []), "trainable params",
               "finrisk speed-up (x)", "samples/s / finrisk fp32"]
    return header + markdown_table(headers, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=EMBEDDED_MODEL, help="base encoder: the embedded MiniLM or a local dir")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="directory holding <task>.jsonl")
    parser.add_argument("--task", default="credit_text")
    parser.add_argument("--steps", type=int, default=30, help="optimizer steps per method (= one epoch)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--max-chunks", type=int, default=1,
                        help="finrisk's windows per document (1: truncate, as the Trainer baselines do)")
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
    if unknown:
        sys.exit(f"error: unknown method(s) {unknown}; choose from {METHODS}")
    if args.steps < 2 or args.max_chunks < 1:
        sys.exit(f"error: --steps must be >= 2 (got {args.steps}) and --max-chunks >= 1 (got {args.max_chunks})")
    results: dict[str, dict[str, Any]] = {}
    load_before = load_average()
    with tempfile.TemporaryDirectory(prefix="finrisk-throughput-") as tmp:
        workdir = Path(tmp)
        tokens = prepare_data(args, workdir)
        for repeat in range(args.repeats):
            for method in methods:
                r = run_method(args, method, workdir)
                print(f"run {repeat + 1}/{args.repeats} {method}: {r['samples_per_s']:.1f} samples/s, peak RSS "
                      f"{r['peak_rss_mb']:.0f} MB", flush=True)
                if method not in results or r["samples_per_s"] > results[method]["samples_per_s"]:
                    results[method] = r
    emit(report(args, results, tokens, (load_before, load_average())), args.out)


if __name__ == "__main__":
    main()
