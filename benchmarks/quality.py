"""Test-set quality of finrisk (text, and text + structured fields) vs the scikit-learn models a bank builds itself.

    python benchmarks/quality.py --out benchmarks/results/quality.md            # all tasks, recipe settings
    python benchmarks/quality.py --tasks credit_text,aml_alert --epochs 2 --max-train-rows 1200
    python benchmarks/quality.py --quick                                        # ~1 minute: credit_text, 200 rows
    python benchmarks/quality.py --tasks credit_text --methods fields-hgb,fields-lr,tfidf,fields+tfidf,lora,lora-fields
    python benchmarks/quality.py --data-dir my_data/ --text-column narrative --label-column outcome   # your files

For each task the data file (``--data-dir``/<task>.jsonl, default the shipped demo data) is split once with
``finrisk_nlp.data.tables.load_splits`` (stratified, the recipe's fractions and seed); the splits are written to
files and every method trains on the same train rows (capped, stratified, by ``--max-train-rows``), selects on the same
validation rows and is scored on the same test rows with ``finrisk_nlp.evaluation.metrics.compute_metrics``. Methods:

* ``tfidf``  word 1-2-gram + char 2-5-gram TF-IDF, logistic regression with balanced class weights; C chosen
             on validation by the task's primary metric (scikit-learn)
* ``lora``   ``finrisk_nlp.training.engine.train`` with the task's recipe config (LoRA; windows pooled by learned
             attention)
* ``lora-2ep``  the same recipe for a fixed 2 epochs (warmup 6%, linear decay over them), the length the demo
             recipes were tuned to; beside ``lora`` it shows what ``train.epochs=auto`` gains or costs
* ``lora-mean``, ``lora-max``  the same with ``model.pooling=mean`` / ``max`` (windows averaged / elementwise max)
* ``full``   the same with ``lora.enabled=false`` and ``--full-lr`` (every weight trains)
* ``fields-hgb``, ``fields-lr``, ``fields+tfidf``  the structured fields alone (gradient boosting, logistic
             regression) and fields + TF-IDF stacked: what a bank builds itself (``benchmarks/field_baselines.py``)
* ``lora-fields``  finrisk on text + fields: the task's fields recipe (credit: ``credit_application``, AML:
             ``aml_alert_kyc``), whose ``data.feature_columns`` also name the fields the scikit-learn rows use
* ``best achievable``  (demo data only) the generator's own probability of each test row's label
             (``DemoRecord.meta``: ``p_default``, ``p_escalate``; for memo categories, which the generator stores
             no probability for, its clean category), corrected for the uniform label noise. A ceiling: it knows
             the latent score, including factors the text never states. Shown when the data file is the generator's
             output (ids and labels match); otherwise a note says why it is missing.

With ``--label-column`` (and ``--text-column``, default ``text``) every CSV/JSONL file in ``--data-dir`` is one
dataset of your own, labels taken from the data, trained with the generic recipe ``recipes/text_classifier.py``
(``train.epochs=auto``; window length, batch size, rate and class weights chosen from the train split exactly as
the recipe does); the table then shows TF-IDF, finrisk and, below it, the gap.

Every macro-F1 and PR-AUC carries a bootstrap 95% interval over the test rows; "macro-F1 @ op" is the macro-F1 of
the decisions at the run's tuned operating threshold (binary tasks). Below the table, a paired bootstrap of each
finrisk method against its baselines (the same resamples score both: text-only runs against TF-IDF, ``lora``
also against ``lora-2ep``, text + fields against fields-only gradient boosting, the fields + TF-IDF stack and
text-only finrisk) gives the difference, its interval and a p-value.

"macro-F1 @ F1 thr" puts every binary method on the same decision rule: the threshold that maximises the risk
class's F1 on the validation split (``finrisk_nlp.evaluation.thresholds.tune_threshold``, the rule
``threshold.target=f1`` stores), applied to the test split. Argmax is not one rule across methods: a class-weighted
logistic regression's argmax flags about as often as a balanced rule does, finrisk's calibrated probabilities (fitted
to the validation prevalence) flag only above an even chance, so "macro-F1 [95% CI]" at argmax compares unlike
decisions; the paired bootstraps report both.

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from bench_utils import (
    DEFAULT_DATA_DIR,
    RECIPE_CONFIGS,
    data_file,
    demo_generator,
    emit,
    fmt,
    machine_description,
    markdown_table,
    model_name,
    recipe_config,
)
from field_baselines import (
    C_GRID,
    class_probabilities,
    infer_categorical,
    run_fields_hgb,
    run_fields_lr,
    run_fields_tfidf_stack,
    tfidf_features,
)
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.multiclass import OneVsRestClassifier

from finrisk_nlp.config import EMBEDDED_MODEL, given_keys
from finrisk_nlp.data.demo import load_demo
from finrisk_nlp.data.tables import load_splits
from finrisk_nlp.evaluation.bootstrap import bootstrap_intervals, paired_bootstrap
from finrisk_nlp.evaluation.metrics import compute_metrics
from finrisk_nlp.evaluation.run_metrics import METRICS_FILE, task_view
from finrisk_nlp.evaluation.thresholds import parse_target, tune_threshold
from finrisk_nlp.tasks import Task, get_task
from finrisk_nlp.training import data_defaults

TASKS = ("credit_text", "transaction_memo", "aml_alert", "aml_typology")
DEFAULT_TASKS = TASKS[:3]  # aml_typology (multi-label, the AML notes again) only when asked for
# Demo tasks that read another task's file: the typologies are a column of the AML alerts.
DEMO_FILES = {"aml_typology": "aml_alert"}
METHODS = ("tfidf", "lora", "lora-2ep", "lora-mean", "lora-max", "full", "fields-hgb", "fields-lr", "fields+tfidf",
           "lora-fields")
DEFAULT_METHODS = ("tfidf", "lora", "full")  # the pooling variants cost a training run each: ask for them
FIELD_METHODS = ("fields-hgb", "fields-lr", "fields+tfidf", "lora-fields")
# The recipe that trains each demo task on text + fields; its data.feature_columns name the fields.
FIELD_RECIPES = {"credit_text": "credit_application", "aml_alert": "aml_alert_kyc"}
# Paired bootstraps: each method against these baselines (the first also gives the gap table's row).
BASELINES = {**{m: ("tfidf",) for m in ("lora-2ep", "lora-mean", "lora-max", "full")}, "lora": ("tfidf", "lora-2ep"),
             "fields+tfidf": ("fields-hgb", "tfidf"), "lora-fields": ("fields-hgb", "fields+tfidf", "lora")}
# The recipe's document pooling is learned attention over windows; these compare it with plain mean / max.
POOLING = {"lora-mean": "mean", "lora-max": "max"}
# The recipe with a fixed length instead of its own (own data: the generic recipe's epochs=auto).
FIXED_EPOCHS = {"lora-2ep": ["train.epochs=2", "train.warmup_ratio=0.06"]}
OWN_RECIPE = "text_classifier"
OWN_DATA_SUFFIXES = (".csv", ".jsonl")
# The generator's probability of its clean label, per binary demo task (DemoRecord.meta).
GENERATOR_PROBABILITY = {"credit_text": "p_default", "aml_alert": "p_escalate"}
CEILING = "best achievable"
F1_RULE = "F1 thr"  # the column and notes of macro-F1 at the validation split's best-F1 threshold


@dataclass
class Dataset:
    """One benchmarked data file: its name in the table, the recipe it trains with and the overrides that point
    that recipe at it (data file, and for own data the text and label columns)."""

    name: str
    recipe: str
    overrides: list[str]
    demo: bool
    fields_recipe: str | None = None
    fields_overrides: list[str] = field(default_factory=list)


def demo_datasets(args: argparse.Namespace) -> list[Dataset]:
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    if set(tasks) - set(TASKS):
        sys.exit(f"error: tasks must come from {TASKS}, got {tasks}")
    return [Dataset(t, t, [f"data.train_file={data_file(args.data_dir, DEMO_FILES.get(t, t))}"], demo=True,
                    fields_recipe=FIELD_RECIPES.get(t)) for t in tasks]


def own_datasets(args: argparse.Namespace) -> list[Dataset]:
    """Every CSV/JSONL file in ``--data-dir``, read with the credit recipe and the given columns."""
    files = sorted(p for p in Path(args.data_dir).iterdir() if p.suffix in OWN_DATA_SUFFIXES) \
        if Path(args.data_dir).is_dir() else []
    if not files:
        sys.exit(f"error: --label-column reads every .csv/.jsonl file in --data-dir, but {args.data_dir} has none; "
                 f"pass a directory holding your labelled files")
    columns = [f"data.text_column={args.text_column}", f"data.label_column={args.label_column}"]
    if args.positive_label:
        columns.append(f"data.positive_label={args.positive_label}")
    fields_overrides = [f"data.feature_columns=[{args.feature_columns}]"] if args.feature_columns else []
    return [Dataset(p.stem, OWN_RECIPE, [f"data.train_file={p}", *columns], demo=False,
                    fields_recipe=OWN_RECIPE if args.feature_columns else None, fields_overrides=fields_overrides)
            for p in files]


def field_columns(dataset: Dataset, splits: Any) -> tuple[list[str], list[str]]:
    """The fields recipe's ``data.feature_columns`` and which of them are categorical (declared or inferred)."""
    if dataset.fields_recipe is None:
        sys.exit(f"error: {dataset.name} has no field columns; the field methods need a task with a fields recipe "
                 f"({', '.join(FIELD_RECIPES)}) or, for your own data, --feature-columns")
    data_cfg = recipe_config(dataset.fields_recipe, [*dataset.overrides, *dataset.fields_overrides]).data
    columns = list(data_cfg.feature_columns)
    return columns, infer_categorical(splits, columns, data_cfg.categorical_columns)


def write_splits(dataset: Dataset, args: argparse.Namespace, workdir: Path) -> tuple[Task, dict[str, Path], dict]:
    """Split the data file once, cap the train rows, and write the three splits as JSONL files."""
    cfg = recipe_config(dataset.recipe, dataset.overrides)
    task, splits = load_splits(cfg.data, get_task(cfg.task), cfg.seed)
    train = splits["train"]
    if args.max_train_rows and len(train) > args.max_train_rows:
        keep, _ = train_test_split(np.arange(len(train)), train_size=args.max_train_rows, random_state=cfg.seed,
                                   stratify=np.asarray(train["labels"]))
        splits["train"] = train.select(sorted(keep))
    paths = {}
    for name, split in splits.items():
        paths[name] = workdir / f"{dataset.name}.{name}.jsonl"
        split.remove_columns("labels").to_json(str(paths[name]), lines=True)
    return task, paths, splits


def run_tfidf(task: Task, splits: Any) -> dict[str, Any]:
    """Fit word + character TF-IDF features once (a FeatureUnion), pick C on validation, score the test split."""
    features = tfidf_features()
    texts = {name: split[task.text_column] for name, split in splits.items()}
    x = {"train": features.fit_transform(texts["train"])}
    x.update({name: features.transform(t) for name, t in texts.items() if name != "train"})
    y_train = np.asarray(splits["train"]["labels"])

    def probabilities(clf: Any, features: Any) -> np.ndarray:
        if task.multi_label:  # one logistic regression per label: a probability per label, independent
            return clf.predict_proba(features)
        return class_probabilities(clf, features, len(task.labels))

    best: tuple[float, Any] | None = None
    for c in C_GRID:
        clf = LogisticRegression(C=c, class_weight="balanced", max_iter=3000)
        clf = (OneVsRestClassifier(clf) if task.multi_label else clf).fit(x["train"], y_train)
        val = compute_metrics(probabilities(clf, x["validation"]), np.asarray(splits["validation"]["labels"]), task)
        score = val.get(task.primary_metric)
        score = -np.inf if score is None else score
        if best is None or score > best[0]:
            best = (score, clf)
    assert best is not None
    clf = best[1]
    test_probs = probabilities(clf, x["test"])
    test = compute_metrics(test_probs, np.asarray(splits["test"]["labels"]), task)
    val_probs = probabilities(clf, x["validation"])
    fitted = clf.estimators_ if task.multi_label else [clf]
    c_value = fitted[0].C
    return {"test": test, "parameters": {"trainable": int(sum(m.coef_.size + m.intercept_.size for m in fitted))},
            "rule": f"{'0.5 per label' if task.multi_label else 'argmax'} (C={c_value:g})", "probs": test_probs,
            "val_probs": val_probs, "C": c_value}


def generator_probabilities(task: Task, test: Any) -> tuple[np.ndarray | None, str]:
    """The demo generator's probability of every label of each test row, or None and the reason why not.

    Binary tasks: P(observed positive) = eps + (1 - 2 eps) p, where p is the generator's probability of the clean
    label and eps the share of labels it flips uniformly at random. Memo categories have no probability in the
    generator; the clean category gets 1 - eps and each other category eps / (K - 1).
    """
    if task.multi_label:
        return None, f"the generator stores no probability for {task.name}"
    if "id" not in test.column_names:
        return None, "the data has no id column to match the generator's rows"
    if not set(test["id"]) <= {row["id"] for row in load_demo(task.name)}:  # spares a regeneration (seconds)
        return None, "the data is not the demo generator's output (seed 0, default size)"
    generator = demo_generator()
    records = {r.row["id"]: r for r in generator.generate_task(task.name)}
    rows = [records.get(i) for i in test["id"]]
    if any(r is None or r.row[task.label_column] != label for r, label in zip(rows, test[task.label_column])):
        return None, "the data is not the demo generator's output (seed 0, default size)"
    eps, k = generator.LABEL_NOISE_RATE, len(task.labels)
    if task.name in GENERATOR_PROBABILITY:
        positive = np.array([r.meta[GENERATOR_PROBABILITY[task.name]] for r in rows]) * (1 - 2 * eps) + eps
        probs = np.zeros((len(rows), k))
        probs[:, task.positive_index] = positive
        probs[:, 1 - task.positive_index] = 1 - positive
        return probs, f"argmax ({GENERATOR_PROBABILITY[task.name]})"
    if task.name == "transaction_memo":
        probs = np.full((len(rows), k), eps / (k - 1))
        probs[np.arange(len(rows)), [task.labels.index(r.meta["clean_category"]) for r in rows]] = 1 - eps
        return probs, "argmax (clean category; no generator probability)"
    return None, f"the generator stores no probability for {task.name}"


def run_finrisk(dataset: Dataset, paths: dict[str, Path], args: argparse.Namespace, workdir: Path,
                method: str) -> dict[str, Any]:
    from finrisk_nlp.inference.predictor import Predictor
    from finrisk_nlp.training.engine import train

    full = method == "full"
    recipe = dataset.fields_recipe if method == "lora-fields" else dataset.recipe
    assert recipe is not None  # field_columns() has already refused a dataset without a fields recipe
    fields_overrides = dataset.fields_overrides if method == "lora-fields" else []
    overrides = [
        *dataset.overrides, *fields_overrides, f"model.name_or_path={args.model}", f"data.train_file={paths['train']}",
        f"data.validation_file={paths['validation']}", f"data.test_file={paths['test']}",
        f"output_dir={workdir / (dataset.name + '-' + method)}", "log_with=[]", "eval.explain_examples=0",
        "train.checkpoint_every=null", *args.override,
    ]
    if args.epochs:
        overrides.append(f"train.epochs={args.epochs}")
    if args.max_length:
        overrides.append(f"model.max_length={args.max_length}")
    if full:
        overrides += ["lora.enabled=false", f"train.lr={args.full_lr}"]
    if method in POOLING:
        overrides.append(f"model.pooling={POOLING[method]}")
    overrides += FIXED_EPOCHS.get(method, [])
    cfg = recipe_config(recipe, overrides)
    if recipe == OWN_RECIPE:  # as recipes/text_classifier.py: unset settings are chosen from the data
        given = given_keys(overrides, RECIPE_CONFIGS / f"{OWN_RECIPE}.yaml")
        cfg, choices = data_defaults.fit_to_data(cfg, given)
        data_defaults.log_choices(choices, given)
        metrics_settings = {c.key: c.value for c in choices}
    else:
        metrics_settings = {}
    train(cfg)
    metrics = task_view(json.loads((Path(cfg.output_dir) / METRICS_FILE).read_text()))  # one task's, as other rows
    metrics["rule"] = "argmax"
    metrics["chosen"] = metrics_settings
    text_column = cfg.data.text_column or get_task(cfg.task).text_column
    predictor = Predictor.load(cfg.output_dir)
    for split, key in (("test", "probs"), ("validation", "val_probs")):  # for the paired bootstrap, the F1 rule
        rows = [json.loads(line) for line in paths[split].read_text().splitlines() if line.strip()]
        inputs = rows if method == "lora-fields" else [row[text_column] for row in rows]  # records carry the fields
        metrics[key] = predictor.predict_proba(inputs)
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


def benchmark_dataset(dataset: Dataset, methods: list[str], args: argparse.Namespace,
                      workdir: Path) -> tuple[list[list[str]], dict[str, dict[str, Any]], list[str]]:
    """Table rows, test metrics per method, and notes (why a ceiling row is missing) for one data file."""
    task, paths, splits = write_splits(dataset, args, workdir)
    sizes = "/".join(str(len(splits[s])) for s in ("train", "validation", "test"))
    rows, tests, notes = [], {}, []
    probs: dict[str, np.ndarray] = {}
    ruled: dict[str, np.ndarray] = {}  # each method's test decisions at its validation F1 threshold
    labels = np.asarray(splits["test"]["labels"])
    val_labels = np.asarray(splits["validation"]["labels"])
    columns, categorical = field_columns(dataset, splits) if set(methods) & set(FIELD_METHODS) else ([], [])
    text_c: float | None = None
    for method in methods:
        started = time.perf_counter()
        if method == "tfidf":
            result = run_tfidf(task, splits)
            text_c = result["C"]
        elif method == "fields-hgb":
            result = run_fields_hgb(task, splits, columns, categorical, seed=args.seed)
        elif method == "fields-lr":
            result = run_fields_lr(task, splits, columns, categorical, seed=args.seed)
        elif method == "fields+tfidf":
            # the text model's C is the tfidf row's (chosen on validation); chosen here if that row is not asked for
            text_c = text_c if text_c is not None else run_tfidf(task, splits)["C"]
            result = run_fields_tfidf_stack(task, splits, columns, categorical, text_c, seed=args.seed)
        else:
            result = run_finrisk(dataset, paths, args, workdir, method)
        seconds = time.perf_counter() - started
        recall, rule = recall_at_operating_point(result, task)
        test = tests[method] = result["test"]
        probs[method] = result["probs"]
        if task.is_binary:
            ruled[method] = at_f1_threshold(result["probs"], result["val_probs"], val_labels, task)
        print(f"{dataset.name} {method}: macro-F1 {test['macro_f1']:.3f} in {seconds:.0f}s", flush=True)
        if result.get("epoch_curve"):
            curve = ", ".join("n/a" if p["score"] is None else f"{p['score']:.3f}" for p in result["epoch_curve"])
            chosen = ", ".join(f"{k}={v}" for k, v in result.get("chosen", {}).items())
            notes.append(f"{dataset.name}: {method} validation {task.primary_metric} per epoch {curve}; best epoch "
                         f"{result['best_epoch']}, stopped by {result['stopped_by']}"
                         + (f"; chosen from the data: {chosen}" if chosen else ""))
        trainable = result["parameters"]["trainable"]
        rows.append([dataset.name, sizes, method, "trees" if trainable is None else f"{trainable:,}", *quality_cells(
            test, result["probs"], labels, task, ruled.get(method)), fmt(recall), rule, f"{seconds:.0f}"])
    if dataset.demo:
        ceiling, why = generator_probabilities(task, splits["test"])
        if ceiling is None:
            notes.append(f"{dataset.name}: no {CEILING} row: {why}.")
        else:
            test = tests[CEILING] = compute_metrics(ceiling, labels, task)
            recall, rule = recall_at_operating_point({"test": test, "rule": why}, task)
            val_ceiling, _ = generator_probabilities(task, splits["validation"])
            ceiling_ruled = at_f1_threshold(ceiling, val_ceiling, val_labels, task) \
                if task.is_binary and val_ceiling is not None else None
            rows.append([dataset.name, sizes, CEILING, "-", *quality_cells(test, ceiling, labels, task, ceiling_ruled),
                         fmt(recall), rule, "-"])
    for method, baseline in ((m, b) for m in probs for b in BASELINES.get(m, ()) if b in probs):
        comparisons = [("pr_auc", "pr_auc", probs), ("macro_f1", "macro_f1", probs)]
        if ruled:
            comparisons.append((f"macro_f1 @ {F1_RULE}", "macro_f1", ruled))
        for name, metric, scored in comparisons:
            paired = paired_bootstrap(scored[method], scored[baseline], labels, task, metric, seed=0)
            notes.append(f"{dataset.name}: {method} - {baseline} {name} {paired['diff']:+.3f} (paired bootstrap "
                         f"95% [{paired['low']:+.3f}, {paired['high']:+.3f}], p {paired['p_value']:.3f})")
    return rows, tests, notes


def at_f1_threshold(probs: np.ndarray, val_probs: np.ndarray, val_labels: np.ndarray, task: Task) -> np.ndarray:
    """The decisions (one-hot, binary tasks) of flagging where the positive probability reaches the threshold of
    best risk-class F1 on validation: one rule for every method, which the bootstrap's argmax metrics then score."""
    pos = task.positive_index
    cut = tune_threshold(val_probs[:, pos], (val_labels == pos).astype(int), parse_target("f1"))["value"]
    flagged = probs[:, pos] >= cut
    out = np.zeros_like(probs, dtype=np.float64)
    out[:, pos], out[:, 1 - pos] = flagged, ~flagged
    return out


def quality_cells(test: dict[str, Any], probs: np.ndarray, labels: np.ndarray, task: Task,
                  ruled: np.ndarray | None = None) -> list[str]:
    """macro-F1 (argmax), macro-F1 at the method's operating point, macro-F1 at the validation F1 threshold
    (``ruled``: :func:`at_f1_threshold`, binary tasks), PR-AUC; each but the operating point with a bootstrap 95%
    interval."""
    intervals = bootstrap_intervals(probs, labels, task, metrics=("macro_f1", "pr_auc"), seed=0)
    op = (test.get("operating_point") or {}).get("macro_f1")

    def cell(value: float | None, key: str, found: dict[str, Any]) -> str:
        low, high = found.get(key) or (None, None)
        return fmt(value) if low is None else f"{fmt(value)} [{fmt(low)}, {fmt(high)}]"

    if ruled is None:
        at_rule = "-"
    else:
        value = compute_metrics(ruled, labels, task)["macro_f1"]
        at_rule = cell(value, "macro_f1", bootstrap_intervals(ruled, labels, task, metrics=("macro_f1",), seed=0))
    return [cell(test.get("macro_f1"), "macro_f1", intervals), fmt(op) if op is not None else "argmax", at_rule,
            cell(test.get("pr_auc"), "pr_auc", intervals)]


def gap_rows(name: str, tests: dict[str, dict[str, Any]]) -> list[list[str]]:
    """Each method minus its first baseline present (text: TF-IDF; text + fields: fields-only gradient boosting),
    and the share of the baseline-to-ceiling distance it covers."""
    ceiling, rows = tests.get(CEILING), []
    for method, baseline in ((m, BASELINES.get(m, ())) for m in tests):
        present = [b for b in baseline if b in tests]
        if not present:
            continue
        base = tests[present[0]]
        cells = [name, f"{method} - {present[0]}"]
        for key in ("macro_f1", "pr_auc"):
            ours, theirs = tests[method].get(key), base.get(key)
            gap = None if ours is None or theirs is None else ours - theirs
            cells.append("n/a" if gap is None else f"{gap:+.3f}")
            room = None if ceiling is None or ceiling.get(key) is None or theirs is None else ceiling[key] - theirs
            cells.append("n/a" if gap is None or not room or room <= 0 else f"{gap / room:.0%}")
        rows.append(cells)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=EMBEDDED_MODEL, help="base encoder: the embedded MiniLM or a local dir")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR,
                        help="directory holding <task>.jsonl, or with --label-column your own CSV/JSONL files")
    parser.add_argument("--text-column", default="text", help="own data: the text column (default: text)")
    parser.add_argument("--label-column", help="own data: the label column; every CSV/JSONL in --data-dir is read")
    parser.add_argument("--positive-label", help="own binary data: the risk class PR-AUC refers to")
    parser.add_argument("--feature-columns", help="own data: comma-separated field columns for the field methods")
    parser.add_argument("--seed", type=int, default=0, help="seed of the scikit-learn field models (default: 0)")
    parser.add_argument("--tasks", default=",".join(DEFAULT_TASKS), help=f"comma-separated subset of {TASKS}")
    parser.add_argument("--methods", default=",".join(DEFAULT_METHODS),
                        help=f"comma-separated subset of {METHODS} (default: %(default)s)")
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
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if set(methods) - set(METHODS):
        sys.exit(f"error: methods must come from {METHODS}, got {methods}")
    datasets = own_datasets(args) if args.label_column else demo_datasets(args)

    from finrisk_nlp.cli.recipe import setup_logging

    setup_logging()
    logging.getLogger("accelerate").setLevel(logging.WARNING)  # checkpoint chatter would bury the results
    rows: list[list[str]] = []
    gaps: list[list[str]] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="finrisk-quality-") as tmp:
        for dataset in datasets:
            more, tests, why = benchmark_dataset(dataset, methods, args, Path(tmp))
            rows, notes, gaps = rows + more, notes + why, gaps + gap_rows(dataset.name, tests)
    settings = [f"epochs {args.epochs or 'recipe'}", f"max_length {args.max_length or 'recipe'}",
                f"train rows capped at {args.max_train_rows or 'no cap'}", f"full fine-tuning lr {args.full_lr:g}",
                *args.override]
    header = (f"Test-set quality, {model_name(args.model)}; finrisk runs: {', '.join(settings)}.\n"
              f"Machine: {machine_description()}. Date: {time.strftime('%Y-%m-%d')}.\n\n")
    columns = ["task", "train/val/test", "method", "trainable params", "macro-F1 [95% CI]", "macro-F1 @ op",
               f"macro-F1 @ {F1_RULE} [95% CI]", "PR-AUC [95% CI]", "recall @ op", "decision rule", "wall s"]
    text = header + markdown_table(columns, rows)
    if gaps:
        text += ("\nGap to the baseline (positive: the method is better; \"of room\": share of the distance from "
                 f"the baseline to the {CEILING} row):\n\n" + markdown_table(
                     ["task", "comparison", "macro-F1", "of room", "PR-AUC", "of room"], gaps))
    if notes:
        text += "\n" + "\n".join(notes) + "\n"
    emit(text, args.out)


if __name__ == "__main__":
    main()
