"""``finrisk explain RUN_DIR "text" [--label L] [--html out.html]``: which words (and fields) drove a prediction.

A model trained with structured fields takes records: ``finrisk explain RUN_DIR '{"text": "...", "income": 4200}'``
or ``--records applications.jsonl``.

See :mod:`finrisk_nlp.evaluation.explain` for the method.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from finrisk_nlp.cli.recipe import TRAILING
from finrisk_nlp.cli.texts import read_records
from finrisk_nlp.evaluation.explain import explain, render_html, render_terminal
from finrisk_nlp.provenance import write_text_atomic


def _cmd_explain(args: argparse.Namespace) -> int:
    from pathlib import Path

    from finrisk_nlp.inference.predictor import Predictor

    texts = read_records(args, "explain")
    predictor = Predictor.load(args.model, merge=False)  # attributions run through the model as trained
    explanations = explain(predictor, texts, args.top_k, label=args.label, n_steps=args.steps)
    color = args.color == "always" or (args.color == "auto" and sys.stdout.isatty() and "NO_COLOR" not in os.environ)
    for exp in explanations:
        sys.stdout.write(json.dumps({"text": exp.text, **exp.to_dict()}) + "\n" if args.json
                         else render_terminal(exp, color) + "\n")
    if args.html:
        write_text_atomic(args.html, render_html(explanations, title=f"Why {Path(args.model).name} decided"))
        sys.stderr.write(f"wrote {args.html}\n")
    return 0


def add_explain_command(subparsers: argparse._SubParsersAction) -> None:
    """Register ``finrisk explain``."""
    p = subparsers.add_parser("explain", help="show which words drove a prediction (token attributions)")
    p.add_argument("model", help="run directory or model directory")
    p.add_argument("texts", nargs="*", help="texts to explain")
    p.add_argument("--file", help="a text file with one text per line")
    p.add_argument("--records", help="a JSONL file with one record (text + fields) per line")
    p.add_argument("--label", help="explain this label instead of the predicted one")
    p.add_argument("--top-k", type=int, default=5, help="evidence words to list (default: %(default)s)")
    p.add_argument("--steps", type=int, default=50, help="integration steps (default: %(default)s)")
    p.add_argument("--html", help="also write a self-contained HTML page here")
    p.add_argument("--json", action="store_true", help="one JSON object per text")
    p.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                   help="colour the terminal output (auto: when it is a terminal and NO_COLOR is unset)")
    p.set_defaults(func=_cmd_explain, **{TRAILING: "texts"})
