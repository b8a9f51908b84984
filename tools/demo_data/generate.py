"""``python -m tools.demo_data.generate [--task all] [--out DIR] [--seed 0] [--rows N]``: rebuild the demo data.

Regenerates the synthetic datasets shipped in ``finrisk_nlp.data.demo``:

* ``credit_text`` -- loan application narratives labelled ``repaid`` / ``default`` (:mod:`.credit`).
* ``transaction_memo`` -- short, noisy bank transaction memos with a spending ``category`` and a
  ``suspicious`` flag (:mod:`.transactions`).
* ``aml_alert`` -- anti-money-laundering alert case notes labelled ``escalate`` / ``close`` together
  with the list of investigated ``typologies`` (:mod:`.aml`).

How labels are made (all tasks):

1. Structured factors are sampled first (income, debts, payment history, collateral, ... for credit;
   amounts, velocity, jurisdictions, customer explanations, ... for AML; amount, merchant risk,
   transfer velocity, ... for transactions). A hidden per-row trait correlates the factors.
2. A latent log-odds score is computed from the factors (several of which only matter as ratios,
   e.g. requested amount vs. income, observed vs. expected account activity).
3. The label is sampled from a logistic of the score; the intercept is calibrated by bisection so the
   class balance hits a target.
4. A fixed fraction of labels is flipped as label noise (:data:`LABEL_NOISE_RATE`).

The factors are rendered to text through many paraphrased templates in several voices, including
negations ("no missed payments in 5 years" vs. "missed three payments") and mitigating context, so
that the data is learnable but not keyword-trivial. Realistic-looking but fake PII (e-mail addresses,
phone numbers, Luhn-valid card numbers, checksum-valid IBANs, SSN-like numbers, account and routing
numbers) appears in a share of rows so that redaction features have something to find (:mod:`.pii`).

Output is byte-identical for a given ``--seed`` (only :class:`random.Random` with string seeds is used);
the shipped files were written with ``--seed 0``.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

from finrisk_nlp.data.demo import DEMO_DIR, DEMO_TASKS
from finrisk_nlp.provenance import atomic_path

from .aml import generate_aml_alert
from .common import DEFAULT_ROWS, LABEL_NOISE_RATE, DemoRecord
from .credit import generate_credit_text
from .pii import iban_is_valid, luhn_is_valid
from .transactions import generate_transaction_memo

LOGGER = logging.getLogger(__name__)

GENERATORS: dict[str, Callable[[int, int], list[DemoRecord]]] = {
    "credit_text": generate_credit_text,
    "transaction_memo": generate_transaction_memo,
    "aml_alert": generate_aml_alert,
}
"""Generator function for each task name; each takes ``(n, seed)``."""


def generate_task(task: str, seed: int = 0, n: int | None = None) -> list[DemoRecord]:
    """Generate the records of one task.

    Args:
        task: One of :data:`finrisk_nlp.data.demo.DEMO_TASKS`.
        seed: Random seed.
        n: Number of rows (defaults to :data:`DEFAULT_ROWS`).

    Returns:
        The generated records.

    Raises:
        ValueError: If ``task`` is unknown.
    """
    if task not in GENERATORS:
        raise ValueError(f"Unknown task {task!r}; valid names are: {', '.join(DEMO_TASKS)}")
    return GENERATORS[task](DEFAULT_ROWS[task] if n is None else n, seed)


def write_jsonl(records: Sequence[DemoRecord], path: Path) -> None:
    """Write the public columns of ``records`` to ``path`` atomically (temp file + ``os.replace``).

    Args:
        records: Records to write, one JSON object per line (UTF-8, ``\\n`` line endings).
        path: Destination file; its parent directory is created if needed.
    """
    with atomic_path(path) as tmp:
        with tmp.open("w", encoding="utf-8", newline="\n") as handle:
            for record in records:
                handle.write(json.dumps(record.row, ensure_ascii=False) + "\n")
        tmp.chmod(0o644)  # mkstemp creates 0600; shipped data should be world-readable


def _summarise(task: str, records: Sequence[DemoRecord]) -> str:
    """One-line class-balance summary for logging."""
    label = {"credit_text": "outcome", "transaction_memo": "suspicious", "aml_alert": "disposition"}[task]
    counts: dict[str, int] = {}
    for record in records:
        value = str(record.row[label])
        counts[value] = counts.get(value, 0) + 1
    parts = ", ".join(f"{k}={v} ({v / len(records):.1%})" for k, v in sorted(counts.items()))
    return f"{label}: {parts}"


def _build_parser() -> argparse.ArgumentParser:
    """Command-line interface definition."""
    parser = argparse.ArgumentParser(
        prog="python -m tools.demo_data.generate",
        description="Regenerate the synthetic finrisk_nlp demo datasets (deterministic for a given seed).",
    )
    parser.add_argument("--task", choices=[*DEMO_TASKS, "all"], default="all", help="dataset to generate")
    parser.add_argument("--out", type=Path, default=DEMO_DIR, help="output directory (default: the package dir)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0, used for shipped files)")
    parser.add_argument("--rows", type=int, default=None, help="override the number of rows (for quick tests)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: generate the requested dataset(s) and write ``<task>.jsonl`` files.

    Args:
        argv: Command-line arguments (defaults to ``sys.argv[1:]``).

    Returns:
        Process exit code (0 on success).
    """
    args = _build_parser().parse_args(argv)
    if args.rows is not None and args.rows <= 0:
        _build_parser().error("--rows must be positive")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    tasks = list(DEMO_TASKS) if args.task == "all" else [args.task]
    for task in tasks:
        records = generate_task(task, seed=args.seed, n=args.rows)
        path = Path(args.out) / f"{task}.jsonl"
        write_jsonl(records, path)
        LOGGER.info("wrote %d rows to %s (%s)", len(records), path, _summarise(task, records))
    return 0


__all__ = [
    "DEFAULT_ROWS",
    "GENERATORS",
    "LABEL_NOISE_RATE",
    "DemoRecord",
    "generate_aml_alert",
    "generate_credit_text",
    "generate_task",
    "generate_transaction_memo",
    "iban_is_valid",
    "luhn_is_valid",
    "main",
    "write_jsonl",
]


if __name__ == "__main__":
    raise SystemExit(main())
