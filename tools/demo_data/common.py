"""``python -m tools.demo_data.generate``: shared building blocks of the demo-data generators.

Constants, the :class:`DemoRecord` row type, sampling and formatting helpers (numbers, money, dates),
label calibration and noise, and the :class:`Voice` that fills narrative templates. Only
:class:`random.Random` instances passed in by the caller are used, so output depends on the seed alone.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, TypeVar

LABEL_NOISE_RATE: float = 0.04
"""Fraction of rows whose primary label is flipped after sampling (exactly ``round(n * rate)`` rows)."""

DEFAULT_ROWS: dict[str, int] = {"credit_text": 3000, "transaction_memo": 4000, "aml_alert": 2500}
"""Number of rows written for each task by default."""

REGIONS: tuple[str, ...] = ("north", "south", "east", "west")
"""Values of the ``region`` column (credit and AML)."""

DATE_RANGE: tuple[date, date] = (date(2022, 1, 3), date(2024, 9, 30))
"""First and last application / alert date (credit and AML)."""

LONG_MAX_WORDS: int = 600
"""Upper bound on the word count of a long-form narrative."""

T = TypeVar("T")


@dataclass(frozen=True)
class DemoRecord:
    """One generated row.

    Attributes:
        row: The public columns, in output order (this is what is written to JSONL).
        meta: Hidden generation details (latent score, clean label, whether the label was flipped,
            layout flags, ...). Not written to the shipped files; useful for tests and analysis.
    """

    row: dict[str, Any]
    meta: dict[str, Any] = field(default_factory=dict)


_NUM_WORDS: tuple[str, ...] = (
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
)
_MONTHS: tuple[str, ...] = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def pick(rng: random.Random, items: Sequence[T]) -> T:
    """Return a uniformly random element of ``items``."""
    return items[rng.randrange(len(items))]


def wpick(rng: random.Random, pairs: Sequence[tuple[T, float]]) -> T:
    """Return the first element of a ``(item, weight)`` pair chosen proportionally to weight."""
    total = sum(weight for _, weight in pairs)
    x = rng.random() * total
    for item, weight in pairs:
        if weight <= 0:
            continue
        x -= weight
        if x < 0:
            return item
    return next(item for item, weight in reversed(pairs) if weight > 0)


def chance(rng: random.Random, p: float) -> bool:
    """Return True with probability ``p``."""
    return rng.random() < p


def sigmoid(x: float) -> float:
    """Numerically stable logistic function."""
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


def poisson(rng: random.Random, lam: float) -> int:
    """Draw a Poisson variate (Knuth's method; fine for the small rates used here)."""
    limit = math.exp(-lam)
    k = 0
    prod = rng.random()
    while prod > limit:
        k += 1
        prod *= rng.random()
    return k


def clip(x: float, lo: float, hi: float) -> float:
    """Clamp ``x`` to ``[lo, hi]``."""
    return max(lo, min(hi, x))


def round_to(x: float, step: float) -> float:
    """Round ``x`` to a positive multiple of ``step``."""
    return max(step, round(x / step) * step)


def cap(text: str) -> str:
    """Upper-case the first character of ``text``."""
    return text[:1].upper() + text[1:] if text else text


def article(word: str) -> str:
    """Return ``word`` prefixed with the right indefinite article ("a"/"an")."""
    head = word.split()[0] if word.split() else word
    if head.isupper() and len(head) > 1:
        vowel_sound = head[0] in "AEFHILMNORSX"
    else:
        vowel_sound = head[:1].lower() in "aeiou"
    return f"{'an' if vowel_sound else 'a'} {word}"


def num(rng: random.Random, n: int, p_word: float = 0.5) -> str:
    """Render a small integer either as digits or as an English word."""
    if 0 <= n < len(_NUM_WORDS) and chance(rng, p_word):
        return _NUM_WORDS[n]
    return str(n)


def money(rng: random.Random, amount: float, *, compact_ok: bool = True) -> str:
    """Format a dollar amount in one of several realistic styles."""
    whole = abs(amount - round(amount)) < 1e-9
    style = wpick(
        rng,
        (
            ("plain", 0.60),
            ("cents", 0.10),
            ("k", 0.14 if compact_ok and amount >= 1000 and round(amount) % 100 == 0 else 0.0),
            ("usd_suffix", 0.06),
            ("usd_prefix", 0.05),
            ("dollars", 0.05),
        ),
    )
    body = f"{amount:,.0f}" if whole else f"{amount:,.2f}"
    if style == "cents":
        return f"${amount:,.2f}"
    if style == "k":
        return f"${amount / 1000:g}k" if chance(rng, 0.7) else f"{amount / 1000:g}k"
    if style == "usd_suffix":
        return f"{body} USD"
    if style == "usd_prefix":
        return f"USD {body}"
    if style == "dollars":
        return f"{body} dollars"
    return f"${body}"


def fmt_date(rng: random.Random, d: date, *, coarse: bool = False) -> str:
    """Format a date; ``coarse`` gives month-level precision ("March 2023")."""
    month = _MONTHS[d.month - 1]
    if coarse:
        return pick(rng, (f"{month} {d.year}", f"{month[:3]} {d.year}", f"{d.month:02d}/{d.year}"))
    return pick(
        rng,
        (
            d.isoformat(),
            f"{d.month:02d}/{d.day:02d}/{d.year}",
            f"{d.day} {month[:3]} {d.year}",
            f"{month} {d.day}, {d.year}",
            f"{d.month}/{d.day}/{d.year % 100:02d}",
        ),
    )


def add_months(d: date, months: int) -> date:
    """Shift ``d`` by a (possibly negative) number of months, clamping the day to 28."""
    years, month0 = divmod(d.month - 1 + months, 12)
    return date(d.year + years, month0 + 1, min(d.day, 28))


def rand_date(rng: random.Random, start: date, end: date) -> date:
    """Uniform random date in ``[start, end]``."""
    return start + timedelta(days=rng.randrange((end - start).days + 1))


def words(text: str) -> int:
    """Whitespace word count."""
    return len(text.split())


def join_sentences(sentences: Sequence[str]) -> str:
    """Join non-empty sentences with single spaces."""
    return " ".join(s.strip() for s in sentences if s and s.strip())


def _calibrate_intercept(scores: Sequence[float], target: float, scale: float) -> float:
    """Find ``b`` such that ``mean(sigmoid(scale * s + b)) == target`` (bisection, deterministic)."""
    lo, hi = -30.0, 30.0
    for _ in range(80):
        mid = (lo + hi) / 2.0
        mean = sum(sigmoid(scale * s + mid) for s in scores) / len(scores)
        if mean < target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2.0


def pre_noise_rate(target_after_noise: float, noise: float) -> float:
    """Positive rate to sample before symmetric flipping so that the final rate equals the target."""
    return clip((target_after_noise - noise) / (1.0 - 2.0 * noise), 0.001, 0.999)


def draw_labels(
    rng: random.Random, scores: Sequence[float], target: float, scale: float
) -> tuple[list[float], list[bool], set[int]]:
    """Sample binary labels from a calibrated logistic of ``scores`` and choose the rows to flip.

    Args:
        rng: Random source (advanced by one draw per row, then by the choice of flipped rows).
        scores: Latent log-odds per row.
        target: Mean positive probability to calibrate the intercept to.
        scale: Multiplier on the scores before the logistic.

    Returns:
        ``(probabilities, clean_labels, flipped_rows)``; ``flipped_rows`` holds exactly
        ``round(len(scores) * LABEL_NOISE_RATE)`` row indices.
    """
    intercept = _calibrate_intercept(scores, target, scale)
    probs = [sigmoid(scale * s + intercept) for s in scores]
    clean = [chance(rng, p) for p in probs]
    flipped = set(rng.sample(range(len(scores)), round(len(scores) * LABEL_NOISE_RATE)))
    return probs, clean, flipped


def list_join(parts: Sequence[str]) -> str:
    """English list join: "a, b and c"."""
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


@dataclass
class Voice:
    """Who is writing a narrative and how the subject is referred to.

    ``kind`` is ``"first"`` (applicant writes), ``"third"`` (underwriter / investigator note),
    ``"broker"`` (intermediary writes about "my client") or ``"terse"`` (abbreviated field notes).
    """

    kind: str
    name: str
    pronoun: str
    possessive: str
    rng: random.Random
    mentioned: bool = False
    aliases: tuple[str, ...] = ()

    def ctx(self) -> dict[str, str]:
        """Template variables for one sentence (subject reference varies sentence to sentence)."""
        if self.kind == "first":
            return {"pos": "my", "Pos": "My", "who": "I", "Who": "I", "pr": "I", "Pr": "I"}
        if self.aliases:
            options = list(self.aliases)
        elif self.kind == "broker":
            options = ["my client", "the client", "our client", self.name]
        else:
            options = [self.name, "the applicant", "the borrower", self.name]
        if self.mentioned:
            options += [self.pronoun, self.pronoun]
        who = pick(self.rng, options)
        return {
            "who": who,
            "Who": cap(who),
            "pr": self.pronoun,
            "Pr": cap(self.pronoun),
            "pos": self.possessive,
            "Pos": cap(self.possessive),
        }


def courtesy_title(gender: str) -> str:
    """Courtesy title for a ``"m"`` / ``"f"`` gender code."""
    return "Ms." if gender == "f" else "Mr."


def person_voice(rng: random.Random, kind: str, name: str, gender: str, aliases: tuple[str, ...] = ()) -> Voice:
    """Voice that refers to a person by ``name``, ``aliases`` and gendered pronouns."""
    female = gender == "f"
    return Voice(kind, name, "she" if female else "he", "her" if female else "his", rng, aliases=aliases)


def say(
    rng: random.Random,
    voice: Voice,
    first: Sequence[str],
    third: Sequence[str],
    terse: Sequence[str] = (),
    **kw: Any,
) -> str:
    """Pick a template for the voice, fill it and capitalise the first letter."""
    if voice.kind == "first":
        templates = first
    elif voice.kind == "terse" and terse:
        templates = terse
    else:
        templates = third
    template = pick(rng, templates)
    text = cap(template.format(**voice.ctx(), **kw))
    if "{Who}" in template or "{who}" in template:
        voice.mentioned = True  # later sentences may now use a pronoun
    return text
