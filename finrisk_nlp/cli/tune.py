"""The ``finrisk tune`` command: arguments and summary of a hyper-parameter search.

    finrisk tune --config recipes/configs/credit_text.yaml --trials 20 --out runs/tune
    finrisk tune --config recipes/configs/credit_text.yaml data.train_file=loans.csv --minutes 90 --out runs/tune

Kept apart from :mod:`finrisk_nlp.training.tuning` so that building the CLI parser imports neither torch nor Optuna.
"""

from __future__ import annotations

import argparse
import json
import sys

from finrisk_nlp.cli.recipe import DEFAULT_CONFIG, TRAILING
from finrisk_nlp.errors import FinriskError


def positive(kind: type) -> object:
    """An argparse type: ``kind`` of the text, refused unless > 0."""
    def parse(text: str) -> int | float:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"expected a number > 0, got {text}")
        return value
    return parse


def run_tune_command(args: argparse.Namespace) -> int:
    """Run or continue the study in ``args.out``; prints the best trial as JSON on stdout."""
    from finrisk_nlp.config import load_config
    from finrisk_nlp.training.search_space import load_search_space, with_field_keys
    from finrisk_nlp.training.tuning import TuneBudget, stopped_by_sigterm, tune

    if args.trials is None and args.minutes is None:
        raise FinriskError("finrisk tune needs a budget: --trials N (trials in the study) and/or --minutes M "
                           "(minutes of training in the study)")
    space = load_search_space(args.space)
    if args.space is None:  # the default space also varies the fusion of a model with fields
        space = with_field_keys(space, load_config(args.config, args.overrides))
    with stopped_by_sigterm():  # `kill` stops the running trial too
        result = tune(args.config, args.overrides, args.out, TuneBudget(trials=args.trials, minutes=args.minutes),
                      space)
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


def add_tune_command(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "tune", help="search hyper-parameters with Optuna, one training run per trial (resumable)",
        description="Each trial trains config + overrides + the trial's values and scores the validation split. "
                    "Rerunning the same command continues the study in --out up to the budget.")
    parser.add_argument("--config", default=str(DEFAULT_CONFIG), help="recipe YAML (default: %(default)s)")
    parser.add_argument("overrides", nargs="*", help="key.sub=value overrides for every trial, e.g. data.train_file=x")
    parser.add_argument("--out", required=True, help="study directory: study.journal, best.yaml, trials.md, trials")
    parser.add_argument("--trials", type=positive(int), help="total trials of the study (earlier runs included)")
    parser.add_argument("--minutes", type=positive(float),
                        help="total training minutes of the study; a trial started in time runs to its end")
    parser.add_argument("--space", help="search space YAML (default: the built-in one, written to OUT/space.yaml)")
    parser.set_defaults(func=run_tune_command, **{TRAILING: "overrides"})
