"""Test-set quality of finrisk LoRA and full fine-tuning vs a TF-IDF + logistic regression baseline, per task.

    python benchmarks/quality.py --out benchmarks/results/quality.md            # all tasks, recipe settings
    python benchmarks/quality.py --tasks credit_text,aml_alert --epochs 2 --max-train-rows 1200
    python benchmarks/quality.py --quick                                        # ~1 minute: credit_text, 200 rows

For each task the data file (``--data-dir``/<task>.jsonl, default the shipped demo data) is split once with
``finrisk_nlp.data.tables.load_splits`` (stratified, the recipe's fractions and seed); the splits are written to
files and
every method trains on the same train rows (capped, stratified, by ``--max-train-rows``), selects on the same
validation rows and is scored on the same test rows with ``finrisk_nlp.evaluation.metrics.compute_metrics``. Methods:

* ``tfidf``  word 1-2-gram + char 2-5-gram TF-IDF, logistic regression with balanced class weights; C chosen
             on validation by the task's primary metric (scikit-learn)
* ``lora``   ``finrisk_nlp.training.engine.train`` with the task's recipe config (LoRA)
* ``full``   the same with ``lora.enabled=false`` and ``--full-lr`` (every weight trains)

"recall @ op" is the recall of the risk class (binary tasks) at the decision rule the method uses: argmax, or
the tuned threshold when the run's ``metrics.json`` reports a test ``operating_point``; for multi-class tasks it
is macro recall at argmax. Wall time covers training, model selection and test scoring (finrisk runs also save
checkpoints and the model).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from bench_utils import (
    DEFAULT_DATA_DIR,
    data_file,
    emit,
    fmt,
    machine_description,
    markdown_table,
    model_name,
    recipe_config,
)
from scipy.sparse import hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from finrisk_nlp.config import EMBEDDED_MODEL
from finrisk_nlp.data.tables import load_splits
from finrisk_nlp.evaluation.metrics import compute_metrics
from finrisk_nlp.tasks import Task, get_task

TASKS = ("credit_text", "transaction_memo", "aml_alert")
METHODS = ("tfidf", "lora", "full")
C_GRID = (0.3, 1.0, 3.0, 10.0)


def write_splits(task_name: str, args: argparse.Namespace, workdir: Path) -> tuple[Task, dict[str, Path], dict]:
    """Split the task's data once, cap the train rows, and write the three splits as JSONL files."""
    cfg = recipe_config(task_name, [f"data.train_file={data_file(args.data_dir, task_name)}"])
    task, splits = load_splits(cfg.data, get_task(task_name), cfg.seed)
    train = splits["train"]
    if args.max_train_rows and len(train) > args.max_train_rows:
        keep, _ = train_test_split(np.arange(len(train)), train_size=args.max_train_rows, random_state=cfg.seed,
                                   stratify=np.asarray(train["labels"]))
        splits["train"] = train.select(sorted(keep))
    paths = {}
    for name, split in splits.items():
        paths[name] = workdir / f"{task_name}.{name}.jsonl"
        split.remove_columns("labels").to_json(str(paths[name]), lines=True)
    return task, paths, splits


def run_tfidf(task: Task, splits: Any) -> dict[str, Any]:
    """Fit TF-IDF features once, pick C on validation, score the test split."""
    word = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2, lowercase=True)
    char = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2, lowercase=True)
    texts = {name: split[task.text_column] for name, split in splits.items()}
    x_train = hstack([word.fit_transform(texts["train"]), char.fit_transform(texts["train"])]).tocsr()
    features = {name: hstack([word.transform(t), char.transform(t)]).tocsr() for name, t in texts.items()}
    y_train = np.asarray(splits["train"]["labels"])

    def probabilities(clf: LogisticRegression, x: Any) -> np.ndarray:
        probs = np.zeros((x.shape[0], len(task.labels)))
        probs[:, clf.classes_] = clf.predict_proba(x)  # a class missing from train keeps probability 0
        return probs

    best: tuple[float, LogisticRegression] | None = None
    for c in C_GRID:
        clf = LogisticRegression(C=c, class_weight="balanced", max_iter=3000).fit(x_train, y_train)
        val = compute_metrics(probabilities(clf, features["validation"]), np.asarray(splits["validation"]["labels"]),
                              task)
        score = val.get(task.primary_metric)
        score = -np.inf if score is None else score
        if best is None or score > best[0]:
            best = (score, clf)
    assert best is not None
    clf = best[1]
    test = compute_metrics(probabilities(clf, features["test"]), np.asarray(splits["test"]["labels"]), task)
    return {"test": test, "parameters": {"trainable": int(clf.coef_.size + clf.intercept_.size)},
            "rule": f"argmax (C={clf.C:g})"}


def run_finrisk(task_name: str, paths: dict[str, Path], args: argparse.Namespace, workdir: Path,
                full: bool) -> dict[str, Any]:
    from finrisk_nlp.training.engine import train

    overrides = [
        f"model.name_or_path={args.model}", f"data.train_file={paths['train']}",
        f"data.validation_file={paths['validation']}", f"data.test_file={paths['test']}",
        f"output_dir={workdir / (task_name + ('-full' if full else '-lora'))}", "log_with=[]",
        "train.checkpoint_every=null", *args.override,
    ]
    if args.epochs:
        overrides.append(f"train.epochs={args.epochs}")
    if args.max_length:
        overrides.append(f"model.max_length={args.max_length}")
    if full:
        overrides += ["lora.enabled=false", f"train.lr={args.full_lr}"]
    cfg = recipe_config(task_name, overrides)
    train(cfg)
    metrics = json.loads((Path(cfg.output_dir) / "metrics.json").read_text())
    metrics["rule"] = "argmax"
    return metrics


def recall_at_operating_point(result: dict[str, Any], task: Task) -> tuple[float, str]:
    """Recall of the risk class (binary) or macro recall (multi-class), and the decision rule it was taken at."""
    test = result["test"]
    if not task.is_binary:
        return float(np.mean([c["recall"] for c in test["per_class"].values()])), result["rule"] + ", macro"
    op = test.get("operating_point")
    if isinstance(op, dict) and op.get("recall") is not None:
        threshold = op.get("threshold")
        return float(op["recall"]), "tuned threshold" + (f" {threshold:.2f}" if threshold is not None else "")
    positive = task.labels[task.positive_index]
    return float(test["per_class"][positive]["recall"]), result["rule"]


def benchmark_task(task_name: str, methods: list[str], args: argparse.Namespace, workdir: Path) -> list[list[str]]:
    task, paths, splits = write_splits(task_name, args, workdir)
    sizes = "/".join(str(len(splits[s])) for s in ("train", "validation", "test"))
    rows = []
    for method in methods:
        started = time.perf_counter()
        if method == "tfidf":
            result = run_tfidf(task, splits)
        else:
            result = run_finrisk(task_name, paths, args, workdir, full=method == "full")
        seconds = time.perf_counter() - started
        recall, rule = recall_at_operating_point(result, task)
        test = result["test"]
        print(f"{task_name} {method}: macro-F1 {test['macro_f1']:.3f} in {seconds:.0f}s", flush=True)
        rows.append([task_name, sizes, method, f"{result['parameters']['trainable']:,}", fmt(test["macro_f1"]),
                     fmt(test["pr_auc"]), fmt(recall), rule, f"{seconds:.0f}"])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=EMBEDDED_MODEL, help="base encoder: the embedded MiniLM or a local dir")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="directory holding <task>.jsonl")
    parser.add_argument("--tasks", default=",".join(TASKS), help=f"comma-separated subset of {TASKS}")
    parser.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated subset of {METHODS}")
    parser.add_argument("--epochs", type=int, help="finrisk epochs (default: the recipe's)")
    parser.add_argument("--max-length", type=int, help="tokens per text (default: the recipe's)")
    parser.add_argument("--max-train-rows", type=int, help="cap the train split (stratified sample)")
    parser.add_argument("--full-lr", type=float, default=5e-5, help="learning rate of full fine-tuning")
    parser.add_argument("--override", action="append", default=[], metavar="KEY=VALUE",
                        help="extra config override for the finrisk runs, e.g. train.batch_size=16 (repeatable)")
    parser.add_argument("--quick", action="store_true", help="smoke run: credit_text, 200 train rows, 1 epoch")
    parser.add_argument("--out", help="also write the markdown table here")
    args = parser.parse_args()
    if args.quick:
        args.tasks, args.epochs = "credit_text", 1
        args.max_train_rows, args.max_length = min(args.max_train_rows or 200, 200), args.max_length or 64
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if set(tasks) - set(TASKS) or set(methods) - set(METHODS):
        sys.exit(f"error: tasks must come from {TASKS} and methods from {METHODS}")

    from finrisk_nlp.cli.recipe import setup_logging

    setup_logging()
    logging.getLogger("accelerate").setLevel(logging.WARNING)  # checkpoint chatter would bury the results
    rows: list[list[str]] = []
    with tempfile.TemporaryDirectory(prefix="finrisk-quality-") as tmp:
        for task_name in tasks:
            rows += benchmark_task(task_name, methods, args, Path(tmp))
    settings = [f"epochs {args.epochs or 'recipe'}", f"max_length {args.max_length or 'recipe'}",
                f"train rows capped at {args.max_train_rows or 'no cap'}", f"full fine-tuning lr {args.full_lr:g}",
                *args.override]
    header = (f"Test-set quality, {model_name(args.model)}; finrisk runs: {', '.join(settings)}.\n"
              f"Machine: {machine_description()}. Date: {time.strftime('%Y-%m-%d')}.\n\n")
    table = markdown_table(["task", "train/val/test", "method", "trainable params", "macro-F1", "PR-AUC",
                            "recall @ op", "decision rule", "wall s"], rows)
    emit(header + table, args.out)


if __name__ == "__main__":
    main()
