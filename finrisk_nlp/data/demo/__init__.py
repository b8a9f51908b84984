"""Synthetic demo datasets shipped with finrisk_nlp.

Three small JSONL datasets live next to this module so that examples, tests and tutorials can run
without any external data:

* ``credit_text`` -- 3000 loan application narratives. Columns ``text``, ``outcome``
  (``"repaid"``/``"default"``), ``region``, ``channel``, ``id``.
* ``transaction_memo`` -- 4000 short, noisy bank transaction memos. Columns ``text``, ``category``
  (eight spending categories), ``suspicious`` (``"yes"``/``"no"``), ``id``.
* ``aml_alert`` -- 2500 AML alert case notes. Columns ``text``, ``disposition``
  (``"escalate"``/``"close"``), ``typologies`` (JSON list), ``region``, ``channel``, ``id``.

All rows are synthetic. Labels come from a latent score over structured factors with logistic sampling
and deliberate label noise, so the data is learnable but not keyword-trivial. See ``README.md`` in this
directory for details. The generators live outside the package, in the repository's ``tools/demo_data/``
(``make data`` regenerates these files byte for byte).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DEMO_TASKS: tuple[str, ...] = ("credit_text", "transaction_memo", "aml_alert")
"""Names of the shipped demo datasets (each is ``<name>.jsonl`` in this directory)."""

DEMO_DIR: Path = Path(__file__).resolve().parent
"""Directory holding the shipped JSONL files."""


def demo_path(task_name: str) -> Path:
    """Return the path of the shipped JSONL file for ``task_name``.

    Args:
        task_name: One of :data:`DEMO_TASKS` (``"credit_text"``, ``"transaction_memo"``,
            ``"aml_alert"``).

    Returns:
        Absolute path to ``<task_name>.jsonl`` inside this package.

    Raises:
        ValueError: If ``task_name`` is not a known demo dataset.
    """
    if task_name not in DEMO_TASKS:
        raise ValueError(f"Unknown demo dataset {task_name!r}; valid names are: {', '.join(DEMO_TASKS)}")
    return DEMO_DIR / f"{task_name}.jsonl"


def load_demo(task_name: str) -> list[dict[str, Any]]:
    """Load a shipped demo dataset as a list of row dictionaries.

    Args:
        task_name: One of :data:`DEMO_TASKS`.

    Returns:
        The rows of the JSONL file, in file order.

    Raises:
        ValueError: If ``task_name`` is not a known demo dataset.
        FileNotFoundError: If the shipped file is missing (e.g. a broken install).
    """
    path = demo_path(task_name)
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


__all__ = ["DEMO_DIR", "DEMO_TASKS", "demo_path", "load_demo"]
