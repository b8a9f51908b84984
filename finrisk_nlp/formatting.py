"""How numbers are written in the markdown and text finrisk prints: ``report.md`` after ``finrisk train``, the
model card of ``finrisk registry publish``, fairness tables, ``finrisk explain`` and the reduced-precision gate of
``finrisk export``.
"""

from __future__ import annotations

from typing import Any


def fmt(value: Any, digits: int = 3) -> str:
    """``n/a`` for a missing value, a float to ``digits`` decimals, anything else (a count, a label) as it is."""
    if value is None:
        return "n/a"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def fmt_signed(score: float) -> str:
    """A signed attribution score; scientific notation for the tiny scores of an untrained model."""
    return f"{score:+.3f}" if abs(score) >= 1e-3 or score == 0 else f"{score:+.1e}"
