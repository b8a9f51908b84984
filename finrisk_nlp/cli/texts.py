"""Texts from the command line or a file, as ``finrisk predict`` and ``finrisk explain`` take them.

    finrisk predict runs/credit_text "text one" "text two"
    finrisk explain runs/credit_text --file narratives.txt
"""

from __future__ import annotations

import argparse
from pathlib import Path

from finrisk_nlp.errors import FinriskError


def read_texts(args: argparse.Namespace, verb: str) -> list[str]:
    """Texts given as arguments plus those in ``--file`` (one per line); an error if there are none."""
    texts = list(args.texts)
    if args.file:
        path = Path(args.file)
        if not path.is_file():
            raise FinriskError(f"--file {str(path)!r} does not exist; give a text file with one text per line")
        texts += [line.strip() for line in path.read_text().splitlines() if line.strip()]
    if not texts:
        raise FinriskError(f"nothing to {verb}: give texts as arguments or --file with one text per line")
    return texts
