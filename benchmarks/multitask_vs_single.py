"""Three single-task models vs one multi-task model (hard and soft sharing) on the shipped demo data.

    python benchmarks/multitask_vs_single.py --quick                      # tiny subset, a few steps: smoke run
    python benchmarks/multitask_vs_single.py --rows-per-label 200 --epochs 2

Every configuration trains from the same base encoder (the embedded MiniLM unless ``--model``) with the shipped
recipe configs (``recipes/configs/<task>.yaml`` and ``multitask.yaml``) on the same per-task subsets of the demo
data (``--rows-per-label`` rows of each label, so every split has every class) and prints a markdown table: each
task's primary metric on its test split, the mean, trainable parameters and training time (wall clock of the
whole run: data, training, evaluation, calibration). Runs in one process; timings are for this machine only.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TASKS = ("credit_text", "transaction_memo", "aml_alert")


def subset(task_name: str, rows_per_label: int, out: Path) -> Path:
    """The first ``rows_per_label`` demo rows of each label of a task, as a JSONL file."""
    from finrisk_nlp.data.tables import demo_train_file
    from finrisk_nlp.tasks import get_task

    column = get_task(task_name).label_column
    kept: dict[str, list[str]] = defaultdict(list)
    for line in demo_train_file(task_name).read_text().splitlines():
        row = json.loads(line)
        if len(kept[row[column]]) < rows_per_label:
            kept[row[column]].append(line)
    path = out / f"{task_name}.jsonl"
    path.write_text("".join(line + "\n" for lines in kept.values() for line in lines))
    return path


def common_overrides(args: argparse.Namespace, output_dir: Path) -> list[str]:
    overrides = [f"output_dir={output_dir}", "cpu=true", f"train.epochs={args.epochs}",
                 f"model.max_length={args.max_length}", "model.max_chunks=1", "train.early_stopping_patience=null",
                 f"train.batch_size={args.batch_size}", "train.eval_batch_size=64", "data.min_examples_per_class=2",
                 "train.checkpoint_every=null", "data.validation_fraction=0.2", "data.test_fraction=0.2"]
    if args.model:
        overrides.append(f"model.name_or_path={args.model}")
    if args.max_steps:
        overrides.append(f"train.max_steps={args.max_steps}")
    return overrides


def run(config: str, overrides: list[str]) -> tuple[dict, float]:
    from finrisk_nlp.config import load_config
    from finrisk_nlp.training.engine import train

    started = time.perf_counter()
    results = train(load_config(REPO / "recipes" / "configs" / f"{config}.yaml", overrides))
    return results, time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="8 rows per label, 1 epoch of at most 3 steps")
    parser.add_argument("--model", help="base encoder directory (default: the embedded MiniLM)")
    parser.add_argument("--rows-per-label", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--max-steps", type=int, help="optimizer steps per run at most")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--work-dir", help="keep runs here (default: a temp dir, removed afterwards)")
    args = parser.parse_args(argv)
    if args.quick:
        args.rows_per_label, args.epochs, args.max_steps = 8, 1, args.max_steps or 3
    logging.basicConfig(level=logging.WARNING)
    from finrisk_nlp.cli.recipe import setup_logging
    from finrisk_nlp.tasks import get_task

    setup_logging()
    logging.getLogger().setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.work_dir or tmp)
        work.mkdir(parents=True, exist_ok=True)
        files = {t: subset(t, args.rows_per_label, work) for t in TASKS}
        rows: list[tuple[str, dict[str, float | None], int, float]] = []
        single_params, single_seconds = 0, 0.0
        for task in TASKS:
            results, seconds = run(task, [*common_overrides(args, work / f"single-{task}"),
                                          f"data.train_file={files[task]}"])
            score = results["tasks"][task]["test"].get(get_task(task).primary_metric)
            rows.append((f"single-task {task}", {task: score}, results["parameters"]["trainable"], seconds))
            single_params += results["parameters"]["trainable"]
            single_seconds += seconds
        rows.append(("3 single-task models together", {t: r[1][t] for t, r in zip(TASKS, rows, strict=True)},
                     single_params, single_seconds))
        for strategy in ("hard", "soft"):
            results, seconds = run("multitask", [
                *common_overrides(args, work / f"multitask-{strategy}"), f"multitask.strategy={strategy}",
                *[f"multitask.data.{t}.train_file={path}" for t, path in files.items()]])
            scores = {t: results["tasks"][t]["test"].get(get_task(t).primary_metric) for t in TASKS}
            rows.append((f"multi-task, {strategy} sharing", scores, results["parameters"]["trainable"], seconds))

    metric_names = [f"{t} ({get_task(t).primary_metric})" for t in TASKS]
    out = [f"| model | {' | '.join(metric_names)} | mean | trainable parameters | training seconds |",
           "|---|" + "---:|" * (len(TASKS) + 3)]
    for name, scores, params, seconds in rows:
        cells = [f"{scores[t]:.3f}" if scores.get(t) is not None else "" for t in TASKS]
        defined = [scores[t] for t in TASKS if scores.get(t) is not None]
        mean = f"{sum(defined) / len(defined):.3f}" if len(defined) == len(TASKS) else ""
        out.append(f"| {name} | {' | '.join(cells)} | {mean} | {params:,} | {seconds:.1f} |")
    sys.stdout.write("\n".join(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
