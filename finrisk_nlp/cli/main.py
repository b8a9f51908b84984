"""The ``finrisk`` command line.

    finrisk train --config recipes/configs/credit_text.yaml train.epochs=1   # one process, in-process
    finrisk train --data tickets.csv --text-column body --label-column queue  # your table, settings fitted to it
    finrisk train --task credit_text train.epochs=1      # the config shipped in the package, from any directory
    finrisk validate --config recipes/configs/credit_text.yaml data.train_file=loans.csv
    finrisk predict runs/credit_text "Applicant lost his job and missed two payments."
    finrisk predict registry:credit-text@production "Applicant lost his job and missed two payments."
    finrisk predict runs/multitask --task aml_alert "Cash deposits just below the reporting threshold."
    finrisk predict runs/credit_application '{"text": "Lost job in May.", "income": 4200, "debt": 900}' --json
    finrisk tasks
    finrisk tune --config recipes/configs/credit_text.yaml --trials 20 --out runs/tune
    finrisk serve registry:credit-text@production --port 8000

For several processes or GPUs use ``accelerate launch recipes/<recipe>.py`` instead of ``finrisk train``.
Errors caused by input (config, data, model references) print one message and exit with code 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

# Each command module imports only argparse-level code here; torch, Optuna, FastAPI and captum load when it runs.
from finrisk_nlp.cli.explain import add_explain_command
from finrisk_nlp.cli.export import add_export_command
from finrisk_nlp.cli.recipe import DEFAULT_CONFIG, TRAILING, exit_code, packaged_config, setup_logging
from finrisk_nlp.cli.registry import add_registry_command
from finrisk_nlp.cli.score import add_score_command
from finrisk_nlp.cli.serve import add_serve_command
from finrisk_nlp.cli.texts import read_records, record_text
from finrisk_nlp.cli.tune import add_tune_command
from finrisk_nlp.errors import FinriskError
from finrisk_nlp.version import __version__

logger = logging.getLogger("finrisk_nlp")
GENERIC_CONFIG = packaged_config("text_classifier")


def _cmd_train(args: argparse.Namespace) -> int:
    if args.data:  # the generic recipe: recipes/text_classifier.py in this process
        from finrisk_nlp.cli.recipe import run_recipe

        columns = [f"data.{key}={value}" for key, value in (("text_column", args.text_column),
                                                             ("label_column", args.label_column)) if value]
        argv = ["--config", args.config or str(GENERIC_CONFIG), f"data.train_file={args.data}", *columns,
                *args.overrides]
        return run_recipe(argv, default_config=GENERIC_CONFIG, fit_to_data=True)
    from finrisk_nlp.config import load_config
    from finrisk_nlp.training.engine import train

    train(load_config(_config_of(args), args.overrides))
    return 0


def _config_of(args: argparse.Namespace) -> str | Path:
    """``--config``, or the packaged recipe config of ``--task``, else the credit recipe's."""
    if getattr(args, "task", None):
        if args.config:
            raise FinriskError(f"--task {args.task} and --config {args.config} both name a config; give one")
        return packaged_config(args.task)
    return args.config or DEFAULT_CONFIG


def _cmd_validate(args: argparse.Namespace) -> int:
    from finrisk_nlp.config import load_config
    from finrisk_nlp.data.tables import load_splits
    from finrisk_nlp.data.windows import char_budget
    from finrisk_nlp.errors import ConfigError
    from finrisk_nlp.evaluation.fairness import slice_values_of
    from finrisk_nlp.tasks import get_task
    from finrisk_nlp.training.engine import config_problems
    from finrisk_nlp.training.task_data import fit_fields

    cfg = load_config(args.config, args.overrides)
    problems = config_problems(cfg)
    if problems:
        raise ConfigError(problems)
    summary: dict = {}
    task, splits = load_splits(cfg.data, get_task(cfg.task), cfg.seed, summary=summary,
                               max_chars=char_budget(cfg.model.max_length, cfg.model.max_chunks))
    slice_values_of(splits["test"], cfg.eval.slice_columns, cfg.data.test_file or "test split")
    fields = fit_fields(cfg.data, splits)
    sizes = {name: len(split) for name, split in splits.items()}
    logger.info(f"config OK; task {task.name} with labels {list(task.labels)}; rows per split {sizes}")
    if fields is not None:  # fit_fields has checked every value of the data files
        logger.info("fields: " + "; ".join(f"{f['name']} ({f['kind']}, {100 * f['missing_rate']:.1f}% missing)"
                                           for f in fields.card()))
    logger.info(f"{summary['kind']} split; periods {summary['periods'] or '-'}; groups {summary['groups'] or '-'}; "
                f"repeats of train texts {summary['dedup']}")
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    from finrisk_nlp.inference.predictor import Predictor

    items = read_records(args, "classify")
    predictor = Predictor.load(args.model, task=args.task)
    results = predictor.predict(items, batch_size=args.batch_size)
    threshold = predictor.positive_threshold
    if threshold is not None and not args.json:  # else "default" beside p(default)=0.37 reads like a mistake
        risk = predictor.task.labels[predictor.task.positive_index]
        logger.info(f"decision: {risk} when p({risk}) >= {threshold:.3f}, the operating threshold tuned on "
                    f"validation ({predictor.threshold.get('target', 'target not recorded')})")
    for item, result in zip(items, results, strict=True):
        text = record_text(item, predictor.task.text_column)
        if args.json:
            sys.stdout.write(json.dumps({"text": text, **result}) + "\n")
        else:
            decision = result["decision"]  # at the model's tuned operating threshold
            label = (", ".join(decision) or "(none)") if isinstance(decision, list) else decision
            probs = "  ".join(f"{k}={v:.3f}" for k, v in result["probabilities"].items())
            sys.stdout.write(f"{label:<16} {probs}  | {text[:80]}\n")
    return 0


def _cmd_tasks(args: argparse.Namespace) -> int:
    from finrisk_nlp.tasks import get_task, list_tasks

    for name in list_tasks():
        task = get_task(name)
        kind = "multi-label" if task.multi_label else f"{len(task.labels) or 'n'}-class"
        labels = ", ".join(task.labels) or "from the data"
        sys.stdout.write(f"{name:<18} {kind:<12} {task.label_column}: {labels}  {task.description}\n")
    return 0


def _add_config_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default=str(DEFAULT_CONFIG), help="recipe YAML (default: %(default)s)")
    parser.add_argument("overrides", nargs="*", help="key.sub=value overrides, e.g. train.epochs=1 lora.r=4")
    parser.set_defaults(**{TRAILING: "overrides"})


VERSIONED = ("torch", "transformers", "peft", "accelerate", "datasets")  # what a bug report needs beside ours


def version_line() -> str:
    """``finrisk --version``: this package's version and those of the libraries it runs on (read from their
    installed metadata, so nothing heavy is imported)."""
    from importlib.metadata import PackageNotFoundError, version

    def installed(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    return f"finrisk_nlp {__version__} ({', '.join(f'{name} {installed(name)}' for name in VERSIONED)})"


class PrintVersion(argparse.Action):
    """``--version`` as one unwrapped line (argparse's own version action wraps it at the terminal width)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: object,
                 option_string: str | None = None) -> None:
        sys.stdout.write(version_line() + "\n")
        parser.exit(0)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="finrisk", description="Fine-tune and use financial-risk text classifiers.")
    parser.add_argument("--version", action=PrintVersion, nargs=0,
                        help="print the versions of finrisk_nlp and of the libraries it runs on, for bug reports")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="fine-tune in this process (use `accelerate launch recipes/...` for several)")
    p.add_argument("--config", help=f"recipe YAML (default: {DEFAULT_CONFIG}; with --data: {GENERIC_CONFIG})")
    p.add_argument("overrides", nargs="*", help="key.sub=value overrides, e.g. train.epochs=1 lora.r=4")
    p.set_defaults(**{TRAILING: "overrides"})
    p.add_argument("--data", help="your labelled table (.csv/.jsonl/.parquet): trains recipes/text_classifier.py, "
                                  "its settings chosen from the data")
    p.add_argument("--text-column", help="with --data: the text column (default: text)")
    p.add_argument("--label-column", help="with --data: the label column (default: label)")
    p.add_argument("--task", help="train with the recipe config of this name shipped in the package (credit_text, "
                                  "aml_alert, ...: recipes/configs/NAME.yaml) instead of --config")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("validate", help="check a config and its data files without training")
    _add_config_args(p)
    p.set_defaults(func=_cmd_validate)

    p = sub.add_parser("predict", help="classify texts with a trained model")
    p.add_argument("model", help="run or model directory, registry:NAME[@STAGE|@VERSION], or hub:ORG/NAME")
    p.add_argument("texts", nargs="*", help="texts to classify, or JSON records {\"text\": ..., FIELD: ...} for a "
                   "model trained with fields")
    p.add_argument("--file", help="a text file with one text per line")
    p.add_argument("--records", help="a JSONL file with one record (text + fields) per line")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--task", help="the task to predict with a multi-task model (required for those)")
    p.set_defaults(func=_cmd_predict, **{TRAILING: "texts"})

    p = sub.add_parser("tasks", help="list the registered tasks")
    p.set_defaults(func=_cmd_tasks)

    for add_command in (add_registry_command, add_score_command, add_explain_command, add_tune_command,
                        add_export_command, add_serve_command):
        add_command(sub)
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse a ``finrisk`` command line. Texts or overrides after an option (``finrisk predict MODEL --json "..."``)
    join the command's list: Python 3.11's argparse closes a ``nargs="*"`` positional at the first option and
    would refuse them as unrecognized."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    trailing = getattr(args, TRAILING, None)
    if extra and trailing and not any(e.startswith("-") for e in extra):
        getattr(args, trailing).extend(extra)
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging()
    return exit_code(lambda: args.func(args))


if __name__ == "__main__":
    sys.exit(main())
