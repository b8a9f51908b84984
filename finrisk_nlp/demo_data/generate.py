"""Deterministic generators for the synthetic demo datasets shipped in ``finrisk_nlp.demo_data``.

Three tasks are produced:

* ``credit_text`` -- loan application narratives labelled ``repaid`` / ``default``.
* ``transaction_memo`` -- short, noisy bank transaction memos with a spending ``category`` and a
  ``suspicious`` flag.
* ``aml_alert`` -- anti-money-laundering alert case notes labelled ``escalate`` / ``close`` together
  with the list of investigated ``typologies``.

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
numbers) appears in a share of rows so that redaction features have something to find.

Run ``python -m finrisk_nlp.demo_data.generate --task all`` to regenerate the shipped files. Output is
byte-identical for a given ``--seed`` (only :class:`random.Random` with string seeds is used).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import random
import string
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, TypeVar

from finrisk_nlp.demo_data import DEMO_DIR, DEMO_TASKS

LOGGER = logging.getLogger(__name__)

LABEL_NOISE_RATE: float = 0.04
"""Fraction of rows whose primary label is flipped after sampling (exactly ``round(n * rate)`` rows)."""

DEFAULT_ROWS: dict[str, int] = {"credit_text": 3000, "transaction_memo": 4000, "aml_alert": 2500}
"""Number of rows written for each task by default."""

REGIONS: tuple[str, ...] = ("north", "south", "east", "west")
CHANNELS: tuple[str, ...] = ("branch", "online", "broker")
CREDIT_OUTCOMES: tuple[str, ...] = ("repaid", "default")
TXN_CATEGORIES: tuple[str, ...] = (
    "groceries",
    "dining",
    "travel",
    "utilities",
    "cash_withdrawal",
    "p2p_transfer",
    "gambling",
    "crypto",
)
AML_DISPOSITIONS: tuple[str, ...] = ("escalate", "close")
AML_TYPOLOGIES: tuple[str, ...] = ("structuring", "layering", "trade_based", "sanctions")

# Target class balances *after* label noise.
CREDIT_DEFAULT_RATE: float = 0.27
AML_ESCALATE_RATE: float = 0.15
TXN_SUSPICIOUS_RATE: float = 0.06

LONG_MIN_WORDS: int = 350
LONG_MAX_WORDS: int = 600

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


# =====================================================================================================
# Generic helpers
# =====================================================================================================

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


def _pick(rng: random.Random, items: Sequence[T]) -> T:
    """Return a uniformly random element of ``items``."""
    return items[rng.randrange(len(items))]


def _wpick(rng: random.Random, pairs: Sequence[tuple[T, float]]) -> T:
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


def _chance(rng: random.Random, p: float) -> bool:
    """Return True with probability ``p``."""
    return rng.random() < p


def _sigmoid(x: float) -> float:
    """Numerically stable logistic function."""
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


def _poisson(rng: random.Random, lam: float) -> int:
    """Draw a Poisson variate (Knuth's method; fine for the small rates used here)."""
    limit = math.exp(-lam)
    k = 0
    prod = rng.random()
    while prod > limit:
        k += 1
        prod *= rng.random()
    return k


def _clip(x: float, lo: float, hi: float) -> float:
    """Clamp ``x`` to ``[lo, hi]``."""
    return max(lo, min(hi, x))


def _round_to(x: float, step: float) -> float:
    """Round ``x`` to a positive multiple of ``step``."""
    return max(step, round(x / step) * step)


def _cap(text: str) -> str:
    """Upper-case the first character of ``text``."""
    return text[:1].upper() + text[1:] if text else text


def _article(word: str) -> str:
    """Return ``word`` prefixed with the right indefinite article ("a"/"an")."""
    head = word.split()[0] if word.split() else word
    if head.isupper() and len(head) > 1:
        vowel_sound = head[0] in "AEFHILMNORSX"
    else:
        vowel_sound = head[:1].lower() in "aeiou"
    return f"{'an' if vowel_sound else 'a'} {word}"


def _num(rng: random.Random, n: int, p_word: float = 0.5) -> str:
    """Render a small integer either as digits or as an English word."""
    if 0 <= n < len(_NUM_WORDS) and _chance(rng, p_word):
        return _NUM_WORDS[n]
    return str(n)


def _money(rng: random.Random, amount: float, *, compact_ok: bool = True) -> str:
    """Format a dollar amount in one of several realistic styles."""
    whole = abs(amount - round(amount)) < 1e-9
    style = _wpick(
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
        return f"${amount / 1000:g}k" if _chance(rng, 0.7) else f"{amount / 1000:g}k"
    if style == "usd_suffix":
        return f"{body} USD"
    if style == "usd_prefix":
        return f"USD {body}"
    if style == "dollars":
        return f"{body} dollars"
    return f"${body}"


def _fmt_date(rng: random.Random, d: date, *, coarse: bool = False) -> str:
    """Format a date; ``coarse`` gives month-level precision ("March 2023")."""
    month = _MONTHS[d.month - 1]
    if coarse:
        return _pick(rng, (f"{month} {d.year}", f"{month[:3]} {d.year}", f"{d.month:02d}/{d.year}"))
    return _pick(
        rng,
        (
            d.isoformat(),
            f"{d.month:02d}/{d.day:02d}/{d.year}",
            f"{d.day} {month[:3]} {d.year}",
            f"{month} {d.day}, {d.year}",
            f"{d.month}/{d.day}/{d.year % 100:02d}",
        ),
    )


def _add_months(d: date, months: int) -> date:
    """Shift ``d`` by a (possibly negative) number of months, clamping the day to 28."""
    years, month0 = divmod(d.month - 1 + months, 12)
    return date(d.year + years, month0 + 1, min(d.day, 28))


def _rand_date(rng: random.Random, start: date, end: date) -> date:
    """Uniform random date in ``[start, end]``."""
    return start + timedelta(days=rng.randrange((end - start).days + 1))


def _words(text: str) -> int:
    """Whitespace word count."""
    return len(text.split())


def _join(sentences: Sequence[str]) -> str:
    """Join non-empty sentences with single spaces."""
    return " ".join(s.strip() for s in sentences if s and s.strip())


def _calibrate_intercept(scores: Sequence[float], target: float, scale: float) -> float:
    """Find ``b`` such that ``mean(sigmoid(scale * s + b)) == target`` (bisection, deterministic)."""
    lo, hi = -30.0, 30.0
    for _ in range(80):
        mid = (lo + hi) / 2.0
        mean = sum(_sigmoid(scale * s + mid) for s in scores) / len(scores)
        if mean < target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2.0


def _pre_noise_rate(target_after_noise: float, noise: float) -> float:
    """Positive rate to sample before symmetric flipping so that the final rate equals the target."""
    return _clip((target_after_noise - noise) / (1.0 - 2.0 * noise), 0.001, 0.999)


# =====================================================================================================
# Fake PII (all randomly generated; formats and checksums are valid so redaction can be tested)
# =====================================================================================================

_FIRST_MALE: tuple[str, ...] = (
    "James",
    "Michael",
    "Robert",
    "David",
    "Daniel",
    "Carlos",
    "Jose",
    "Ahmed",
    "Wei",
    "Raj",
    "Tomasz",
    "Kwame",
    "Liam",
    "Noah",
    "Ethan",
    "Marcus",
    "Andre",
    "Hiroshi",
    "Dmitri",
    "Luis",
    "Patrick",
    "Samuel",
    "Omar",
    "Jamal",
    "Kevin",
    "Brian",
    "Mateo",
    "Arjun",
    "Connor",
    "Victor",
)
_FIRST_FEMALE: tuple[str, ...] = (
    "Mary",
    "Jennifer",
    "Linda",
    "Sarah",
    "Maria",
    "Aisha",
    "Mei",
    "Priya",
    "Olga",
    "Fatima",
    "Emily",
    "Olivia",
    "Sofia",
    "Grace",
    "Keisha",
    "Ana",
    "Hannah",
    "Chloe",
    "Yuki",
    "Nadia",
    "Rachel",
    "Laura",
    "Tanya",
    "Rosa",
    "Joanne",
    "Imani",
    "Lucia",
    "Megan",
    "Ingrid",
    "Deborah",
)
_LAST_NAMES: tuple[str, ...] = (
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Garcia",
    "Martinez",
    "Nguyen",
    "Patel",
    "Kim",
    "Okafor",
    "Kowalski",
    "O'Brien",
    "Murphy",
    "Rossi",
    "Schmidt",
    "Haddad",
    "Chen",
    "Singh",
    "Mensah",
    "Hernandez",
    "Lopez",
    "Walker",
    "Thompson",
    "Wright",
    "Clarke",
    "Novak",
    "Yilmaz",
    "Dubois",
    "Fischer",
    "Sato",
    "Ali",
    "Baker",
    "Reed",
    "Campbell",
    "Foster",
    "Hughes",
    "Adeyemi",
    "Petrov",
    "Silva",
    "Morales",
    "Jensen",
    "Kaur",
    "Osei",
    "Larsen",
    "Duarte",
    "Greenberg",
    "Moreau",
    "Tanaka",
)
_EMAIL_DOMAINS: tuple[str, ...] = (
    "gmail.com",
    "yahoo.com",
    "outlook.com",
    "hotmail.com",
    "icloud.com",
    "aol.com",
    "proton.me",
    "comcast.net",
    "msn.com",
    "live.com",
)
_AREA_CODES: tuple[str, ...] = (
    "212",
    "312",
    "415",
    "617",
    "702",
    "305",
    "404",
    "214",
    "713",
    "206",
    "503",
    "602",
    "402",
    "646",
    "718",
    "917",
    "469",
    "818",
    "720",
    "615",
    "480",
    "347",
    "773",
    "216",
    "412",
    "513",
    "919",
    "704",
)
_IBAN_SPECS: tuple[tuple[str, tuple[str, ...], int], ...] = (
    # country, possible alphabetic bank codes (empty: numeric BBAN), number of trailing digits
    ("DE", (), 18),
    ("GB", ("NWBK", "BARC", "HBUK", "LOYD", "MIDL", "SCBL"), 14),
    ("NL", ("ABNA", "INGB", "RABO", "TRIO"), 10),
    ("FR", (), 23),
    ("ES", (), 20),
    ("CH", (), 17),
    ("AE", (), 19),
    ("CY", (), 24),
    ("IE", ("AIBK", "BOFI", "IPBS"), 14),
)


def luhn_is_valid(number: str) -> bool:
    """Return True if the digits of ``number`` (separators ignored) pass the Luhn checksum."""
    digits = [int(c) for c in number if c.isdigit()]
    if len(digits) < 12:
        return False
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def iban_is_valid(iban: str) -> bool:
    """Return True if ``iban`` (spaces ignored) passes the ISO 13616 mod-97 check."""
    compact = iban.replace(" ", "").upper()
    if len(compact) < 15 or not compact[:2].isalpha():
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


def _digits(rng: random.Random, n: int) -> str:
    """Return ``n`` random decimal digits."""
    return "".join(str(rng.randrange(10)) for _ in range(n))


def _card_number(rng: random.Random) -> str:
    """Luhn-valid Visa / Mastercard / Amex number in a random print style."""
    brand = _wpick(rng, (("visa", 0.55), ("mc", 0.35), ("amex", 0.10)))
    if brand == "visa":
        body = "4" + _digits(rng, 14)
    elif brand == "mc":
        body = str(rng.randint(51, 55)) + _digits(rng, 13)
    else:
        body = _pick(rng, ("34", "37")) + _digits(rng, 12)
    number = next(body + c for c in string.digits if luhn_is_valid(body + c))
    sep = _wpick(rng, ((" ", 0.5), ("-", 0.25), ("", 0.25)))
    groups = (4, 6, 5) if brand == "amex" else (4, 4, 4, 4)
    parts: list[str] = []
    pos = 0
    for size in groups:
        parts.append(number[pos : pos + size])
        pos += size
    return sep.join(parts)


def _iban(rng: random.Random, country: str | None = None) -> str:
    """Checksum-valid IBAN, printed in groups of four 60% of the time."""
    specs = [s for s in _IBAN_SPECS if country is None or s[0] == country] or list(_IBAN_SPECS)
    cc, banks, n_digits = _pick(rng, specs)
    bban = (_pick(rng, banks) if banks else "") + _digits(rng, n_digits)
    numeric = "".join(str(int(ch, 36)) for ch in bban + cc + "00")
    iban = f"{cc}{98 - int(numeric) % 97:02d}{bban}"
    if _chance(rng, 0.6):
        return " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))
    return iban


def _ssn(rng: random.Random) -> str:
    """SSN-shaped number (area 001-899 except 666, non-zero group and serial)."""
    area = rng.randint(1, 898)
    if area >= 666:
        area += 1
    group = rng.randint(1, 99)
    serial = rng.randint(1, 9999)
    if _chance(rng, 0.1):
        return f"{area:03d}{group:02d}{serial:04d}"
    return f"{area:03d}-{group:02d}-{serial:04d}"


def _phone(rng: random.Random) -> str:
    """North-American phone number in a random print style."""
    area = _pick(rng, _AREA_CODES)
    exchange = rng.randint(201, 989)
    line = rng.randint(0, 9999)
    return _pick(
        rng,
        (
            f"({area}) {exchange}-{line:04d}",
            f"{area}-{exchange}-{line:04d}",
            f"{area}.{exchange}.{line:04d}",
            f"+1 {area} {exchange} {line:04d}",
            f"{area}-{exchange}-{line:04d}",
        ),
    )


def _email(rng: random.Random, first: str, last: str) -> str:
    """Plausible personal e-mail address for a name."""
    f = "".join(ch for ch in first.lower() if ch.isalpha())
    la = "".join(ch for ch in last.lower() if ch.isalpha())
    local = _pick(
        rng,
        (
            f"{f}.{la}",
            f"{f[0]}{la}",
            f"{f}{la}{rng.randint(1, 99)}",
            f"{la}.{f}{rng.randint(70, 99)}",
            f"{f}_{la}",
            f"{f[0]}.{la}{rng.randint(1, 9)}",
        ),
    )
    return f"{local}@{_pick(rng, _EMAIL_DOMAINS)}"


def _account_number(rng: random.Random) -> str:
    """Bank account number of 9-12 digits."""
    return str(rng.randint(1, 9)) + _digits(rng, rng.randint(8, 11))


def _routing_number(rng: random.Random) -> str:
    """ABA routing number with a valid checksum digit."""
    body = _pick(rng, ("0", "1", "2", "3")) + _digits(rng, 7)
    weights = (3, 7, 1, 3, 7, 1, 3, 7)
    total = sum(int(d) * w for d, w in zip(body, weights, strict=True))
    return body + str((10 - total % 10) % 10)


def _person(rng: random.Random) -> tuple[str, str, str]:
    """Return ``(first, last, gender)`` with gender ``"m"`` or ``"f"``."""
    gender = "f" if _chance(rng, 0.5) else "m"
    first = _pick(rng, _FIRST_FEMALE if gender == "f" else _FIRST_MALE)
    return first, _pick(rng, _LAST_NAMES), gender


def _full_name(rng: random.Random) -> str:
    """Random "First Last" name."""
    first, last, _ = _person(rng)
    return f"{first} {last}"


# =====================================================================================================
# Voice handling for narrative templates
# =====================================================================================================


@dataclass
class _Voice:
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
        who = _pick(self.rng, options)
        return {
            "who": who,
            "Who": _cap(who),
            "pr": self.pronoun,
            "Pr": _cap(self.pronoun),
            "pos": self.possessive,
            "Pos": _cap(self.possessive),
        }


def _say(
    rng: random.Random,
    voice: _Voice,
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
    template = _pick(rng, templates)
    text = _cap(template.format(**voice.ctx(), **kw))
    if "{Who}" in template or "{who}" in template:
        voice.mentioned = True  # later sentences may now use a pronoun
    return text


# =====================================================================================================
# credit_text
# =====================================================================================================

# (occupation, median gross annual income)
_CR_OCCUPATIONS: tuple[tuple[str, int], ...] = (
    ("warehouse supervisor", 44000),
    ("registered nurse", 68000),
    ("secondary school teacher", 56000),
    ("HGV driver", 48000),
    ("software developer", 96000),
    ("office manager", 51000),
    ("retail assistant manager", 36000),
    ("care assistant", 29000),
    ("dental hygienist", 62000),
    ("accountant", 71000),
    ("police officer", 61000),
    ("bus driver", 41000),
    ("machine operator", 38000),
    ("call-centre team leader", 37000),
    ("pharmacist", 112000),
    ("payroll clerk", 39000),
    ("electrician", 58000),
    ("line cook", 33000),
    ("HR adviser", 52000),
    ("civil engineer", 82000),
    ("security officer", 33000),
    ("hotel receptionist", 30000),
    ("lab technician", 45000),
    ("sales representative", 57000),
    ("paralegal", 47000),
    ("forklift operator", 36000),
    ("physiotherapist", 74000),
    ("claims handler", 42000),
    ("postal worker", 40000),
    ("IT support analyst", 53000),
)
_CR_EMPLOYERS: tuple[str, ...] = (
    "Northgate Logistics",
    "St. Anne's Hospital",
    "the Riverside school district",
    "Harbor Freight Lines",
    "Summit Health Partners",
    "the county council",
    "Cobalt Software",
    "Meridian Insurance",
    "Greenfield Foods",
    "Apex Manufacturing",
    "BrightPath Retail",
    "the city transit authority",
    "Lakeside Dental",
    "Pioneer Construction",
    "Evergreen Contact Centres",
    "Fairview Care Home",
    "Atlas Engineering",
    "Crescent Hotels",
    "Blue Ridge Pharmacy",
    "the state police",
    "Keystone Accountancy",
    "Union Rail",
    "Ironwood Security",
    "Westbrook Medical Group",
    "Silverline Telecom",
    "Oakmont University",
    "Redwood Packaging",
    "the regional water utility",
)
# (business, occupation, median annual profit)
_CR_BUSINESSES: tuple[tuple[str, str, int], ...] = (
    ("plumbing", "plumber", 56000),
    ("landscaping", "landscaper", 43000),
    ("hair salon", "hairdresser", 38000),
    ("food truck", "food truck operator", 41000),
    ("commercial cleaning", "cleaning contractor", 39000),
    ("IT consultancy", "IT consultant", 88000),
    ("bakery", "baker", 36000),
    ("wedding photography", "photographer", 42000),
    ("roofing", "roofer", 52000),
    ("personal training", "personal trainer", 37000),
    ("auto repair", "mechanic", 50000),
    ("catering", "caterer", 44000),
    ("dog grooming", "dog groomer", 31000),
    ("tutoring", "tutor", 34000),
    ("painting and decorating", "decorator", 40000),
    ("bookkeeping", "bookkeeper", 46000),
)
# (contract role, median annual income)
_CR_CONTRACT: tuple[tuple[str, int], ...] = (
    ("IT contractor", 85000),
    ("agency nurse", 61000),
    ("delivery driver", 34000),
    ("freelance graphic designer", 45000),
    ("construction labourer", 38000),
    ("event technician", 36000),
    ("supply teacher", 39000),
    ("translator", 41000),
    ("warehouse temp", 29000),
    ("locum pharmacist", 90000),
)
_CR_AGENCIES: tuple[str, ...] = (
    "Hays",
    "a local staffing agency",
    "Randstad",
    "an umbrella company",
    "a gig-economy platform",
    "Reed Recruitment",
    "a specialist IT agency",
)
_CR_CARS: tuple[str, ...] = (
    "Toyota Corolla",
    "Honda Civic",
    "Ford Transit van",
    "Ford Focus",
    "Nissan Qashqai",
    "VW Golf",
    "Hyundai Tucson",
    "Kia Sportage",
    "Mazda CX-5",
    "Chevrolet Malibu",
    "Subaru Outback",
    "Tesla Model 3",
)
_CR_PURPOSES: dict[str, tuple[str, ...]] = {
    "debt_consolidation": (
        "consolidate {pos} credit card balances into one fixed payment",
        "pay off two store cards and an overdraft",
        "clear high-interest card debt and a buy-now-pay-later balance",
        "refinance existing card balances at a lower rate",
        "roll several small loans into a single monthly payment",
        "pay down revolving balances that have built up over the last few years",
    ),
    "home_improvement": (
        "replace the roof on {pos} house",
        "renovate the kitchen",
        "build a single-storey rear extension",
        "install a new heating system and loft insulation",
        "convert the loft into an extra bedroom",
        "repair subsidence damage and redecorate",
        "replace the windows and front door",
    ),
    "vehicle": (
        "buy a used {car}",
        "replace {pos} {car_year} {car}, which failed its inspection",
        "purchase a second-hand van for work",
        "buy a second car for commuting",
    ),
    "business": (
        "buy new equipment for the {biz} business",
        "fit out a second {biz} location",
        "purchase stock ahead of the busy season",
        "fund working capital while a large contract ramps up",
        "buy a vehicle for the {biz} business",
    ),
    "education": (
        "pay tuition for a nursing diploma",
        "cover a commercial driving licence course",
        "fund a part-time MBA",
        "pay for a coding bootcamp",
        "cover university fees for {pos} eldest child",
    ),
    "medical": (
        "pay for dental implants that insurance does not cover",
        "cover the cost of IVF treatment",
        "pay for knee surgery rather than wait for the public list",
        "cover physiotherapy and equipment after an operation",
    ),
    "wedding": (
        "cover wedding costs",
        "pay for the wedding venue and catering",
        "pay for a wedding and honeymoon",
    ),
    "relocation": (
        "cover moving costs and a rental deposit after a job transfer",
        "relocate closer to family and cover the deposit on a new rental",
    ),
    "emergency_repair": (
        "replace a failed boiler",
        "repair storm damage to the roof",
        "fix a burst pipe and water damage that insurance only partly covered",
        "repair the foundations after a sinkhole report",
    ),
}
_CR_PURPOSE_SHORT: dict[str, str] = {
    "debt_consolidation": "debt consolidation",
    "home_improvement": "home improvement",
    "vehicle": "vehicle purchase",
    "business": "business purposes",
    "education": "education",
    "medical": "medical costs",
    "wedding": "wedding",
    "relocation": "relocation",
    "emergency_repair": "emergency home repair",
}
_CR_LTI: dict[str, float] = {
    "debt_consolidation": 0.26,
    "home_improvement": 0.33,
    "vehicle": 0.30,
    "business": 0.45,
    "education": 0.20,
    "medical": 0.14,
    "wedding": 0.20,
    "relocation": 0.12,
    "emergency_repair": 0.12,
}
_CR_TERMS: dict[str, tuple[int, ...]] = {
    "debt_consolidation": (36, 48, 60),
    "home_improvement": (48, 60, 84),
    "vehicle": (36, 48, 60, 72),
    "business": (24, 36, 60),
    "education": (24, 36, 48),
    "medical": (12, 24, 36),
    "wedding": (24, 36),
    "relocation": (12, 24),
    "emergency_repair": (12, 24, 36),
}
_CR_EVENT_EFFECT: dict[str, float] = {
    "none": 0.0,
    "job_loss_higher": 0.0,
    "job_loss_lower": 0.6,
    "unemployed": 1.2,
    "new_job": 0.35,
    "medical_paid": 0.0,
    "medical_plan": 0.3,
    "medical_collections": 1.0,
    "promotion": -0.5,
    "business_expansion": 0.3,
    "divorce": 0.45,
    "new_child": 0.25,
    "inheritance": -0.35,
    "relocation": 0.1,
    "reduced_hours": 0.55,
}


@dataclass
class _Applicant:
    """Structured factors behind one loan application (sampled before any text is written)."""

    first: str
    last: str
    gender: str
    age: int
    region: str
    channel: str
    app_date: date
    discipline: float
    emp_type: str = "salaried"
    occupation: str = ""
    employer: str = ""
    business: str = ""
    tenure_months: int = 0
    income: float = 0.0
    prev_income: float = 0.0
    event: str = "none"
    event_date: date = date(2020, 1, 1)
    event_amount: float = 0.0
    event_payment: float = 0.0
    purpose: str = "debt_consolidation"
    purpose_text: str = ""
    amount: float = 0.0
    term: int = 36
    installment: float = 0.0
    housing: str = "rent"
    housing_cost: float = 0.0
    card_limit: float = 0.0
    card_balance: float = 0.0
    car_payment: float = 0.0
    car_months_left: int = 0
    student_payment: float = 0.0
    other_loan_payment: float = 0.0
    payday_loans: int = 0
    support_payment: float = 0.0
    missed_recent: int = 0
    worst_late: int = 30
    older_lates: int = 0
    derog: str = ""
    derog_year: int = 0
    credit_years: int = 0
    collateral: str = "none"
    collateral_value: float = 0.0
    collateral_owed: float = 0.0
    guarantor: str = ""
    savings: float = 0.0
    marital: str = "single"
    dependents: int = 0
    partner_income: float = 0.0
    partner_occ: str = ""


def _amortized_payment(principal: float, apr: float, months: int) -> float:
    """Monthly instalment of a fully amortising loan."""
    r = apr / 12.0
    return principal * r / (1.0 - (1.0 + r) ** -months)


def _sample_applicant(rng: random.Random, app_date: date) -> _Applicant:
    """Sample the structured factors of one applicant (correlated through a hidden trait)."""
    first, last, gender = _person(rng)
    a = _Applicant(
        first=first,
        last=last,
        gender=gender,
        age=0,
        region=_pick(rng, REGIONS),
        channel=_wpick(rng, (("branch", 0.33), ("online", 0.47), ("broker", 0.20))),
        app_date=app_date,
        discipline=rng.gauss(0.0, 1.0),  # higher = riskier (hidden)
    )
    z = a.discipline
    a.emp_type = _wpick(
        rng, (("salaried", 0.66), ("self_employed", 0.15), ("contract", 0.12), ("retired", 0.07))
    )
    a.age = rng.randint(58, 79) if a.emp_type == "retired" else rng.randint(21, 64)
    region_factor = {"north": 0.93, "south": 0.98, "east": 1.02, "west": 1.07}[a.region]
    if a.emp_type == "salaried":
        a.occupation, median = _pick(rng, _CR_OCCUPATIONS)
        a.employer = _pick(rng, _CR_EMPLOYERS)
        sigma = 0.2
    elif a.emp_type == "self_employed":
        a.business, a.occupation, median = _pick(rng, _CR_BUSINESSES)
        a.employer = f"{last} {a.business.title()}" if _chance(rng, 0.5) else f"{a.business} business"
        sigma = 0.35
    elif a.emp_type == "contract":
        a.occupation, median = _pick(rng, _CR_CONTRACT)
        a.employer = "a nursing bank" if a.occupation == "agency nurse" else _pick(rng, _CR_AGENCIES)
        sigma = 0.3
    else:
        a.occupation, median0 = _pick(rng, _CR_OCCUPATIONS)
        a.employer = _pick(rng, _CR_EMPLOYERS)
        median = int(median0 * 0.55)
        sigma = 0.2
    a.income = _round_to(median * region_factor * rng.lognormvariate(0.0, sigma), 500)
    a.prev_income = a.income
    max_tenure = max(3, (a.age - 18) * 12)
    a.tenure_months = int(_clip(rng.lognormvariate(math.log(50), 0.85), 2, max_tenure))

    # --- recent life event (may rewrite employment facts so the story stays consistent)
    working = a.emp_type != "retired"
    a.event = _wpick(
        rng,
        (
            ("none", 0.42),
            ("job_loss_higher", 0.05 if working else 0),
            ("job_loss_lower", 0.05 if working else 0),
            ("unemployed", 0.02 if working else 0),
            ("new_job", 0.04 if working else 0),
            ("medical_paid", 0.04),
            ("medical_plan", 0.04),
            ("medical_collections", 0.03),
            ("promotion", 0.08 if a.emp_type == "salaried" else 0),
            ("business_expansion", 0.30 if a.emp_type == "self_employed" else 0),
            ("divorce", 0.05),
            ("new_child", 0.05 if a.age < 45 else 0),
            ("inheritance", 0.03),
            ("relocation", 0.03 if working else 0),
            ("reduced_hours", 0.03 if a.emp_type in ("salaried", "contract") else 0),
        ),
    )
    if a.event == "job_loss_higher":
        a.tenure_months = rng.randint(3, 16)
        a.prev_income = _round_to(a.income / rng.uniform(1.05, 1.3), 500)
        a.event_date = _add_months(app_date, -(a.tenure_months + rng.randint(1, 5)))
    elif a.event == "job_loss_lower":
        a.tenure_months = rng.randint(2, 18)
        a.prev_income = _round_to(a.income * rng.uniform(1.15, 1.6), 500)
        a.event_date = _add_months(app_date, -(a.tenure_months + rng.randint(1, 6)))
    elif a.event == "unemployed":
        a.emp_type = "unemployed"
        a.prev_income = a.income
        a.income = _round_to(a.income * rng.uniform(0.25, 0.4), 500)
        a.tenure_months = 0
        a.event_date = _add_months(app_date, -rng.randint(1, 8))
    elif a.event == "new_job":
        a.tenure_months = rng.randint(1, 4)
        a.event_date = _add_months(app_date, -a.tenure_months)
    elif a.event == "promotion":
        a.tenure_months = max(a.tenure_months, 24)
        a.prev_income = _round_to(a.income / rng.uniform(1.08, 1.25), 500)
        a.event_date = _add_months(app_date, -rng.randint(1, 10))
    elif a.event == "reduced_hours":
        a.prev_income = _round_to(a.income * rng.uniform(1.15, 1.4), 500)
        a.event_date = _add_months(app_date, -rng.randint(1, 9))
    elif a.event.startswith("medical"):
        a.event_amount = _round_to(rng.lognormvariate(math.log(7000), 0.8), 100)
        a.event_date = _add_months(app_date, -rng.randint(4, 30))
        if a.event == "medical_plan":
            a.event_payment = _round_to(a.event_amount / rng.randint(12, 36), 5)
    elif a.event == "business_expansion":
        a.event_amount = _round_to(a.income * rng.uniform(0.3, 1.2), 1000)
        a.event_date = _add_months(app_date, -rng.randint(1, 14))
    elif a.event == "inheritance":
        a.event_amount = _round_to(rng.lognormvariate(math.log(35000), 0.7), 1000)
        a.event_date = _add_months(app_date, -rng.randint(2, 20))
    else:
        a.event_date = _add_months(app_date, -rng.randint(2, 18))

    # --- purpose and requested amount
    a.purpose = _wpick(
        rng,
        (
            ("debt_consolidation", 0.26),
            ("home_improvement", 0.15),
            ("vehicle", 0.16),
            ("business", 0.35 if a.emp_type == "self_employed" else 0.02),
            ("education", 0.06),
            ("medical", 0.05),
            ("wedding", 0.05 if a.age < 50 else 0),
            ("relocation", 0.04),
            ("emergency_repair", 0.05),
        ),
    )
    income_ref = max(a.income, 15000.0)
    a.amount = _clip(
        _round_to(income_ref * _CR_LTI[a.purpose] * rng.lognormvariate(0.0, 0.6), 500), 1000, 250000
    )
    a.term = _pick(rng, _CR_TERMS[a.purpose])
    a.installment = _amortized_payment(a.amount, rng.uniform(0.07, 0.15), a.term)

    # --- household
    a.marital = _wpick(
        rng,
        (
            ("single", 0.34),
            ("married", 0.40),
            ("partner", 0.14),
            ("divorced", 0.09),
            ("widowed", 0.05 if a.age > 55 else 0),
        ),
    )
    if a.event == "divorce":
        a.marital = "divorced"
    a.dependents = 0 if a.age < 22 or a.emp_type == "retired" else min(5, _poisson(rng, 0.9))
    if a.event == "new_child":
        a.dependents = max(1, a.dependents)
    if a.marital in ("married", "partner") and _chance(rng, 0.7):
        a.partner_occ, p_median = _pick(rng, _CR_OCCUPATIONS)
        a.partner_income = _round_to(p_median * rng.lognormvariate(0.0, 0.3) * rng.uniform(0.5, 1.0), 500)
    if a.event == "divorce" and a.dependents:
        a.support_payment = _round_to(rng.uniform(250, 900), 25)

    # --- housing and existing debts (correlated with the hidden trait)
    monthly = a.income / 12.0
    a.housing = _wpick(
        rng,
        (
            ("rent", 0.42),
            ("mortgage", 0.38),
            ("family", 0.12 if a.age < 35 else 0.03),
            ("owned", 0.14 if a.age > 50 else 0.02),
        ),
    )
    if a.housing in ("rent", "mortgage"):
        a.housing_cost = _round_to(max(monthly, 1500) * rng.uniform(0.16, 0.38), 25)
    elif a.housing == "family":
        a.housing_cost = float(_pick(rng, (0, 150, 200, 250, 300, 400)))
    if _chance(rng, 0.82):
        a.card_limit = _round_to(a.income * rng.uniform(0.08, 0.4), 500)
        util = _clip(_sigmoid(-0.7 + 1.1 * z + rng.gauss(0.0, 0.8)), 0.0, 0.99)
        a.card_balance = _round_to(a.card_limit * util, 50) if util > 0.02 else 0.0
    if _chance(rng, 0.33) or (a.purpose == "vehicle" and _chance(rng, 0.2)):
        a.car_payment = _round_to(rng.lognormvariate(math.log(340), 0.35), 5)
        a.car_months_left = rng.randint(4, 50)
    if _chance(rng, 0.22 if a.age < 40 else 0.05):
        a.student_payment = _round_to(rng.lognormvariate(math.log(260), 0.4), 5)
    if _chance(rng, 0.1 + 0.06 * max(0.0, z)):
        a.other_loan_payment = _round_to(rng.lognormvariate(math.log(230), 0.5), 5)
    a.payday_loans = min(6, _poisson(rng, 0.07 * math.exp(1.1 * z)))

    # --- credit history
    a.missed_recent = min(9, _poisson(rng, 0.33 * math.exp(0.95 * z)))
    if a.missed_recent >= 2:
        a.worst_late = _wpick(rng, ((30, 0.5), (60, 0.3), (90, 0.2)))
    a.older_lates = min(5, _poisson(rng, 0.25 * math.exp(0.6 * z)))
    if _chance(rng, 0.035 * math.exp(0.9 * z)):
        a.derog = _wpick(rng, (("default", 0.45), ("chargeoff", 0.3), ("bankruptcy", 0.25)))
        a.derog_year = app_date.year - rng.randint(2, 9)
    a.credit_years = int(_clip(rng.lognormvariate(math.log(9), 0.6), 0, a.age - 18))

    # --- savings and collateral
    reserve_months = rng.lognormvariate(math.log(1.6) - 0.55 * z, 0.9)
    a.savings = 0.0 if _chance(rng, 0.15 + 0.08 * max(0.0, z)) else _round_to(monthly * reserve_months, 100)
    if a.event == "inheritance":
        a.savings += _round_to(a.event_amount * rng.uniform(0.3, 0.8), 100)
    a.collateral = _wpick(
        rng,
        (
            ("none", 0.50),
            ("vehicle", 0.45 if a.purpose == "vehicle" else 0.04),
            ("property", 0.28 if a.housing in ("mortgage", "owned") else 0),
            ("savings", 0.07 if a.savings > 2000 else 0),
            ("guarantor", 0.12),
        ),
    )
    if a.collateral == "property":
        a.collateral_value = _round_to(rng.lognormvariate(math.log(290000 * region_factor), 0.35), 5000)
        owed_frac = rng.uniform(0.25, 0.97) if a.housing == "mortgage" else 0.0
        a.collateral_owed = _round_to(a.collateral_value * owed_frac, 1000) if owed_frac else 0.0
    elif a.collateral == "vehicle":
        base = a.amount if a.purpose == "vehicle" else rng.lognormvariate(math.log(12000), 0.4)
        a.collateral_value = _round_to(base * rng.uniform(0.85, 1.3), 500)
    elif a.collateral == "savings":
        a.collateral_value = _round_to(min(a.savings, a.amount * rng.uniform(0.3, 1.0)), 100)
    elif a.collateral == "guarantor":
        a.guarantor = _pick(rng, ("father", "mother", "brother", "sister", "uncle", "business partner"))
    return a


def _credit_score(a: _Applicant) -> tuple[float, dict[str, float]]:
    """Latent default log-odds (before scaling / intercept) and a few diagnostic ratios."""
    monthly = max(a.income / 12.0, 500.0)
    existing = (
        a.housing_cost
        + a.card_balance * 0.03
        + a.car_payment
        + a.student_payment
        + a.other_loan_payment
        + a.support_payment
        + a.event_payment
    )
    dti = (existing + a.installment) / monthly
    lti = a.amount / max(a.income, 6000.0)
    reserves = a.savings / monthly
    s = 0.0
    s += 2.2 * max(0.0, dti - 0.36) + 1.6 * max(0.0, dti - 0.55) - 1.0 * max(0.0, 0.30 - dti)
    s += 0.6 * math.log(max(lti, 0.05) / 0.3)
    if a.emp_type in ("salaried", "contract", "self_employed"):
        if a.tenure_months < 6:
            s += 0.7
        elif a.tenure_months < 24:
            s += 0.35
        elif a.tenure_months >= 72:
            s -= 0.35
    s += {"contract": 0.3, "self_employed": 0.2, "unemployed": 0.6, "retired": -0.2}.get(a.emp_type, 0.0)
    s += {0: -0.7, 1: 0.15, 2: 0.75, 3: 1.2}.get(a.missed_recent, 1.5 + 0.15 * (a.missed_recent - 4))
    s += {60: 0.2, 90: 0.4}.get(a.worst_late, 0.0) if a.missed_recent >= 2 else 0.0
    s += 0.15 * min(a.older_lates, 3)
    if a.derog:
        recency = 1.0 if a.app_date.year - a.derog_year < 4 else 0.6
        s += {"default": 1.1, "chargeoff": 1.0, "bankruptcy": 0.8}[a.derog] * recency
    if a.card_limit:
        s += 1.6 * (a.card_balance / a.card_limit - 0.45)
    s += 0.45 * min(a.payday_loans, 3)
    s -= 0.15 * min(reserves, 6.0)
    if a.collateral == "property":
        cover = max(0.0, a.collateral_value - a.collateral_owed) / a.amount
        s -= 0.3 + 0.5 * min(cover, 2.0) / 2.0
    elif a.collateral == "vehicle":
        s -= 0.3
    elif a.collateral == "savings":
        s -= 0.3 + 0.6 * min(a.collateral_value / a.amount, 1.0)
    elif a.collateral == "guarantor":
        s -= 0.5
    s += _CR_EVENT_EFFECT[a.event]
    earners = 2 if a.partner_income > 0 else 1
    s += 0.12 * max(0, a.dependents - earners)
    s -= 0.3 if a.partner_income > 0 else 0.0
    s += 0.35 if a.credit_years < 2 else 0.0
    s += {"broker": 0.2, "online": 0.1}.get(a.channel, 0.0)
    s += {
        "debt_consolidation": 0.15,
        "business": 0.25,
        "medical": 0.1,
        "vehicle": -0.1,
        "home_improvement": -0.15,
    }.get(a.purpose, 0.0)
    s += 0.2 if a.age < 25 else 0.0
    return s, {"dti": dti, "lti": lti, "reserve_months": reserves}


def _tenure_phrase(rng: random.Random, months: int) -> str:
    """Human phrasing of a duration given in months (fits after "for")."""
    if months < 12:
        if months <= 1:
            return _pick(rng, ("a few weeks", "about a month"))
        return _pick(
            rng, (f"{_num(rng, months)} months", f"{months} months", f"about {_num(rng, months)} months")
        )
    if months < 24:
        options = ["just over a year", f"{months} months", "about a year"]
        if 17 <= months <= 20:
            options.append("a year and a half")
        return _pick(rng, options)
    years = months // 12
    options = [f"{_num(rng, years)} years", f"about {years} years", f"{years}+ years", f"{years} years"]
    if months % 12 >= 9:
        options.append(f"nearly {_num(rng, years + 1)} years")
    return _pick(rng, options)


def _cr_purpose(rng: random.Random, v: _Voice, a: _Applicant) -> str:
    """Loan purpose and requested amount."""
    purpose = a.purpose_text
    amt = _money(rng, a.amount)
    term = a.term
    term_y = f"{term // 12} years" if term % 12 == 0 and term >= 24 else f"{term} months"
    return _say(
        rng,
        v,
        first=(
            "I am applying for {amt} over {term} months to {purpose}.",
            "I would like to borrow {amt} to {purpose}, repaid over {term_y}.",
            "I'm looking for a loan of {amt} so that I can {purpose}.",
            "The purpose of this loan ({amt}, {term} months) is to {purpose}.",
            "Requesting {amt} over {term_y} to {purpose}.",
            "I need {amt} to {purpose} and would prefer a {term}-month term.",
        ),
        third=(
            "{Who} requests {amt} over {term} months to {purpose}.",
            "Application for {amt} ({term}-month term) to {purpose}.",
            "{Who} is seeking {amt} in order to {purpose}.",
            "Loan request: {amt}, term {term} months. Purpose: to {purpose}.",
            "{Who} has applied to borrow {amt} over {term_y} to {purpose}.",
            "Request is for {amt} repayable over {term_y}; funds will be used to {purpose}.",
        ),
        terse=("Purpose: {short} ({detail}). Amount {amt}, {term}m.", "Req {amt} / {term}m - {short}."),
        amt=amt,
        term=term,
        term_y=term_y,
        purpose=purpose,
        short=_CR_PURPOSE_SHORT[a.purpose],
        detail=purpose.split(" and ")[0],
    )


def _cr_employment(rng: random.Random, v: _Voice, a: _Applicant) -> str:
    """Employment status and tenure."""
    ten = _tenure_phrase(rng, a.tenure_months)
    kw: dict[str, Any] = {
        "occ": a.occupation,
        "a_occ": _article(a.occupation),
        "emp": a.employer,
        "ten": ten,
        "biz": a.business,
    }
    if a.emp_type == "salaried":
        return _say(
            rng,
            v,
            first=(
                "I have worked as {a_occ} at {emp} for {ten}.",
                "I've been employed by {emp} for {ten} and I'm currently {a_occ}.",
                "I work full time as {a_occ} ({ten} with {emp}).",
                "My job is {occ} at {emp}, where I have been for {ten}.",
                "I've been {a_occ} with {emp} for {ten}, on a permanent contract.",
            ),
            third=(
                "{Who} has been employed as {a_occ} at {emp} for {ten}.",
                "{Who} works full time as {a_occ} with {emp} (tenure {ten}).",
                "Employed {ten} at {emp} as {a_occ}; permanent contract.",
                "Current employment: {occ}, {emp}, {ten}.",
                "{Who} is {a_occ} at {emp} and has been there {ten}.",
            ),
            terse=("Emp: {occ}, {emp}, {ten}.", "Employment - {occ} @ {emp} ({ten}), permanent."),
            **kw,
        )
    if a.emp_type == "self_employed":
        return _say(
            rng,
            v,
            first=(
                "I have run my own {biz} business for {ten}.",
                "I am self-employed as {a_occ} and have been trading for {ten}.",
                "I've been working for myself as {a_occ} for {ten}.",
            ),
            third=(
                "{Who} is self-employed, running a {biz} business for {ten}.",
                "Sole trader ({occ}), trading {ten}.",
                "{Who} has operated {pos} own {biz} business for {ten}.",
            ),
            terse=("Emp: self-employed {occ}, trading {ten}.",),
            **kw,
        )
    if a.emp_type == "contract":
        return _say(
            rng,
            v,
            first=(
                "I work as {a_occ} through {emp}; my current contract has run for {ten}.",
                "I'm {a_occ} on rolling contracts and have been with the current client for {ten}.",
                "I do {occ} work via {emp} and have been on my current assignment for {ten}.",
            ),
            third=(
                "{Who} is {a_occ} engaged through {emp}; current assignment {ten}.",
                "Works via {emp} as {a_occ} on rolling three-month contracts; current client for {ten}.",
                "Contractor ({occ}) through {emp}, {ten} on the present contract.",
            ),
            terse=("Emp: contract {occ} via {emp}, current assignment {ten}.",),
            **kw,
        )
    if a.emp_type == "retired":
        return _say(
            rng,
            v,
            first=(
                "I retired from {emp} a few years ago, where I worked as {a_occ}.",
                "I'm retired; I used to be {a_occ}.",
            ),
            third=("{Who} is retired, formerly {a_occ} at {emp}.", "Retired ({occ}, {emp})."),
            terse=("Emp: retired (ex-{occ}).",),
            **kw,
        )
    return _say(
        rng,
        v,
        first=(
            "I am not working at the moment; my role as {a_occ} ended recently.",
            "I'm currently between jobs after working as {a_occ} at {emp}.",
        ),
        third=(
            "{Who} is currently unemployed; previously {a_occ} at {emp}.",
            "Not currently in employment (last role: {occ}, {emp}).",
        ),
        terse=("Emp: unemployed, last role {occ}.",),
        **kw,
    )


def _cr_income(rng: random.Random, v: _Voice, a: _Applicant) -> str:
    """Income statement (annual vs monthly, gross vs net, so ratios need arithmetic)."""
    kw = {
        "annual": _money(rng, a.income),
        "gross_m": _money(rng, _round_to(a.income / 12, 10), compact_ok=False),
        "net_m": _money(rng, _round_to(a.income * rng.uniform(0.72, 0.8) / 12, 10), compact_ok=False),
        "prev": _money(rng, _round_to(a.income * rng.uniform(0.85, 1.1), 500)),
    }
    if a.emp_type in ("salaried", "contract"):
        return _say(
            rng,
            v,
            first=(
                "My salary is {annual} a year before tax.",
                "I take home about {net_m} a month after tax.",
                "I earn {annual} gross per year.",
                "My gross monthly pay is {gross_m}.",
                "Income is {annual} a year, paid monthly.",
            ),
            third=(
                "Gross annual income {annual}, verified by payslips.",
                "Stated income: {annual} per year.",
                "Net monthly pay approx. {net_m} per bank statements.",
                "Verified gross monthly income of {gross_m}.",
                "{Who} earns {annual} a year.",
                "Income confirmed at {gross_m}/month gross.",
            ),
            terse=("Inc: {annual} gross.", "Inc: {gross_m}/m gross.", "Net pay {net_m}/m."),
            **kw,
        )
    if a.emp_type == "self_employed":
        return _say(
            rng,
            v,
            first=(
                "My business made a profit of about {annual} last year, and {prev} the year before.",
                "I draw roughly {gross_m} a month from the business.",
                "Last year's tax return shows net income of {annual}.",
            ),
            third=(
                "Tax returns for the last two years show net profit of {annual} and {prev}.",
                "Declared self-employed income {annual} (latest tax return).",
                "Accountant's letter confirms drawings of about {gross_m} per month.",
            ),
            terse=("Inc: {annual} net profit (SA302), prior yr {prev}.",),
            **kw,
        )
    if a.emp_type == "retired":
        return _say(
            rng,
            v,
            first=(
                "My pension and social security come to {gross_m} a month.",
                "I receive {annual} a year in pension income.",
            ),
            third=(
                "Pension income of {gross_m} per month including social security.",
                "Retirement income {annual} p.a.",
            ),
            terse=("Inc: pension {gross_m}/m.",),
            **kw,
        )
    return _say(
        rng,
        v,
        first=("At the moment I receive about {gross_m} a month in benefits and severance.",),
        third=("Current income consists of unemployment benefits and severance of about {gross_m} a month.",),
        terse=("Inc: benefits ~{gross_m}/m.",),
        **kw,
    )


def _cr_household(rng: random.Random, v: _Voice, a: _Applicant) -> str:
    """Marital status, dependants and partner income."""
    partner = {"married": "wife" if a.gender == "m" else "husband", "partner": "partner"}.get(
        a.marital, "partner"
    )
    n = a.dependents
    kids = "no children" if n == 0 else ("one child" if n == 1 else f"{_num(rng, n, 0.8)} children")
    kw = {
        "partner": partner,
        "kids": kids,
        "n": n,
        "p_occ": _article(a.partner_occ or "homemaker"),
        "p_inc": _money(rng, a.partner_income) if a.partner_income else "",
    }
    if a.marital in ("married", "partner"):
        if a.partner_income:
            return _say(
                rng,
                v,
                first=(
                    "I live with my {partner}, who works as {p_occ} earning about {p_inc}, and we have "
                    "{kids}.",
                    "My {partner} also works ({p_inc} a year) and we have {kids}.",
                ),
                third=(
                    "Household: {partner} employed as {p_occ} ({p_inc} p.a.), {kids}.",
                    "{Who} lives with {pos} {partner}, who earns {p_inc}; {kids}.",
                ),
                terse=("HH: {partner} working ({p_inc}), {n} dep.",),
                **kw,
            )
        return _say(
            rng,
            v,
            first=(
                "I live with my {partner}, who is not working at present, and we have {kids}.",
                "My {partner} stays at home and we have {kids}.",
            ),
            third=(
                "Lives with {pos} {partner} (not employed) and {kids}.",
                "Single-income household: {partner} not working, {kids}.",
            ),
            terse=("HH: {partner} not working, {n} dep.",),
            **kw,
        )
    if n == 0:
        return _say(
            rng,
            v,
            first=("I'm single with no dependants.", "I live alone and have no children.", "No dependants."),
            third=("Single, no dependants.", "{Who} lives alone with no dependants.", "No dependants."),
            terse=("HH: single, 0 dep.",),
            **kw,
        )
    status = {"divorced": "divorced", "widowed": "widowed"}.get(a.marital, "single")
    return _say(
        rng,
        v,
        first=(f"I'm a {status} parent with {{kids}}.", "I'm raising {kids} on my own."),
        third=(f"{{Who}} is a {status} parent of {{kids}}.", f"{_cap(status)}, {{kids}} living at home."),
        terse=(f"HH: {status}, {{n}} dep.",),
        **kw,
    )


def _cr_housing(rng: random.Random, v: _Voice, a: _Applicant) -> str:
    """Housing situation and cost."""
    cost = _money(rng, a.housing_cost, compact_ok=False)
    if a.housing == "rent":
        return _say(
            rng,
            v,
            first=(
                "I rent a flat for {cost} a month.",
                "My rent is {cost} per month.",
                "I pay {cost} monthly in rent.",
            ),
            third=(
                "Rents privately at {cost}/month.",
                "Monthly rent of {cost}.",
                "{Who} is a tenant paying {cost} per month.",
            ),
            terse=("Housing: rent {cost}/m.",),
            cost=cost,
        )
    if a.housing == "mortgage":
        return _say(
            rng,
            v,
            first=(
                "My mortgage payment is {cost} per month.",
                "I own my home with a mortgage of {cost} a month.",
            ),
            third=(
                "Homeowner; mortgage payment {cost}/month.",
                "Mortgage costs {cost} per month.",
                "{Who} owns {pos} home with a mortgage ({cost} monthly).",
            ),
            terse=("Housing: mortgage {cost}/m.",),
            cost=cost,
        )
    if a.housing == "family":
        return _say(
            rng,
            v,
            first=(
                "I live with my parents and contribute {cost} a month toward bills.",
                "I live at home with family, so my housing costs are low.",
            ),
            third=(
                "Lives with family; contributes {cost} a month.",
                "Living with parents, minimal housing costs.",
            ),
            terse=("Housing: with family ({cost}/m board).",),
            cost=cost,
        )
    return _say(
        rng,
        v,
        first=("I own my home outright with no mortgage.", "The house is fully paid off."),
        third=("Owns home outright, no mortgage.", "Mortgage-free homeowner."),
        terse=("Housing: owned outright.",),
    )


def _cr_debts(rng: random.Random, v: _Voice, a: _Applicant) -> str:
    """Existing credit commitments (cards, loans, payday loans, support payments)."""
    parts_first: list[str] = []
    parts_third: list[str] = []
    if a.card_balance > 0:
        bal = _money(rng, a.card_balance)
        lim = _money(rng, a.card_limit)
        util = round(100 * a.card_balance / a.card_limit)
        parts_first.append(
            _pick(rng, (f"about {bal} on credit cards", f"{bal} across my cards (limit {lim})"))
        )
        parts_third.append(
            _pick(
                rng,
                (
                    f"card balances of {bal} against limits of {lim}",
                    f"revolving balances {bal} ({util}% utilisation)",
                ),
            )
        )
    if a.car_payment:
        pay = _money(rng, a.car_payment, compact_ok=False)
        parts_first.append(f"a car loan at {pay} a month with {a.car_months_left} payments left")
        parts_third.append(
            _pick(
                rng,
                (
                    f"a car loan at {pay}/month ({a.car_months_left} months remaining)",
                    f"auto finance {pay} pm",
                ),
            )
        )
    if a.student_payment:
        pay = _money(rng, a.student_payment, compact_ok=False)
        parts_first.append(f"a student loan of {pay} a month")
        parts_third.append(f"student loan repayments of {pay}/month")
    if a.other_loan_payment:
        pay = _money(rng, a.other_loan_payment, compact_ok=False)
        parts_first.append(f"a personal loan costing {pay} a month")
        parts_third.append(f"an existing personal loan at {pay}/month")
    if a.support_payment:
        pay = _money(rng, a.support_payment, compact_ok=False)
        parts_first.append(f"child support of {pay} a month")
        parts_third.append(f"child maintenance of {pay} per month")
    sentences: list[str] = []
    if not parts_first:
        sentences.append(
            _say(
                rng,
                v,
                first=(
                    "I don't have any other loans, and I clear my card in full each month.",
                    "Apart from my housing costs I have no other debts.",
                    "I have no other loans or card balances.",
                ),
                third=(
                    "No other credit commitments.",
                    "No existing loans; credit cards cleared monthly.",
                    "Bureau shows no outstanding balances other than housing.",
                ),
                terse=("Debts: nil.",),
            )
        )
    elif v.kind == "first":
        sentences.append(_cap("I currently have " + _list_join(parts_first) + "."))
    elif v.kind == "terse":
        sentences.append("Debts: " + "; ".join(parts_third) + ".")
    else:
        lead = _pick(rng, ("Existing commitments: ", "Current obligations include ", "Bureau shows "))
        sentences.append(lead + _list_join(parts_third) + ".")
    if a.payday_loans:
        n = a.payday_loans
        sentences.append(
            _say(
                rng,
                v,
                first=(
                    f"I had to take out {_num(rng, n)} payday loan{'s' if n > 1 else ''} this year to cover "
                    "gaps.",
                    f"I've used short-term payday lenders {'once' if n == 1 else _num(rng, n) + ' times'} in "
                    "the last six months.",
                ),
                third=(
                    f"{{Who}} has taken {_num(rng, n)} payday loan{'s' if n > 1 else ''} in the past six "
                    "months.",
                    f"Bank statements show {_num(rng, n)} payday lender credit{'s' if n > 1 else ''} in the "
                    "last 90 days.",
                ),
                terse=(f"Payday loans: {n} in 6m.",),
            )
        )
    elif _chance(rng, 0.12) and v.kind != "first":
        sentences.append(
            _pick(rng, ("No payday lending on file.", "No short-term lending seen on statements."))
        )
    return _join(sentences)


def _list_join(parts: Sequence[str]) -> str:
    """English list join: "a, b and c"."""
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def _cr_history(rng: random.Random, v: _Voice, a: _Applicant) -> str:
    """Repayment history with negations, severities and older / cured delinquencies."""
    n = a.missed_recent
    y = a.credit_years
    yr = a.app_date.year
    sentences: list[str] = []
    if n == 0:
        years = max(2, min(y, 10))
        sentences.append(
            _say(
                rng,
                v,
                first=(
                    "I have never missed a payment on any account.",
                    "My credit report shows no missed payments in the last {years} years.",
                    "I've always paid on time.",
                    "I have not been late on a single payment since I opened my first card.",
                ),
                third=(
                    "No missed payments in {years} years.",
                    "Bureau file is clean: no delinquencies and no collections.",
                    "{Who} has a clean repayment record across {y} years of credit history.",
                    "Credit report reviewed - no late payments recorded.",
                    "Not a single missed payment on file.",
                    "Payment history is up to date on all accounts; no arrears.",
                ),
                terse=("Bureau: clean, 0 lates.", "Bureau: no arrears / no CCJs."),
                years=_num(rng, years),
                y=y,
            )
        )
    elif n == 1:
        when = _fmt_date(rng, _add_months(a.app_date, -rng.randint(3, 22)), coarse=True)
        sentences.append(
            _say(
                rng,
                v,
                first=(
                    "I missed one payment in {when} when my direct debit failed after I changed banks; "
                    "otherwise I've always paid on time.",
                    "Apart from one late payment in {when}, I have never missed a payment.",
                    "There's a single 30-day late on my card from {when}.",
                ),
                third=(
                    "One 30-day late on a credit card in {when}, otherwise clean.",
                    "Single late payment ({when}), reportedly an admin error; no other arrears.",
                    "Bureau shows one missed payment in the last two years ({when}).",
                ),
                terse=("Bureau: 1x30d late ({when}).",),
                when=when,
            )
        )
    else:
        months_ago = rng.randint(1, 10)
        acct = _pick(rng, ("credit card", "car loan", "phone contract", "personal loan", "store card"))
        sentences.append(
            _say(
                rng,
                v,
                first=(
                    "I missed {n} payments on my {acct} over the past year.",
                    "I fell behind {n} times on my {acct} in the last two years; the most recent was {m} "
                    "months ago.",
                    "To be honest I have missed {n} payments recently, mostly on the {acct}.",
                    "I have been late with {n} payments over the last 24 months.",
                ),
                third=(
                    "Missed {n} payments on {pos} {acct} in the past year.",
                    "Bureau shows {n} late payments in the last 24 months, the most recent {m} months ago "
                    "(worst status {late} days).",
                    "{Who} was late on {n} {acct} payments over the last two years.",
                    "Delinquencies: {n} missed payments, worst {late} days past due.",
                    "{n_cap} late payments recorded in the past 24 months.",
                ),
                terse=("Bureau: {n_d}x late in 24m, worst {late}d.",),
                n=_num(rng, n, 0.6),
                n_d=n,
                n_cap=_cap(_num(rng, n, 0.6)),
                m=_num(rng, months_ago),
                acct=acct,
                late=a.worst_late,
            )
        )
        if a.worst_late >= 60 and _chance(rng, 0.5):
            sentences.append(
                _pick(
                    rng,
                    (
                        "One account was passed to a collection agency.",
                        f"The {acct} is currently {a.worst_late} days past due.",
                        "A default notice was issued on one account last quarter.",
                    ),
                )
            )
    if a.older_lates and _chance(rng, 0.75):
        old_year = yr - rng.randint(3, 7)
        sentences.append(
            _say(
                rng,
                v,
                first=(
                    "Years ago, around {oy}, I had {k} late {pl} while I was a student, but that is long "
                    "resolved.",
                    "I had some late payments back in {oy}, since cured.",
                ),
                third=(
                    "Older history shows {k} late {pl} around {oy}, since cured.",
                    "{k_cap} historic late {pl} from {oy}; none since then.",
                ),
                terse=("Historic: {k_d}x late {oy}.",),
                oy=old_year,
                k=_num(rng, a.older_lates),
                k_cap=_cap(_num(rng, a.older_lates)),
                k_d=a.older_lates,
                pl="payment" if a.older_lates == 1 else "payments",
            )
        )
    if a.derog:
        dy = a.derog_year
        text = {
            "default": (
                "I defaulted on a personal loan in {dy} and settled it for less than the full balance.",
                "Defaulted on a personal loan in {dy}; settled at a discount in {dy2}.",
            ),
            "chargeoff": (
                "A credit card was charged off in {dy}; it still shows on my report.",
                "Charge-off from {dy} still on file.",
            ),
            "bankruptcy": (
                "I filed for bankruptcy in {dy} and was discharged the following year.",
                "Chapter 7 bankruptcy filed {dy}, discharged {dy2}.",
            ),
        }[a.derog]
        sentences.append(_say(rng, v, first=(text[0],), third=(text[1],), dy=dy, dy2=dy + 1))
    elif n > 0 and _chance(rng, 0.3) and v.kind != "first":
        sentences.append(
            _pick(rng, ("No defaults or judgments on file.", "No CCJs, defaults or bankruptcies."))
        )
    return _join(sentences)


def _cr_savings(rng: random.Random, v: _Voice, a: _Applicant) -> str:
    """Liquid savings."""
    if a.savings <= 0:
        return _say(
            rng,
            v,
            first=(
                "I don't have much in savings at the moment.",
                "I have no savings to fall back on right now.",
            ),
            third=(
                "No meaningful savings.",
                "No liquid reserves identified on statements.",
                "Savings: none declared.",
            ),
            terse=("Savings: nil.",),
        )
    bank = _pick(
        rng,
        ("a high-yield savings account", "the credit union", "an ISA", "a money market account", "a 401(k)"),
    )
    return _say(
        rng,
        v,
        first=(
            "I have about {sav} put aside in {bank}.",
            "My savings are around {sav}.",
            "I keep an emergency fund of {sav}.",
        ),
        third=(
            "Savings of {sav} held in {bank}.",
            "Liquid reserves approx. {sav}.",
            "Statements show {sav} in savings.",
        ),
        terse=("Savings: {sav}.",),
        sav=_money(rng, a.savings),
        bank=bank,
    )


def _cr_collateral(rng: random.Random, v: _Voice, a: _Applicant) -> str:
    """Security offered for the loan."""
    if a.collateral == "none":
        return _say(
            rng,
            v,
            first=("I'm not offering any security for this loan.", "This would be an unsecured loan."),
            third=("Unsecured request; no collateral offered.", "No security offered.", "Unsecured."),
            terse=("Security: none.",),
        )
    if a.collateral == "property":
        kw = {"val": _money(rng, a.collateral_value), "owed": _money(rng, a.collateral_owed)}
        if a.collateral_owed:
            return _say(
                rng,
                v,
                first=(
                    "I can secure the loan on my home, which is valued at about {val}; the remaining "
                    "mortgage is {owed}.",
                ),
                third=(
                    "To be secured by a second charge on the home (valued {val}, mortgage balance {owed}).",
                    "Security: property valued at {val} with {owed} outstanding on the first mortgage.",
                ),
                terse=("Security: 2nd charge, val {val}, 1st mtg {owed}.",),
                **kw,
            )
        return _say(
            rng,
            v,
            first=("The loan can be secured on my home, valued at roughly {val} and mortgage-free.",),
            third=("Secured on the unencumbered family home (valuation {val}).",),
            terse=("Security: 1st charge, val {val}, unencumbered.",),
            **kw,
        )
    if a.collateral == "vehicle":
        return _say(
            rng,
            v,
            first=("The loan would be secured on the vehicle, worth about {val}.",),
            third=(
                "Secured against the vehicle (estimated value {val}).",
                "Vehicle to be held as security, value approx. {val}.",
            ),
            terse=("Security: vehicle, {val}.",),
            val=_money(rng, a.collateral_value),
        )
    if a.collateral == "savings":
        return _say(
            rng,
            v,
            first=("I'm happy to pledge {val} of my savings as security.",),
            third=(
                "Cash collateral: {val} deposit to be pledged.",
                "{Who} offers a savings pledge of {val}.",
            ),
            terse=("Security: cash pledge {val}.",),
            val=_money(rng, a.collateral_value),
        )
    return _say(
        rng,
        v,
        first=("My {g} has agreed to act as guarantor; they own their home and have a stable income.",),
        third=(
            "{Pos} {g} has agreed to guarantee the loan and is a homeowner in steady employment.",
            "Guarantor offered ({g}), income and property verified.",
        ),
        terse=("Security: guarantor ({g}).",),
        g=a.guarantor,
    )


def _cr_event(rng: random.Random, v: _Voice, a: _Applicant) -> str:
    """Recent life event, often with mitigating or aggravating context."""
    ev = a.event
    when = _fmt_date(rng, a.event_date, coarse=True)
    kw: dict[str, Any] = {
        "when": when,
        "prev": _money(rng, a.prev_income),
        "now": _money(rng, a.income),
        "k": _num(rng, max(1, (a.app_date - a.event_date).days // 30 - a.tenure_months)),
        "pct": round(100 * (1 - a.income / a.prev_income)) if a.prev_income else 0,
        "amt": _money(rng, a.event_amount) if a.event_amount else "",
        "pay": _money(rng, a.event_payment, compact_ok=False) if a.event_payment else "",
        "old_emp": _pick(rng, _CR_EMPLOYERS),
        "sup": _money(rng, a.support_payment, compact_ok=False) if a.support_payment else "",
    }
    templates: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
        "job_loss_higher": (
            (
                "I was laid off in {when} when {old_emp} restructured, but found my current job {k} months "
                "later and now earn more than before.",
                "I lost my job in {when}; I was re-employed within {k} months at a higher salary ({now} vs "
                "{prev} previously).",
            ),
            (
                "Job loss in {when} (redundancy at {old_emp}); re-employed within {k} months at a higher "
                "salary.",
                "Made redundant {when}, since re-employed on {now}, up from {prev}.",
                "Brief gap in employment after a layoff in {when}; current role pays more than the "
                "previous one.",
            ),
        ),
        "job_loss_lower": (
            (
                "I was made redundant in {when} and the job I found afterwards pays less - about {now} "
                "compared with {prev} before.",
                "After losing my job in {when} I took a lower-paid role to keep money coming in.",
            ),
            (
                "Redundancy in {when}; current role pays {now} versus {prev} previously (down about {pct}%).",
                "Laid off {when}; re-employed at a lower salary, income down roughly {pct}%.",
            ),
        ),
        "unemployed": (
            (
                "I lost my job in {when} and I'm still looking for work.",
                "Since being let go in {when} I have been applying for roles but have not started anything "
                "yet.",
            ),
            ("Job loss in {when}; not yet re-employed.", "Unemployed since {when}; actively job seeking."),
        ),
        "new_job": (
            (
                "I only started my current job in {when} after a period out of work, so I'm still on "
                "probation.",
            ),
            (
                "Started current role {when} after a gap in employment; still within probation.",
                "New job as of {when}; probation ends in a few months.",
            ),
        ),
        "medical_paid": (
            (
                "I had large medical bills after an operation in {when}, but they are now fully paid off.",
                "Hospital bills of about {amt} from {when} have been cleared in full.",
            ),
            (
                "Medical bills of {amt} incurred in {when}; paid in full.",
                "Prior medical expenses ({when}) settled; nothing outstanding.",
            ),
        ),
        "medical_plan": (
            ("I'm repaying about {amt} of hospital bills from {when} on a payment plan at {pay} a month.",),
            (
                "Medical debt of {amt} ({when}) on a payment plan of {pay}/month, up to date.",
                "Repaying hospital bills under an arrangement, {pay} per month.",
            ),
        ),
        "medical_collections": (
            ("There is an unpaid medical bill of about {amt} from {when} that has gone to collections.",),
            (
                "Outstanding medical debt of {amt} in collections since {when}.",
                "Medical collection account ({amt}) unpaid.",
            ),
        ),
        "promotion": (
            (
                "I was promoted in {when} and my salary went up from {prev} to {now}.",
                "I got a promotion in {when} with a pay rise.",
            ),
            (
                "Promoted {when}; salary increased from {prev} to {now}.",
                "Recent promotion ({when}) with a pay increase.",
            ),
        ),
        "business_expansion": (
            (
                "I opened a second site in {when}, investing about {amt}; revenue is up but margins are "
                "thinner while it ramps up.",
                "The business expanded in {when} and took on two staff.",
            ),
            (
                "Business expanded in {when} (investment approx. {amt}); revenue up year on year, margins "
                "compressed during ramp-up.",
                "Took on new premises and staff in {when}; expansion partly self-funded.",
            ),
        ),
        "divorce": (
            (
                "I went through a divorce in {when}, which has put pressure on my finances.",
                "Since my divorce in {when} I have been running the household on one income.",
            ),
            (
                "Divorced {when}; now a single-income household.",
                "Recent divorce ({when}) with associated legal costs.",
            ),
        ),
        "new_child": (
            ("We had a baby in {when} and my partner is on parental leave.",),
            ("New baby in {when}; household income temporarily reduced during parental leave.",),
        ),
        "inheritance": (
            ("I received an inheritance of around {amt} in {when}.",),
            ("Received an inheritance of {amt} in {when}, part held in savings.",),
        ),
        "relocation": (
            ("I relocated for work in {when}.",),
            ("Relocated in {when} for the current role.",),
        ),
        "reduced_hours": (
            ("My employer cut my hours in {when}, so my pay dropped from {prev} to {now}.",),
            (
                "Hours reduced in {when}; income down from {prev} to {now}.",
                "Moved to a four-day week in {when}, income down about {pct}%.",
            ),
        ),
    }
    if ev not in templates:
        return ""
    first_t, third_t = templates[ev]
    return _say(rng, v, first=first_t, third=third_t, **kw)


def _cr_dti(rng: random.Random, v: _Voice, dti: float) -> str:
    """Explicit debt-to-income statement (underwriter notes only)."""
    if v.kind == "first":
        return ""
    pct = round(100 * dti)
    return _pick(
        rng,
        (
            f"Post-loan DTI calculated at {pct}%.",
            f"DTI including the new payment: {pct}%.",
            f"Affordability: DTI {pct}% after the proposed loan.",
        ),
    )


def _cr_pii(rng: random.Random, v: _Voice, a: _Applicant) -> str:
    """Contact / identity details containing fake PII."""
    email = _email(rng, a.first, a.last)
    options_first = (
        f"You can reach me at {email} or on {_phone(rng)}.",
        f"My phone number is {_phone(rng)}.",
        f"Please send the paperwork to {email}.",
        f"My salary is paid into IBAN {_iban(rng)}.",
        f"Repayments can come from my checking account {_account_number(rng)} (routing "
        f"{_routing_number(rng)}).",
        f"My SSN is {_ssn(rng)} if you need it for the credit check.",
        f"I'd like the arrangement fee charged to my card {_card_number(rng)}.",
    )
    options_third = (
        f"Contact: {email}, {_phone(rng)}.",
        f"Mobile {_phone(rng)}; e-mail {email}.",
        f"Salary credited to IBAN {_iban(rng)}.",
        f"Direct debit to be set up from account {_account_number(rng)}, routing {_routing_number(rng)}.",
        f"SSN {_ssn(rng)} verified against photo ID.",
        f"Card on file for the arrangement fee: {_card_number(rng)}.",
        f"Applicant: {a.first} {a.last}, DOB "
        f"{_fmt_date(rng, date(a.app_date.year - a.age, rng.randint(1, 12), rng.randint(1, 28)))}, SSN "
        f"{_ssn(rng)}.",
    )
    return _pick(rng, options_first if v.kind == "first" else options_third)


def _cr_admin(rng: random.Random, v: _Voice, a: _Applicant) -> str:
    """Neutral administrative closing sentence."""
    when = _fmt_date(rng, a.app_date)
    if v.kind == "first":
        return _pick(
            rng,
            (
                "Thank you for considering my application.",
                "I can provide further documents if needed.",
                "I'd appreciate a decision as soon as possible.",
                f"I submitted the supporting documents online on {when}.",
                "Happy to answer any questions.",
            ),
        )
    if v.kind == "broker":
        return _pick(
            rng,
            (
                "Happy to provide anything further the underwriter needs.",
                "Client is keen to proceed quickly.",
                f"Submitted via broker portal on {when}.",
                "Full fact-find attached.",
            ),
        )
    return _pick(
        rng,
        (
            f"Application received {when} via {a.channel}.",
            "Documents on file: photo ID, proof of address, three months' bank statements.",
            "File complete; passed for credit decision.",
            f"Payslips and bank statements reviewed {when}.",
            "Affordability assessment completed per lending policy.",
        ),
    )


# ---------------------------------------------------------------- long-form padding (uninformative)

_STREETS: tuple[str, ...] = (
    "Maple Avenue",
    "Oak Street",
    "Station Road",
    "Church Lane",
    "Elm Drive",
    "Park View",
    "Mill Road",
    "Cedar Court",
    "Highfield Road",
    "Lincoln Boulevard",
    "Willow Way",
    "Kings Road",
    "Sycamore Close",
    "Riverside Drive",
    "Hillcrest Avenue",
    "Victoria Street",
)
_CITIES: tuple[tuple[str, str], ...] = (
    ("Columbus", "OH"),
    ("Denver", "CO"),
    ("Charlotte", "NC"),
    ("Tucson", "AZ"),
    ("Portland", "OR"),
    ("Raleigh", "NC"),
    ("Omaha", "NE"),
    ("Milwaukee", "WI"),
    ("Sacramento", "CA"),
    ("Richmond", "VA"),
    ("Boise", "ID"),
    ("Albany", "NY"),
    ("Madison", "WI"),
    ("Tampa", "FL"),
    ("Spokane", "WA"),
    ("Des Moines", "IA"),
    ("Knoxville", "TN"),
    ("Reno", "NV"),
    ("Fresno", "CA"),
    ("Hartford", "CT"),
)


_CONSTRUCTION: tuple[str, ...] = (
    "brick and block",
    "timber frame",
    "brick with a tiled roof",
    "rendered concrete block",
)
_NEIGHBOURHOOD: tuple[str, ...] = (
    "The neighbours on both sides are owner-occupiers.",
    "Parking is on-street with a residents permit.",
    "The nearest rail station is about ten minutes away on foot.",
)
_REFERENCE_STATUS: tuple[str, ...] = (
    "confirmed the relationship by phone",
    "reference letter on file",
    "not yet contacted",
    "spoke briefly with the case handler",
)
_STATEMENT_BANKS: tuple[str, ...] = (
    "Chase",
    "Wells Fargo",
    "a regional credit union",
    "Bank of America",
    "an online bank",
)


def _random_dob(rng: random.Random, year: int) -> date:
    """Random date of birth for an adult aged 22-78 in ``year``."""
    return date(year - rng.randint(22, 78), rng.randint(1, 12), rng.randint(1, 28))


def _address(rng: random.Random) -> str:
    """Random street address."""
    city, st = _pick(rng, _CITIES)
    return f"{rng.randint(2, 980)} {_pick(rng, _STREETS)}, {city}, {st} {rng.randint(10000, 99950)}"


def _pad_property(rng: random.Random, a: _Applicant) -> str:
    """Description of the applicant's address (uninformative padding)."""
    beds = rng.randint(1, 5)
    kind = _pick(
        rng,
        (
            "semi-detached house",
            "detached house",
            "terraced house",
            "ground-floor condo",
            "townhouse",
            "bungalow",
            "split-level ranch house",
            "second-floor apartment",
        ),
    )
    feats = rng.sample(
        [
            "a detached garage",
            "gas central heating",
            "double glazing throughout",
            "a south-facing rear garden",
            "a finished basement",
            "solar panels on the rear roof slope",
            "an open-plan kitchen and dining area",
            "original hardwood floors",
            "off-street parking for two cars",
            "a conservatory added in the 1990s",
            "a shared driveway",
            "a small front lawn",
            "a utility room off the kitchen",
            "a covered porch",
        ],
        k=rng.randint(2, 4),
    )
    built = rng.randint(1920, 2016)
    return (
        f"Current address: {_address(rng)}. The property is a {beds}-bedroom {kind} built around {built}, "
        f"with {_list_join(feats)}. Construction is "
        f"{_pick(rng, _CONSTRUCTION)}; "
        f"the roof was last inspected in {a.app_date.year - rng.randint(1, 8)} and no structural issues "
        "were noted. "
        "The surrounding area is mainly residential, with schools, shops and a bus route within walking "
        "distance. "
        "Annual property tax for the address is approximately "
        f"{_money(rng, _round_to(rng.uniform(900, 6500), 10))}. "
        f"Flood risk is recorded as {_pick(rng, ('low', 'very low', 'outside any designated flood zone'))}. "
        f"{_pick(rng, _NEIGHBOURHOOD)}"
    )


def _pad_references(rng: random.Random, a: _Applicant) -> str:
    """Character references with contact details (contains fake PII)."""
    out = ["References provided:"]
    for i in (1, 2):
        first, last, _ = _person(rng)
        rel = _pick(
            rng,
            (
                "former supervisor",
                "colleague",
                "landlord",
                "neighbour",
                "family friend",
                "pastor",
                "team manager",
                "accountant",
            ),
        )
        contact = _phone(rng) if _chance(rng, 0.6) else _email(rng, first, last)
        out.append(
            f"({i}) {first} {last}, {rel}, has known the applicant for {rng.randint(2, 25)} years and can be "
            f"contacted on {contact}; "
            f"{_pick(rng, _REFERENCE_STATUS)}."
        )
    out.append(
        "Both referees were told that the call related to a credit application and consented to the "
        "conversation being noted on file."
    )
    return " ".join(out)


_DECLARATIONS: tuple[str, ...] = (
    "Declaration: the applicant confirms that the information given in this application is true and "
    "complete to the best of their knowledge, and understands that the lender may verify it with third "
    "parties including credit reference agencies, employers and landlords. The applicant consents to a "
    "hard credit search being recorded, which may be visible to other lenders. Personal data will be "
    "processed in line with the privacy notice provided at the start of the application, and retained for "
    "the period required by law.",
    "Standard disclosures were provided before the application was completed, including the pre-contract "
    "credit information, the adequate explanations checklist and a copy of the privacy notice. The applicant "
    "was told that the interest rate offered may differ from the representative example and that early "
    "repayment is allowed subject to the charges set out in the agreement. A cooling-off period of fourteen "
    "days applies after signing.",
    "Consent and verification: identity and address were verified electronically and against documents. "
    "The applicant agreed to electronic communications and to the use of open-banking data for the "
    "affordability assessment. Anti-fraud checks were completed with no adverse indicators. The applicant "
    "was reminded of the importance of keeping up repayments and where to find free debt advice.",
)


def _pad_declaration(rng: random.Random, a: _Applicant) -> str:
    """Boilerplate declaration / disclosure paragraph."""
    return _pick(rng, _DECLARATIONS)


def _pad_employer(rng: random.Random, a: _Applicant) -> str:
    """Employer background (uninformative)."""
    city, st = _pick(rng, _CITIES)
    contact = _full_name(rng)
    industry = _pick(
        rng,
        (
            "logistics",
            "healthcare",
            "education",
            "manufacturing",
            "retail",
            "public sector",
            "financial services",
            "hospitality",
            "construction",
            "technology",
        ),
    )
    return (
        f"Employer background: {a.employer if a.emp_type != 'self_employed' else 'the business'} operates in "
        f"the {industry} sector and is based in {city}, {st}. It was founded around "
        f"{rng.randint(1950, 2015)} and "
        f"employs roughly {rng.randint(12, 4000)} people across {rng.randint(1, 14)} sites. Employment "
        "details were "
        f"confirmed by {contact} in the HR / payroll team on "
        f"{_fmt_date(rng, a.app_date - timedelta(days=rng.randint(1, 10)))}. "
        f"Payroll runs {_pick(rng, ('monthly', 'bi-weekly', 'weekly'))} and salary is paid by bank transfer. "
        "The state business registry lists the company as active with no recorded insolvency events."
    )


def _pad_vehicle(rng: random.Random, a: _Applicant) -> str:
    """Vehicle description (uninformative)."""
    year = a.app_date.year - rng.randint(1, 12)
    return (
        f"Vehicle details: {year} {_pick(rng, _CR_CARS)}, {rng.randint(8, 140) * 1000:,} miles, "
        f"{_pick(rng, ('silver', 'dark blue', 'white', 'grey', 'red', 'black'))}, "
        f"{_pick(rng, ('one previous owner', 'two previous owners', 'ex-fleet'))}, "
        f"{_pick(rng, ('full service history', 'partial service history', 'recent cambelt change'))}. "
        f"VIN ending {rng.randint(100000, 999999)}. Insurance group {rng.randint(8, 40)}. "
        "The dealer provided a vehicle history check showing no outstanding finance and no insurance "
        "write-off markers. "
        "Registration documents were inspected and match the seller's details."
    )


def _pad_kyc(rng: random.Random, a: _Applicant) -> str:
    """Identity-verification notes (contains fake PII)."""
    issued = a.app_date - timedelta(days=rng.randint(200, 3000))
    return (
        f"Identity: {_pick(rng, ('driving licence', 'passport', 'state ID card'))} number "
        f"{_pick(rng, string.ascii_uppercase)}{_digits(rng, 8)}, issued {_fmt_date(rng, issued)}. "
        f"Proof of address: {_pick(rng, ('electricity', 'water', 'council tax', 'broadband'))} bill dated "
        f"{_fmt_date(rng, a.app_date - timedelta(days=rng.randint(5, 80)))}. SSN on file {_ssn(rng)}. "
        f"Previous address (until {a.app_date.year - rng.randint(1, 6)}): {_address(rng)}. "
        "Sanctions and PEP screening returned no matches. Device and IP checks on the application session "
        "did not raise any alerts, and the e-mail address has been in use for several years."
    )


def _pad_statements(rng: random.Random, a: _Applicant) -> str:
    """Bank statement summary listing routine spending (uninformative)."""
    items = rng.sample(
        [
            f"groceries at {_pick(rng, ('Kroger', 'Aldi', 'Safeway', 'Trader Joes', 'Walmart'))}",
            "streaming subscriptions",
            "a mobile phone contract",
            "a gym membership",
            "fuel",
            "childcare",
            "car and home insurance premiums",
            "utility bills",
            "a monthly charitable donation",
            "pet insurance",
            "public transport passes",
            "school meals",
        ],
        k=rng.randint(4, 6),
    )
    return (
        "Bank statements: three months from "
        f"{_pick(rng, _STATEMENT_BANKS)} "
        f"(account ending {rng.randint(1000, 9999)}) were reviewed. Regular outgoings include "
        f"{_list_join(items)}. "
        "Salary credits arrive on the expected dates. There are no gambling transactions and no returned "
        "direct debits in the period reviewed. Balances move within a normal range across the month."
    )


def _pad_contact_log(rng: random.Random, a: _Applicant) -> str:
    """Timeline of routine contact with the applicant (uninformative)."""
    d0 = a.app_date
    steps = [
        f"{_fmt_date(rng, d0)} - application received via {a.channel}",
        f"{_fmt_date(rng, d0 + timedelta(days=1))} - called applicant to confirm employer details; no "
        "answer, voicemail left",
        f"{_fmt_date(rng, d0 + timedelta(days=2))} - applicant returned the call and confirmed the details",
        f"{_fmt_date(rng, d0 + timedelta(days=4))} - updated payslip requested and received by e-mail",
    ]
    return "Contact log: " + "; ".join(steps) + ". No complaints or vulnerability indicators recorded."


_CR_PADDERS: tuple[Callable[[random.Random, _Applicant], str], ...] = (
    _pad_property,
    _pad_references,
    _pad_declaration,
    _pad_employer,
    _pad_vehicle,
    _pad_kyc,
    _pad_statements,
    _pad_contact_log,
)


def _make_voice(
    rng: random.Random, first: str, last: str, gender: str, channel: str, allow_terse: bool
) -> _Voice:
    """Choose who is writing the narrative, conditioned on the application channel."""
    weights = {
        "online": (("first", 0.58), ("third", 0.32), ("broker", 0.0), ("terse", 0.10)),
        "branch": (("first", 0.25), ("third", 0.63), ("broker", 0.0), ("terse", 0.12)),
        "broker": (("first", 0.08), ("third", 0.30), ("broker", 0.52), ("terse", 0.10)),
    }[channel]
    kind = _wpick(rng, weights)
    if kind == "terse" and not allow_terse:
        kind = "third"
    title = "Ms." if gender == "f" else "Mr."
    return _Voice(
        kind=kind,
        name=f"{title} {last}",
        pronoun="she" if gender == "f" else "he",
        possessive="her" if gender == "f" else "his",
        rng=rng,
    )


def _render_credit(rng: random.Random, a: _Applicant, dti: float, long_form: bool, tail: bool) -> str:
    """Render an applicant into a narrative; returns the text."""
    v = _make_voice(rng, a.first, a.last, a.gender, a.channel, allow_terse=not long_form)
    a.purpose_text = _pick(rng, _CR_PURPOSES[a.purpose]).format(
        pos=v.ctx()["pos"],
        car=_pick(rng, _CR_CARS),
        car_year=a.app_date.year - rng.randint(8, 16),
        biz=a.business or "family",
    )
    v.mentioned = False
    purpose = _cr_purpose(rng, v, a)
    employment = _cr_employment(rng, v, a)
    income = _cr_income(rng, v, a)
    household = _cr_household(rng, v, a) if _chance(rng, 0.75) else ""
    housing = _cr_housing(rng, v, a) if _chance(rng, 0.8) else ""
    debts = _cr_debts(rng, v, a) if _chance(rng, 0.95) else ""
    history = _cr_history(rng, v, a) if _chance(rng, 0.96) else ""
    savings = _cr_savings(rng, v, a) if _chance(rng, 0.55) else ""
    collateral = _cr_collateral(rng, v, a) if (a.collateral != "none" or _chance(rng, 0.45)) else ""
    event = _cr_event(rng, v, a) if _chance(rng, 0.96) else ""
    dti_s = _cr_dti(rng, v, dti) if _chance(rng, 0.2) else ""
    pii = _cr_pii(rng, v, a) if _chance(rng, 0.33) else ""
    admin = _cr_admin(rng, v, a) if _chance(rng, 0.5) else ""

    if long_form:
        intro = [purpose, employment]
        if tail:
            # Decisive evidence (income, debts, history, events, collateral) only after the padding.
            decisive = [income, housing, debts, history, event, savings, collateral, dti_s]
            rng.shuffle(decisive)
            heading = _pick(
                rng,
                (
                    ("More about my finances:", "A few more details:", "Other things you should know:", "")
                    if v.kind == "first"
                    else (
                        "Underwriter notes:",
                        "Additional information:",
                        "Affordability and credit review:",
                        "Further details:",
                        "",
                    )
                ),
            )
            front = intro + ([household] if _chance(rng, 0.5) else [])
            back = [heading, *decisive, pii, admin]
            pads = _padding(rng, a, rng.randint(380, 580) - _words(_join(front + back)))
            while pads and _words(_join(front + pads + back)) > LONG_MAX_WORDS:
                pads.pop()
            return _join(front + pads + back)
        body = [income, household, housing, debts, history, event, savings, collateral, dti_s]
        rng.shuffle(body)
        pads = _padding(rng, a, rng.randint(370, 580) - _words(_join(intro + body + [pii, admin])))
        layout = rng.randrange(3)
        while True:
            if layout == 0:
                parts = intro + body + pads
            elif layout == 1:
                parts = intro + pads[:1] + body + pads[1:]
            else:
                parts = intro + body[:4] + pads + body[4:]
            text = _join([*parts, pii, admin])
            if _words(text) <= LONG_MAX_WORDS or not pads:
                return text
            pads.pop()

    middle = [employment, income, household, housing, debts, history, event, savings, collateral, dti_s, pii]
    # keep employment before income most of the time; otherwise shuffle freely
    head = middle[:2] if _chance(rng, 0.7) else []
    rest = middle[len(head) :]
    rng.shuffle(rest)
    parts = [purpose] + head + rest if _chance(rng, 0.85) else head + rest[:2] + [purpose] + rest[2:]
    parts.append(admin)
    text = _join(parts)
    # Keep typical narratives within ~60-160 words by dropping optional bits or adding neutral ones.
    optional = [admin, savings, household, pii, dti_s]
    while _words(text) > 160 and optional:
        drop = optional.pop(0)
        if drop:
            parts = [p for p in parts if p is not drop]
            text = _join(parts)
    extras = [_cr_admin(rng, v, a), _cr_pii(rng, v, a), _cr_household(rng, v, a), _cr_savings(rng, v, a)]
    while _words(text) < 60 and extras:
        parts.append(extras.pop(0))
        text = _join(parts)
    return text


def _padding(rng: random.Random, a: _Applicant, budget: int) -> list[str]:
    """Pick uninformative padding paragraphs that roughly fill ``budget`` words."""
    pads: list[str] = []
    order = [
        p for p in _CR_PADDERS if p is not _pad_vehicle or a.purpose == "vehicle" or a.collateral == "vehicle"
    ]
    rng.shuffle(order)
    used = 0
    for make in order:
        if used >= budget:
            break
        para = make(rng, a)
        if used + _words(para) > budget + 60:
            continue
        pads.append(para)
        used += _words(para)
    return pads


def generate_credit_text(n: int = DEFAULT_ROWS["credit_text"], seed: int = 0) -> list[DemoRecord]:
    """Generate the ``credit_text`` demo dataset.

    Args:
        n: Number of rows.
        seed: Random seed; identical seeds give identical output.

    Returns:
        Records with public columns ``text``, ``outcome``, ``region``, ``channel``, ``id``.
    """
    rng = random.Random(f"finrisk-demo:credit_text:{seed}")
    start, end = date(2022, 1, 3), date(2024, 9, 30)
    applicants = [_sample_applicant(rng, _rand_date(rng, start, end)) for _ in range(n)]
    scored = [_credit_score(a) for a in applicants]
    # "Unobserved" factors: noise the text cannot reveal.
    scores = [
        s + 0.15 * a.discipline + rng.gauss(0.0, 0.25) for a, (s, _) in zip(applicants, scored, strict=True)
    ]
    scale = CREDIT_SCORE_SCALE
    intercept = _calibrate_intercept(scores, _pre_noise_rate(CREDIT_DEFAULT_RATE, LABEL_NOISE_RATE), scale)
    clean = [_chance(rng, _sigmoid(scale * s + intercept)) for s in scores]
    flipped = set(rng.sample(range(n), round(n * LABEL_NOISE_RATE)))
    records: list[DemoRecord] = []
    for i, a in enumerate(applicants):
        long_form = _chance(rng, 0.10)
        tail = long_form and _chance(rng, 0.5)
        text = _render_credit(rng, a, scored[i][1]["dti"], long_form, tail)
        is_default = clean[i] != (i in flipped)
        row = {
            "text": text,
            "outcome": "default" if is_default else "repaid",
            "region": a.region,
            "channel": a.channel,
            "id": f"credit-{i + 1:05d}",
        }
        meta = {
            "score": scores[i],
            "p_default": _sigmoid(scale * scores[i] + intercept),
            "clean_label": "default" if clean[i] else "repaid",
            "label_flipped": i in flipped,
            "long_form": long_form,
            "evidence_at_end": tail,
            **scored[i][1],
        }
        records.append(DemoRecord(row=row, meta=meta))
    return records


CREDIT_SCORE_SCALE: float = 3.0
"""Multiplier on the credit latent score before the logistic (higher = less label randomness)."""


# =====================================================================================================
# aml_alert
# =====================================================================================================

# (business type, cash intensive, trade related, median expected monthly turnover)
_AML_BUSINESSES: tuple[tuple[str, bool, bool, int], ...] = (
    ("restaurant", True, False, 60000),
    ("convenience store", True, False, 45000),
    ("car wash", True, False, 30000),
    ("used car dealership", True, False, 150000),
    ("import/export company", False, True, 250000),
    ("freight forwarder", False, True, 300000),
    ("electronics wholesaler", False, True, 400000),
    ("construction contractor", False, False, 200000),
    ("jewellery retailer", True, True, 120000),
    ("real estate holding company", False, False, 80000),
    ("management consultancy", False, False, 70000),
    ("money services business", True, False, 500000),
    ("nail salon", True, False, 25000),
    ("textile importer", False, True, 220000),
    ("registered charity", False, False, 40000),
    ("software startup", False, False, 150000),
    ("dental practice", False, False, 90000),
    ("agricultural equipment dealer", False, True, 260000),
    ("bar and nightclub", True, False, 90000),
    ("landscaping company", True, False, 35000),
    ("seafood wholesaler", False, True, 180000),
)
_AML_BIZ_STEMS: tuple[str, ...] = (
    "Golden Harbor",
    "Blue Lotus",
    "Sunrise",
    "Pacific Crest",
    "Northstar",
    "Red Maple",
    "Silver Oak",
    "Eastline",
    "Prime Route",
    "Greenway",
    "Lucky Star",
    "Royal Crown",
    "Summit Ridge",
    "Atlas",
    "Bayview",
    "Emerald Coast",
    "Ironbridge",
    "Coastal",
    "Westfield",
    "Orchid",
    "Keystone",
    "Meridian",
)
_AML_BIZ_SUFFIX: tuple[str, ...] = ("LLC", "Inc", "Ltd", "Group LLC", "Holdings LLC", "Trading Co", "Corp")
# (occupation, typical monthly income)
_AML_OCCUPATIONS: tuple[tuple[str, int], ...] = (
    ("retired teacher", 4000),
    ("registered nurse", 6500),
    ("university student", 1500),
    ("software engineer", 11000),
    ("self-employed contractor", 7000),
    ("rideshare driver", 3800),
    ("real estate agent", 9000),
    ("dentist", 16000),
    ("warehouse associate", 3300),
    ("homemaker", 2500),
    ("restaurant manager", 5200),
    ("truck driver", 5600),
    ("pharmacist", 10500),
    ("hair stylist", 3600),
    ("retired engineer", 5500),
    ("car salesman", 6000),
)
_AML_HRJ: tuple[str, ...] = (
    "Panama",
    "the British Virgin Islands",
    "Seychelles",
    "Belize",
    "Cyprus",
    "the UAE",
    "Hong Kong",
    "Turkey",
    "Nigeria",
    "Myanmar",
    "the Cayman Islands",
    "Malta",
    "Vanuatu",
    "Labuan",
)
_AML_LOWRISK: tuple[str, ...] = (
    "Germany",
    "Canada",
    "the United Kingdom",
    "Japan",
    "France",
    "the Netherlands",
    "Australia",
    "Mexico",
    "Italy",
    "South Korea",
)
_AML_SANCTIONED: tuple[str, ...] = (
    "Viktor Aslanov",
    "Golden Crescent Shipping FZE",
    "Karimi General Trading",
    "Baltic Star Maritime",
    "Al-Nour Import Export",
    "Sergei Morozov",
    "Oceanic Bulk Carriers Ltd",
    "Dmitri Volkov",
    "Eastern Petrochem Trading",
    "Hassan Rahimi",
)
# (goods, unit, market price per unit)
_AML_GOODS: tuple[tuple[str, str, float], ...] = (
    ("LED television sets", "unit", 180.0),
    ("used auto parts", "kg", 4.5),
    ("frozen shrimp", "kg", 9.0),
    ("cotton T-shirts", "piece", 3.2),
    ("mobile phones", "unit", 220.0),
    ("laptop computers", "unit", 460.0),
    ("steel pipe", "tonne", 900.0),
    ("cashew nuts", "kg", 7.0),
    ("solar panels", "panel", 160.0),
    ("nitrile gloves", "box", 6.0),
    ("scrap copper", "tonne", 7800.0),
    ("wristwatches", "unit", 95.0),
)
_AML_RULES: dict[str, tuple[str, str]] = {
    "profile_deviation": ("TM-PRF-02", "activity inconsistent with expected profile"),
    "cash_structuring": ("TM-CSH-07", "cash deposits below the reporting threshold"),
    "rapid_movement": ("TM-VEL-03", "rapid movement of funds"),
    "high_risk_geo": ("TM-GEO-11", "wires involving higher-risk jurisdictions"),
    "trade_finance": ("TF-INV-04", "trade pricing anomaly"),
    "sanctions": ("SCR-NM-01", "sanctions name screening"),
    "large_wire": ("TM-WIR-09", "large incoming wire"),
}
_AML_ANALYSTS: tuple[str, ...] = ("JM", "KT", "RB", "AS", "LP", "DW", "NH", "OC", "SG", "TV")


@dataclass
class _Alert:
    """Structured facts behind one AML alert (sampled before any text is written)."""

    region: str
    channel: str
    alert_date: date
    bad: bool
    cust_kind: str = "individual"
    name: str = ""
    first: str = ""
    last: str = ""
    gender: str = "m"
    desc: str = ""
    cash_intensive: bool = False
    trade: bool = False
    tenure_years: float = 1.0
    risk: str = "medium"
    expected_monthly: float = 0.0
    window_days: int = 90
    observed_total: float = 0.0
    ratio: float = 1.0
    rule: str = "profile_deviation"
    struct_k: int = 0
    struct_amounts: list[float] = field(default_factory=list)
    struct_branches: int = 1
    struct_days: int = 0
    ctr_count: int = 0
    cash_reviewed: bool = False
    passthrough_pct: int = 0
    passthrough_days: int = 3
    n_counterparties: int = 1
    hrj: list[str] = field(default_factory=list)
    hrj_amount: float = 0.0
    lowrisk_foreign: list[str] = field(default_factory=list)
    goods: tuple[str, str, float] | None = None
    trade_qty: int = 0
    trade_mismatch: float = 0.0
    vague_goods: bool = False
    third_party: bool = False
    transship: str = ""
    sanc_hit: bool = False
    sanc_score: int = 0
    sanc_fp: bool = False
    sanc_entity: str = ""
    explanation: str = "not_requested"
    rationale: str = ""
    docs: str = ""
    adverse: str = "none"
    adverse_detail: str = ""
    prior_alerts: int = 0
    prior_sar_year: int = 0
    pep: bool = False


def _sample_alert(rng: random.Random, alert_date: date) -> _Alert:
    """Sample the structured facts of one alert (a hidden bad-actor flag correlates them)."""
    a = _Alert(
        region=_pick(rng, REGIONS),
        channel=_wpick(rng, (("branch", 0.40), ("online", 0.45), ("broker", 0.15))),
        alert_date=alert_date,
        bad=_chance(rng, 0.13),
    )
    bad = a.bad
    a.first, a.last, a.gender = _person(rng)
    if _chance(rng, 0.45):
        a.cust_kind = "business"
        a.desc, a.cash_intensive, a.trade, median = _pick(rng, _AML_BUSINESSES)
        a.name = f"{_pick(rng, (_pick(rng, _AML_BIZ_STEMS), a.last))} {_pick(rng, _AML_BIZ_SUFFIX)}"
        a.expected_monthly = _round_to(median * rng.lognormvariate(0.0, 0.5), 1000)
    else:
        a.desc, monthly = _pick(rng, _AML_OCCUPATIONS)
        a.name = f"{a.first} {a.last}"
        a.cash_intensive = a.desc in (
            "rideshare driver",
            "hair stylist",
            "restaurant manager",
            "car salesman",
        )
        a.expected_monthly = _round_to(monthly * 1.15 * rng.lognormvariate(0.0, 0.3), 100)
    a.tenure_years = round(rng.lognormvariate(math.log(1.6 if bad else 5.0), 0.8), 1)
    a.risk = _wpick(rng, (("low", 0.15 if bad else 0.40), ("medium", 0.50), ("high", 0.35 if bad else 0.10)))

    # --- what fired
    if a.cust_kind == "business" and a.trade:
        rules = (
            ("profile_deviation", 0.18),
            ("cash_structuring", 0.08 if a.cash_intensive else 0.0),
            ("rapid_movement", 0.12),
            ("high_risk_geo", 0.16),
            ("trade_finance", 0.32),
            ("sanctions", 0.08),
            ("large_wire", 0.06),
        )
    elif a.cust_kind == "business":
        rules = (
            ("profile_deviation", 0.30),
            ("cash_structuring", 0.28 if a.cash_intensive else 0.04),
            ("rapid_movement", 0.18),
            ("high_risk_geo", 0.09),
            ("sanctions", 0.06),
            ("large_wire", 0.10),
        )
    else:
        rules = (
            ("profile_deviation", 0.32),
            ("cash_structuring", 0.22),
            ("rapid_movement", 0.17),
            ("high_risk_geo", 0.09),
            ("sanctions", 0.10),
            ("large_wire", 0.10),
        )
    a.rule = _wpick(rng, rules)

    # --- activity vs expected profile (matters as a ratio of two rendered numbers)
    a.window_days = _pick(rng, (30, 60, 90))
    a.ratio = rng.lognormvariate(math.log(2.4 if bad else 1.15), 0.65 if bad else 0.45)
    if a.rule in ("profile_deviation", "large_wire"):
        a.ratio *= rng.uniform(1.3, 2.0)
    a.observed_total = _round_to(a.expected_monthly * a.ratio * a.window_days / 30.0, 100)

    # --- structuring
    cashy = a.cash_intensive or a.cust_kind == "individual"
    if a.rule == "cash_structuring":
        a.struct_k = (
            rng.randint(3, 10) if bad else _wpick(rng, ((0, 0.3), (1, 0.3), (2, 0.25), (3, 0.1), (4, 0.05)))
        )
        a.cash_reviewed = True
    elif cashy and bad and _chance(rng, 0.4):
        a.struct_k = rng.randint(2, 7)
    elif cashy and _chance(rng, 0.05):
        a.struct_k = rng.randint(1, 3)
    if a.struct_k:
        lo = 8000 if bad else 6500
        a.struct_amounts = [
            _round_to(rng.uniform(lo, 9990), _pick(rng, (10, 50, 100))) for _ in range(a.struct_k)
        ]
        a.struct_amounts = [min(x, 9990.0) for x in a.struct_amounts]
        a.struct_branches = rng.randint(1, min(a.struct_k, 5)) if bad else rng.randint(1, 2)
        a.struct_days = a.struct_k * rng.randint(1, 4)
    if a.cash_intensive and not bad:
        a.ctr_count = rng.randint(0, 6)
    a.cash_reviewed = a.cash_reviewed or a.struct_k > 0 or (a.cash_intensive and _chance(rng, 0.4))

    # --- velocity / layering
    if a.rule == "rapid_movement":
        a.passthrough_pct = rng.randint(70, 98) if bad else rng.randint(25, 85)
    elif bad and _chance(rng, 0.55):
        a.passthrough_pct = rng.randint(50, 95)
    elif _chance(rng, 0.05):
        a.passthrough_pct = rng.randint(55, 90)  # legitimate pass-through (payroll, escrow)
    else:
        a.passthrough_pct = rng.randint(0, 45)
    a.passthrough_days = rng.randint(1, 10)
    a.n_counterparties = rng.randint(4, 28) if bad else rng.randint(1, 12)

    # --- jurisdictions
    if a.rule == "high_risk_geo" or (bad and _chance(rng, 0.35)) or _chance(rng, 0.04):
        a.hrj = rng.sample(list(_AML_HRJ), rng.randint(1, 3 if bad else 2))
        a.hrj_amount = _round_to(a.observed_total * rng.uniform(0.1, 0.85), 100)
    if _chance(rng, 0.2):
        a.lowrisk_foreign = rng.sample(list(_AML_LOWRISK), rng.randint(1, 2))

    # --- trade
    if a.rule == "trade_finance" or (a.trade and _chance(rng, 0.35)):
        a.goods = _pick(rng, _AML_GOODS)
        a.trade_qty = int(_round_to(rng.lognormvariate(math.log(40000 / a.goods[2]), 0.8), 10))
        if bad and _chance(rng, 0.8):
            a.trade_mismatch = rng.uniform(0.25, 1.6) * _pick(rng, (1, 1, -0.5))
        elif _chance(rng, 0.15):
            a.trade_mismatch = rng.uniform(0.2, 0.45)
        else:
            a.trade_mismatch = rng.uniform(-0.12, 0.15)
        a.vague_goods = _chance(rng, 0.45 if bad else 0.08)
        a.third_party = _chance(rng, 0.45 if bad else 0.08)
        if _chance(rng, 0.3 if bad else 0.1):
            a.transship = _pick(
                rng, ("Dubai (Jebel Ali)", "Hong Kong", "Mersin", "Colon Free Zone", "Port Klang")
            )

    # --- sanctions screening
    if a.rule == "sanctions" or _chance(rng, 0.015):
        a.sanc_hit = True
        a.sanc_score = rng.randint(78, 100)
        a.sanc_fp = _chance(rng, 0.35 if bad else 0.93)
        a.sanc_entity = _pick(rng, _AML_SANCTIONED)

    # --- customer outreach
    a.explanation = _wpick(
        rng,
        (
            ("consistent", 0.12 if bad else 0.52),
            ("partial", 0.25 if bad else 0.15),
            ("unsupported", 0.28 if bad else 0.04),
            ("no_response", 0.25 if bad else 0.06),
            ("not_requested", 0.10 if bad else 0.23),
        ),
    )
    a.rationale, a.docs = _aml_rationale(rng, a)
    a.adverse = _wpick(
        rng,
        (
            ("none", 0.55 if bad else 0.85),
            ("minor", 0.10 if bad else 0.12),
            ("relevant", 0.35 if bad else 0.03),
        ),
    )
    a.prior_alerts = min(6, _poisson(rng, 1.2 if bad else 0.4))
    if _chance(rng, 0.2 if bad else 0.02):
        a.prior_sar_year = alert_date.year - rng.randint(1, 5)
    a.pep = _chance(rng, 0.06 if bad else 0.03)
    return a


_AML_REASONS: dict[str, tuple[tuple[str, str], ...]] = {
    # scenario -> (stated reason, supporting documents)
    "cash": (
        ("daily cash takings from the business", "POS daily reports"),
        ("weekend cash sales banked on Mondays", "till reconciliations"),
        ("cash receipts from event catering", "sales ledgers and event invoices"),
    ),
    "trade": (
        ("a bulk order at a volume discount", "invoices and bills of lading"),
        (
            "premium-grade goods priced above the market average",
            "the sales contract and quality certificates",
        ),
        ("a one-off clearance sale by the supplier", "a supplier letter and packing lists"),
    ),
    "geo_business": (
        ("payments to overseas suppliers", "supplier invoices"),
        ("commission owed to a foreign sales agent", "an agency agreement"),
        ("settlement of a shipping invoice", "shipping documents"),
    ),
    "geo_individual": (
        ("support for family members abroad", "remittance receipts"),
        ("an overseas property purchase", "a purchase agreement"),
        ("tuition for a child studying abroad", "university fee statements"),
    ),
    "windfall": (
        ("proceeds from the sale of a property", "a closing statement from the title company"),
        ("an inheritance", "probate documents"),
        ("a personal injury settlement", "a settlement letter"),
        ("the sale of a vehicle", "a bill of sale"),
        ("a loan from a relative", "a signed loan agreement"),
        ("a bonus payment", "an employer letter and payslip"),
    ),
    "business": (
        ("a seasonal peak in trading", "management accounts"),
        ("payroll for seasonal staff", "payroll records"),
        ("a large customer prepayment", "the customer contract"),
        ("a new contract starting earlier than planned", "the signed contract"),
    ),
    "individual": (
        ("pooling funds for a family event", "bank statements from relatives"),
        ("moving savings between banks", "statements from the other institution"),
        ("a new side business", "a business plan and invoices"),
        ("repayment of a loan by a friend", "messages and transfer receipts"),
    ),
}


def _aml_rationale(rng: random.Random, a: _Alert) -> tuple[str, str]:
    """Customer's stated reason for the activity and the documents offered."""
    if a.struct_k and a.cash_intensive:
        key = "cash"
    elif a.goods is not None:
        key = "trade"
    elif a.hrj:
        key = "geo_business" if a.cust_kind == "business" else "geo_individual"
    elif (a.rule == "large_wire" or a.ratio > 2.5) and a.cust_kind == "individual":
        key = "windfall"
    else:
        key = a.cust_kind
    return _pick(rng, _AML_REASONS[key])


def _aml_typologies(a: _Alert, escalated: bool) -> list[str]:
    """Typologies recorded on the case.

    Escalated cases are tagged with every typology whose indicators are at least moderately present (the
    suspected typologies go into the referral). Closed cases are tagged only when strong indicators were
    investigated and explained away (documented rationale or a discounted screening hit), so most closed
    alerts carry no typology.
    """
    k, pt = a.struct_k, a.passthrough_pct
    trade_weak = a.goods is not None and (
        abs(a.trade_mismatch) >= 0.15 or a.third_party or a.vague_goods or bool(a.transship)
    )
    trade_strong = a.goods is not None and (
        abs(a.trade_mismatch) >= 0.25 or (a.third_party and (a.vague_goods or bool(a.transship)))
    )
    weak = {
        "structuring": k >= 2,
        "layering": pt >= 50 or (bool(a.hrj) and pt >= 30),
        "trade_based": trade_weak,
        "sanctions": a.sanc_hit and (not a.sanc_fp or a.sanc_score >= 90),
    }
    strong = {
        "structuring": k >= 3 or (k >= 2 and a.struct_branches >= 2),
        "layering": pt >= 70 or (pt >= 55 and (a.n_counterparties >= 10 or bool(a.hrj))),
        "trade_based": trade_strong,
        "sanctions": a.sanc_hit and (not a.sanc_fp or a.sanc_score >= 97),
    }
    if escalated:
        return [t for t in AML_TYPOLOGIES if weak[t]]
    explained = a.explanation in ("consistent", "partial")
    out = []
    for t in AML_TYPOLOGIES:
        if t == "sanctions":
            if strong[t] and a.sanc_fp:
                out.append(t)
        elif strong[t] and explained:
            out.append(t)
    return out


def _aml_score(a: _Alert) -> float:
    """Latent escalation log-odds (before scaling / intercept)."""
    s = 1.0 * _clip(math.log(a.ratio), -0.5, 2.5)
    k = a.struct_k
    s += {0: 0.0, 1: 0.2, 2: 0.5}.get(k, 1.5 if k <= 5 else 2.3)
    s += 0.4 if a.struct_branches >= 3 else 0.0
    s -= 0.3 if a.ctr_count >= 2 and k <= 2 else 0.0
    pt = a.passthrough_pct
    s += 1.7 if pt >= 80 else (0.9 if pt >= 55 else 0.0)
    s += 0.4 if a.n_counterparties >= 12 else 0.0
    if a.hrj:
        s += 0.8 + 0.6 * min(1.0, a.hrj_amount / max(a.observed_total, 1.0))
    if a.goods is not None:
        m = abs(a.trade_mismatch)
        s += 1.6 if m >= 0.4 else (0.9 if m >= 0.2 else 0.0)
        s += (0.4 if a.vague_goods else 0.0) + (0.7 if a.third_party else 0.0) + (0.3 if a.transship else 0.0)
    if a.sanc_hit:
        s += -0.8 if a.sanc_fp else 5.0  # a confirmed true match is escalated regardless
    s += {"consistent": -1.8, "partial": -0.3, "unsupported": 1.0, "no_response": 1.3, "not_requested": 0.0}[
        a.explanation
    ]
    s += {"none": 0.0, "minor": 0.2, "relevant": 1.3}[a.adverse]
    s += 0.9 if a.prior_sar_year else 0.0
    s += 0.15 * min(a.prior_alerts, 3)
    s += {"high": 0.5, "medium": 0.0, "low": -0.3}[a.risk]
    s += 0.4 if a.pep else 0.0
    s += 0.4 if a.tenure_years < 1 else (-0.3 if a.tenure_years > 10 else 0.0)
    return s


def _aml_voice(rng: random.Random, a: _Alert) -> _Voice:
    """Investigator's way of referring to the subject."""
    if a.cust_kind == "business":
        short = a.name.rsplit(" ", 1)[0]
        for suffix in (" Group", " Holdings", " Trading"):
            short = short.removesuffix(suffix)
        aliases = ("the customer", "the company", short, "the business", "the subject")
        return _Voice("third", a.name, "it", "its", rng, aliases=aliases)
    title = "Ms." if a.gender == "f" else "Mr."
    aliases = ("the customer", f"{title} {a.last}", "the subject", f"{title} {a.last}")
    return _Voice(
        "third",
        a.name,
        "she" if a.gender == "f" else "he",
        "her" if a.gender == "f" else "his",
        rng,
        aliases=aliases,
    )


def _aml_header(rng: random.Random, a: _Alert, alert_id: str, case_id: str, acct: str) -> str:
    """Opening line identifying the alert, rule and subject (contains account numbers)."""
    code, label = _AML_RULES[a.rule]
    d = _fmt_date(rng, a.alert_date)
    return _pick(
        rng,
        (
            f"Alert {alert_id} ({label}) generated {d} on account {acct} held by {a.name}.",
            f"Case {case_id} / alert {alert_id}: rule {code} ({label}) fired on {d} for {a.name}, account "
            f"{acct}.",
            f"Subject: {a.name}, CIF {rng.randint(1000000, 9999999)}. Alert {alert_id} triggered by {code} "
            f"on {d}.",
            f"Reviewed alert {alert_id} for {a.name} (acct {acct}), generated {d} by the {label} scenario.",
            f"{code} alert {alert_id} dated {d}. Customer: {a.name}. Primary account: {acct}.",
            f"Alert {alert_id} - {label}. Opened {d}. Subject {a.name}, account no. {acct}.",
        ),
    )


def _aml_profile(rng: random.Random, v: _Voice, a: _Alert) -> str:
    """KYC profile: who the customer is, tenure, expected activity, risk rating."""
    since = a.alert_date.year - int(a.tenure_years)
    exp = _money(rng, a.expected_monthly)
    if a.cust_kind == "business":
        return _say(
            rng,
            v,
            first=(),
            third=(
                "{Who} is {desc} onboarded in {since}; KYC expected activity is about {exp} per month and "
                "the "
                "risk rating is {risk}.",
                "Customer profile: {desc}, relationship since {since}, risk rating {risk}. Expected monthly "
                "turnover at onboarding: {exp}.",
                "KYC describes {who} as {desc} (customer since {since}) with anticipated monthly volumes of "
                "roughly {exp}. Current risk rating: {risk}.",
                "{Who} operates as {desc}. Account opened {since}. Declared monthly turnover {exp}; rated "
                "{risk} risk.",
            ),
            desc=_article(a.desc),
            since=since,
            exp=exp,
            risk=a.risk,
        )
    return _say(
        rng,
        v,
        first=(),
        third=(
            "{Who} is {desc} who has banked with us since {since}; KYC risk rating {risk}. Declared "
            "monthly income "
            "is approximately {exp}.",
            "Customer since {since}, occupation {occ}, risk rating {risk}, expected monthly deposits "
            "around {exp}.",
            "KYC on file: {occ}, relationship opened {since}, rated {risk} risk, anticipated activity "
            "about {exp} "
            "a month.",
            "{Who} ({occ}) has held the account since {since}. Expected activity per KYC: {exp} monthly. "
            "Risk "
            "rating {risk}.",
        ),
        desc=_article(a.desc),
        occ=a.desc,
        since=since,
        exp=exp,
        risk=a.risk,
    )


def _aml_activity(rng: random.Random, v: _Voice, a: _Alert) -> str:
    """Activity over the review window (ratio to the expected profile left implicit most of the time)."""
    d2 = a.alert_date - timedelta(days=rng.randint(1, 5))
    d1 = d2 - timedelta(days=a.window_days)
    kw = {
        "n": a.window_days,
        "d1": _fmt_date(rng, d1),
        "d2": _fmt_date(rng, d2),
        "tot": _money(rng, a.observed_total),
        "deb": _money(rng, _round_to(a.observed_total * rng.uniform(0.6, 1.0), 100)),
        "x": f"{a.observed_total / (a.expected_monthly * a.window_days / 30.0):.1f}",
    }
    text = _say(
        rng,
        v,
        first=(),
        third=(
            "During the {n}-day review period ({d1} to {d2}) the account received {tot} in credits and "
            "{deb} in debits.",
            "Review window {d1} - {d2} ({n} days): total credits {tot}, total debits {deb}.",
            "Over the last {n} days, credits to the account totalled {tot}.",
            "I reviewed {n} days of activity ending {d2}; incoming funds amounted to {tot}.",
        ),
        **kw,
    )
    if _chance(rng, 0.25):
        text += " " + _pick(
            rng,
            (
                "That is roughly {x} times the expected volume for the period.",
                "This equates to about {x}x the profiled activity.",
            ),
        ).format(**kw)
    return text


def _aml_structuring(rng: random.Random, v: _Voice, a: _Alert) -> str:
    """Cash deposit findings near the reporting threshold (or their absence)."""
    k = a.struct_k
    if k >= 2:
        amounts = sorted(a.struct_amounts)
        kw = {
            "k": _num(rng, k, 0.5),
            "lo": _money(rng, amounts[0], compact_ok=False),
            "hi": _money(rng, amounts[-1], compact_ok=False),
            "sum": _money(rng, sum(amounts)),
            "days": a.struct_days,
            "b": _num(rng, a.struct_branches, 0.7),
            "lst": ", ".join(_money(rng, x, compact_ok=False) for x in a.struct_amounts[:5]),
            "br": "branch" if a.struct_branches == 1 else "branches",
        }
        templates = [
            "{k} cash deposits between {lo} and {hi} were made over {days} days at {b} {br}, totalling "
            "{sum}.",
            "Identified {k} cash deposits in the $8,000-$9,999 range within {days} days (aggregate {sum}).",
            "Cash deposits of {lst} were made on separate days, each below the $10,000 CTR threshold.",
            "Cash activity: {k} deposits just under $10,000 across {b} {br} in {days} days, total {sum}.",
        ]
        if a.struct_k > 0 and not a.bad and _chance(rng, 0.5):
            templates = [
                "{k} cash deposits between {lo} and {hi} over {days} days; amounts vary and do not cluster "
                "at the threshold.",
                "{k} cash deposits of {lst} were noted; values are irregular and consistent with takings.",
            ]
        return _cap(_pick(rng, templates).format(**kw))
    if k == 1:
        amt = _money(rng, a.struct_amounts[0], compact_ok=False)
        return _pick(
            rng,
            (
                f"One cash deposit of {amt} just under the threshold; no repeated pattern observed.",
                f"A single cash deposit of {amt} was noted; no other deposits near $10,000.",
            ),
        )
    if a.ctr_count:
        return _pick(
            rng,
            (
                "Cash deposits exceeded $10,000 "
                f"{'once' if a.ctr_count == 1 else _num(rng, a.ctr_count) + ' times'} and "
                "a CTR was filed each time; no deposits cluster below the threshold.",
                f"CTRs filed in the period for cash deposits over $10,000: {a.ctr_count}. No evidence of "
                "threshold "
                "avoidance.",
            ),
        )
    return _pick(
        rng,
        (
            "No cash deposits near the CTR threshold.",
            "Cash activity is limited to small deposits and does not approach the reporting threshold.",
            "There were no cash deposits between $8,000 and $10,000 in the review period.",
            "Structuring was considered; cash deposits are infrequent and well below $10,000.",
        ),
    )


def _aml_layering(rng: random.Random, v: _Voice, a: _Alert) -> str:
    """Pass-through / velocity findings."""
    pt = a.passthrough_pct
    kw = {
        "pct": pt,
        "d": _num(rng, a.passthrough_days),
        "n": a.n_counterparties,
        "amt": _money(rng, _round_to(a.observed_total * pt / 100.0, 100)),
    }
    if pt >= 50:
        return _pick(
            rng,
            (
                "About {pct}% of incoming funds left the account within {d} days, sent to {n} "
                "counterparties.",
                "Funds were received from multiple senders and moved out within {d} days ({pct}% of "
                "credits); {n} "
                "beneficiaries in total.",
                "Rapid in-and-out movement: roughly {amt} ({pct}% of credits) was transferred onward "
                "within {d} days.",
                "Balances were drawn down to near zero after each credit; {pct}% of inflows were wired out "
                "within {d} days.",
            ),
        ).format(**kw)
    if pt >= 25:
        return _pick(
            rng,
            (
                "Around {pct}% of credits were transferred out in the same month, mostly to {n} recurring "
                "payees.",
                "Some onward transfers ({pct}% of credits) but balances were otherwise retained.",
            ),
        ).format(**kw)
    return _pick(
        rng,
        (
            "No evidence of rapid in-and-out movement; balances grew steadily over the period.",
            "Funds remained in the account; outgoing payments are routine (rent, payroll, utilities, "
            "suppliers).",
            "Velocity is low - most credits were retained and spent gradually.",
            "Layering was considered but there is no pattern of funds passing quickly through the account.",
        ),
    )


def _aml_geo(rng: random.Random, v: _Voice, a: _Alert) -> str:
    """Counterparty jurisdictions (high-risk or benign foreign or none)."""
    if a.hrj:
        kw = {
            "c": _list_join(a.hrj),
            "amt": _money(rng, a.hrj_amount),
            "iban": _iban(rng, _pick(rng, ("CY", "AE", "CH"))),
            "benef": _pick(
                rng,
                (
                    f"{_pick(rng, _AML_BIZ_STEMS)} International Ltd",
                    _full_name(rng),
                    f"{_pick(rng, _AML_BIZ_STEMS)} Global FZE",
                ),
            ),
        }
        return _pick(
            rng,
            (
                "Outgoing wires totalling {amt} were sent to beneficiaries in {c}.",
                "Incoming and outgoing transfers involving {c} amounted to {amt}.",
                "{amt} was wired to {benef} (IBAN {iban}) with the bank located in {c}.",
                "Counterparties in {c} account for {amt} of the activity reviewed.",
            ),
        ).format(**kw)
    if a.lowrisk_foreign:
        return _pick(
            rng,
            (
                f"International payments were limited to suppliers in {_list_join(a.lowrisk_foreign)}.",
                f"Some cross-border wires to {_list_join(a.lowrisk_foreign)}; no higher-risk jurisdictions "
                "involved.",
            ),
        )
    return _pick(
        rng,
        (
            "No transactions involving high-risk jurisdictions were identified.",
            "All counterparties are domestic.",
            "No cross-border activity in the review period.",
        ),
    )


def _aml_trade(rng: random.Random, v: _Voice, a: _Alert) -> str:
    """Trade finance findings: unit price vs market, goods description, third-party payments."""
    if a.goods is None:
        return ""
    goods, unit, mkt = a.goods
    price = mkt * (1.0 + a.trade_mismatch)
    kw = {
        "qty": f"{a.trade_qty:,}",
        "goods": goods,
        "unit": unit,
        "price": _money(rng, round(price, 2), compact_ok=False),
        "mkt": _money(rng, round(mkt, 2), compact_ok=False),
        "inv": _money(rng, _round_to(price * a.trade_qty, 100)),
    }
    out = [
        _pick(
            rng,
            (
                "Invoice for {qty} {unit}s of {goods} at {price} per {unit} (total {inv}); market "
                "reference is about {mkt} per {unit}.",
                "Shipment of {goods} invoiced at {price}/{unit} against a benchmark of roughly "
                "{mkt}/{unit}; invoice value {inv}.",
                "Trade documents show {qty} {unit}s of {goods} billed at {price} each; comparable market "
                "price around {mkt}.",
            ),
        ).format(**kw)
    ]
    if a.vague_goods:
        out.append(
            _pick(
                rng,
                (
                    "The bill of lading describes the cargo only as 'general merchandise'.",
                    "Goods description on the documents is vague ('assorted items').",
                ),
            )
        )
    if a.third_party:
        out.append(
            _pick(
                rng,
                (
                    f"Payment came from a third party in {_pick(rng, _AML_HRJ)} that is not named on the "
                    "invoice.",
                    "The buyer did not pay directly; funds arrived from an unrelated company.",
                ),
            )
        )
    if a.transship:
        out.append(f"Goods were routed via {a.transship} before the final destination.")
    return " ".join(out)


def _aml_sanctions(rng: random.Random, v: _Voice, a: _Alert) -> str:
    """Sanctions screening outcome."""
    if not a.sanc_hit:
        return ""
    kw = {"score": a.sanc_score, "ent": a.sanc_entity}
    if a.sanc_fp:
        return _pick(
            rng,
            (
                "Name screening returned a {score}% match to the SDN entry '{ent}'; date of birth, "
                "nationality and "
                "address differ from the listed party. Confirmed false positive.",
                "Screening hit on '{ent}' ({score}% similarity) was reviewed; identifiers do not match and "
                "the hit is "
                "discounted.",
                "Potential match to '{ent}' ({score}%) cleared after comparing passport details and DOB.",
            ),
        ).format(**kw)
    return _pick(
        rng,
        (
            "Screening matched a counterparty to the SDN entry '{ent}' with {score}% similarity; DOB and "
            "nationality "
            "also match.",
            "A beneficiary shares name, date of birth and address with the listed party '{ent}' ({score}% "
            "match).",
            "The vessel named in the shipping documents is linked to '{ent}', which appears on the OFAC "
            "list.",
        ),
    ).format(**kw)


def _aml_outreach(rng: random.Random, v: _Voice, a: _Alert) -> str:
    """Customer outreach / RFI outcome with the stated rationale."""
    when = _fmt_date(rng, a.alert_date + timedelta(days=rng.randint(3, 20)))
    kw = {"when": when, "why": a.rationale, "docs": a.docs}
    t = {
        "consistent": (
            "RFI sent {when}; {who} provided {docs} showing the funds relate to {why}, which is consistent "
            "with the "
            "activity observed.",
            "Outreach via the relationship manager on {when}: the activity relates to {why}; we reviewed "
            "{docs}, "
            "which support the explanation.",
            "{Who} explained the activity as {why} and supplied {docs}; amounts and dates reconcile.",
        ),
        "partial": (
            "{Who} attributed the activity to {why} but supplied only part of the documentation requested "
            "({docs}).",
            "RFI response ({when}) cites {why}; documentation received covers only some of the transactions.",
        ),
        "unsupported": (
            "{Who} stated the funds were from {why}; however, the documents provided ({docs}) do not match "
            "the "
            "amounts or dates observed.",
            "Explanation given ({why}) is not supported by the documents received on {when}.",
        ),
        "no_response": (
            "RFI issued {when}; no response received after two follow-ups.",
            "{Who} declined to explain the source of funds when contacted on {when}.",
            "Attempts to reach {who} by phone and letter since {when} have been unsuccessful.",
        ),
        "not_requested": (
            "No customer outreach was conducted for this review.",
            "Customer was not contacted; the review relied on internal records.",
        ),
    }[a.explanation]
    return _say(rng, v, first=(), third=t, **kw)


def _aml_background(rng: random.Random, v: _Voice, a: _Alert) -> list[str]:
    """Adverse media, prior alerts / SARs and PEP status."""
    out: list[str] = []
    year = a.alert_date.year - rng.randint(1, 6)
    if a.adverse == "relevant":
        crime = _pick(
            rng,
            (
                "procurement fraud",
                "tax evasion",
                "an investment scam",
                "drug trafficking",
                "bribery of a public official",
                "smuggling of counterfeit goods",
            ),
        )
        out.append(
            _pick(
                rng,
                (
                    f"Adverse media: a {year} article reports the subject is under investigation for "
                    f"{crime}.",
                    f"Negative news search found coverage linking the subject to {crime} ({year}).",
                ),
            )
        )
    elif a.adverse == "minor":
        out.append(
            _pick(
                rng,
                (
                    f"Adverse media search found a {year} local news item about a civil dispute with a "
                    "former landlord; not "
                    "financial-crime related.",
                    f"A {year} article mentions a traffic offence; not relevant to financial crime.",
                ),
            )
        )
    elif _chance(rng, 0.6):
        out.append(
            _pick(
                rng,
                (
                    "Negative news screening returned no relevant hits.",
                    "No adverse media identified.",
                    "Adverse media checks were negative.",
                ),
            )
        )
    if a.prior_sar_year:
        out.append(
            _pick(
                rng,
                (
                    f"A SAR was previously filed on this customer in {a.prior_sar_year}.",
                    f"Prior SAR on file ({a.prior_sar_year}).",
                ),
            )
        )
    if a.prior_alerts:
        out.append(
            _pick(
                rng,
                (
                    f"{_cap(_num(rng, a.prior_alerts))} prior alert{'s' if a.prior_alerts > 1 else ''} in "
                    "the last two years.",
                    f"Alert history: {a.prior_alerts} previous alert{'s' if a.prior_alerts > 1 else ''} "
                    "reviewed.",
                ),
            )
        )
    elif not a.prior_sar_year and _chance(rng, 0.5):
        out.append(_pick(rng, ("No prior alerts or SARs.", "No previous alerts on this customer.")))
    if a.pep:
        out.append(
            _pick(
                rng,
                (
                    "Customer is a domestic PEP (municipal councillor).",
                    "Beneficial owner is a close associate of a foreign PEP.",
                ),
            )
        )
    return out


def _aml_pii(rng: random.Random, a: _Alert) -> str:
    """Customer identifiers and contact details (fake PII)."""
    email = _email(rng, a.first, a.last)
    options = [
        f"Customer contact on file: {_phone(rng)}, {email}.",
        f"Linked accounts: {_account_number(rng)} and {_account_number(rng)}.",
        f"SSN {_ssn(rng)} matches the CIP record."
        if a.cust_kind == "individual"
        else f"EIN {rng.randint(10, 99)}-{_digits(rng, 7)}; authorised signer {a.first} {a.last}.",
        f"Debit card {_card_number(rng)} used for the ATM cash activity.",
        f"Incoming wires originated from IBAN {_iban(rng)}.",
        f"RM reached the customer at {_phone(rng)}.",
    ]
    return _pick(rng, options)


def _aml_closing(rng: random.Random, a: _Alert, case_id: str) -> str:
    """Neutral administrative closing line (never states the disposition)."""
    d = _fmt_date(rng, a.alert_date + timedelta(days=rng.randint(10, 40)))
    return _pick(
        rng,
        (
            f"Supporting documents saved to case {case_id}.",
            f"Analyst: {_pick(rng, _AML_ANALYSTS)}. Review completed {d}.",
            "Transaction detail exported to the case workbook.",
            f"Narrative drafted {d}; pending QA.",
            "Screenshots of the statements and screening results attached.",
        ),
    )


_AML_BOILERPLATE: tuple[str, ...] = (
    "Scope and method: the review covered all deposit and loan accounts where the subject is an owner or "
    "authorised signer, using statements, wire detail, cash transaction reports and the KYC file. "
    "Transactions "
    "were grouped by counterparty and by channel, and the results compared with the activity expected at "
    "onboarding and at the last periodic review.",
    "Sources consulted: core banking transaction history, wire transfer system, cash management reports, "
    "the customer due diligence file, open-source internet searches, commercial adverse media database, "
    "corporate registry extracts and internal alert history. Screening lists included OFAC SDN and "
    "consolidated "
    "lists, UN, EU and HMT.",
    "Quality notes: the alert was assigned within the service-level target. Data for the review window was "
    "complete; no gaps in statement coverage were found. The case was prepared in line with the current "
    "investigations procedure and the documentation standard for transaction monitoring reviews.",
)


def _aml_pad_accounts(rng: random.Random, a: _Alert) -> str:
    """Account inventory paragraph (contains account numbers)."""
    rows = []
    for _ in range(rng.randint(2, 4)):
        kind = _pick(
            rng,
            (
                "business checking",
                "personal checking",
                "savings",
                "money market",
                "line of credit",
                "merchant services",
            ),
        )
        opened = a.alert_date.year - rng.randint(0, 12)
        rows.append(f"{kind} {_account_number(rng)} (opened {opened}, status active)")
    return "Accounts in scope: " + "; ".join(rows) + "."


def _aml_pad_ownership(rng: random.Random, a: _Alert) -> str:
    """Ownership / household structure paragraph (names and percentages)."""
    if a.cust_kind == "business":
        owners = [f"{a.first} {a.last}"] + [_full_name(rng) for _ in range(rng.randint(0, 2))]
        shares = [rng.randint(20, 80)]
        shares += [rng.randint(5, 30) for _ in owners[1:]]
        parts = [f"{o} ({pct}%)" for o, pct in zip(owners, shares, strict=True)]
        return (
            f"Ownership: beneficial owners per the certification form are {_list_join(parts)}. The entity "
            "was "
            f"incorporated in {a.alert_date.year - rng.randint(1, 20)} in "
            f"{_pick(rng, ('Delaware', 'Florida', 'Texas', 'New York', 'Nevada', 'New Jersey'))} and lists "
            "its "
            f"registered office at {_address(rng)}. Officers were screened with no matches."
        )
    return (
        f"Household: the customer lives at {_address(rng)}. Joint account holder: "
        f"{_pick(rng, ('none', _full_name(rng), _full_name(rng)))}. Date of birth "
        f"{_fmt_date(rng, _random_dob(rng, a.alert_date.year))}. "
        f"Identification on file is a {_pick(rng, ('driver licence', 'passport', 'state ID'))} that was "
        "verified at "
        "account opening and refreshed at the last periodic review."
    )


def _aml_pad_kyc(rng: random.Random, a: _Alert) -> str:
    """KYC refresh history paragraph (uninformative)."""
    y = a.alert_date.year
    return (
        f"KYC history: CDD refreshed in {y - rng.randint(1, 3)} with no changes to the stated source of "
        "funds. "
        "The customer's contact details were last updated "
        f"{_fmt_date(rng, a.alert_date - timedelta(days=rng.randint(30, 900)))}. "
        f"Online banking is used from a consistent set of devices and IP addresses in "
        f"{_pick(rng, ('the same metro area', 'the home state', 'two nearby cities'))}. Statements are "
        "delivered "
        f"electronically to {_email(rng, a.first, a.last)}."
    )


def _aml_pad_rm(rng: random.Random, a: _Alert) -> str:
    """Relationship-manager conversation notes (uninformative)."""
    rm = _full_name(rng)
    return (
        f"Relationship manager {rm} was consulted on "
        f"{_fmt_date(rng, a.alert_date + timedelta(days=rng.randint(1, 9)))}. "
        f"The RM has handled the relationship for {rng.randint(1, 9)} years, meets the customer "
        f"{_pick(rng, ('quarterly', 'twice a year', 'annually', 'occasionally'))} and described the account "
        "as "
        f"{_pick(rng, ('routine', 'straightforward', 'low-maintenance', 'typical for the segment'))} from a "
        "service "
        "point of view. The RM was reminded not to discuss the review with the customer."
    )


def _aml_pad_routine(rng: random.Random, a: _Alert) -> str:
    """Excerpt of routine account activity (same kind of entries for every customer)."""
    d = a.alert_date - timedelta(days=rng.randint(20, 60))
    kinds = (
        ("ACH debit - electric utility", 60, 400),
        ("card purchase - grocery", 20, 250),
        ("ACH debit - insurance premium", 80, 600),
        ("online bill pay - telecom", 40, 220),
        ("card purchase - fuel", 25, 120),
        ("ACH debit - payroll service", 500, 9000),
        ("check paid", 50, 3000),
        ("ACH credit - card settlement", 300, 12000),
        ("ACH debit - rent", 900, 6000),
        ("card purchase - office supplies", 15, 400),
    )
    items = []
    for kind, lo, hi in rng.sample(list(kinds), rng.randint(4, 7)):
        d += timedelta(days=rng.randint(1, 5))
        items.append(
            f"{d.month:02d}/{d.day:02d} {kind} {_money(rng, round(rng.uniform(lo, hi), 2), compact_ok=False)}"
        )
    return "Sample of other activity in the window (routine): " + "; ".join(items) + "."


def _aml_pad_periodic(rng: random.Random, a: _Alert) -> str:
    """Previous periodic-review summary (uninformative)."""
    y = a.alert_date.year - rng.randint(1, 3)
    return (
        f"Last periodic review ({y}) confirmed the customer's identity documents, address and stated "
        f"{'business activities' if a.cust_kind == 'business' else 'occupation'}; beneficial ownership and "
        "contact details were re-certified. The reviewer at the time recorded no changes to the expected "
        f"products or channels. The next scheduled review is due in {a.alert_date.year + rng.randint(1, 2)}."
    )


_AML_PADDERS: tuple[Callable[[random.Random, _Alert], str], ...] = (
    _aml_pad_accounts,
    _aml_pad_ownership,
    _aml_pad_kyc,
    _aml_pad_rm,
    _aml_pad_routine,
    _aml_pad_periodic,
)


def _render_aml(rng: random.Random, a: _Alert, idx: int, long_form: bool, tail: bool) -> str:
    """Render an alert into an investigator case note."""
    v = _aml_voice(rng, a)
    alert_id = _pick(
        rng,
        (
            f"{a.alert_date.year}-AML-{rng.randint(1000, 99999):05d}",
            f"A{rng.randint(10**7, 10**8 - 1)}",
            f"TM-{rng.randint(100000, 999999)}",
        ),
    )
    case_id = f"C-{a.alert_date.year % 100:02d}{rng.randint(10000, 99999)}"
    acct = _pick(rng, (_account_number(rng), f"ending {rng.randint(1000, 9999)}", _account_number(rng)))
    header = _aml_header(rng, a, alert_id, case_id, acct)
    v.mentioned = True
    profile = _aml_profile(rng, v, a) if _chance(rng, 0.9) else ""
    activity = _aml_activity(rng, v, a) if _chance(rng, 0.88) else ""
    findings: list[str] = []
    rule_typ = {
        "cash_structuring": "s",
        "rapid_movement": "l",
        "high_risk_geo": "g",
        "trade_finance": "t",
        "sanctions": "x",
    }.get(a.rule, "")
    if (
        a.struct_k
        or a.ctr_count
        or rule_typ == "s"
        or (a.cash_reviewed and _chance(rng, 0.6))
        or _chance(rng, 0.15)
    ):
        findings.append(_aml_structuring(rng, v, a))
    if a.passthrough_pct >= 50 or rule_typ == "l" or _chance(rng, 0.3):
        findings.append(_aml_layering(rng, v, a))
    if a.hrj or rule_typ == "g" or _chance(rng, 0.25):
        findings.append(_aml_geo(rng, v, a))
    findings.append(_aml_trade(rng, v, a))
    findings.append(_aml_sanctions(rng, v, a))
    findings = [f for f in findings if f]
    rng.shuffle(findings)
    if findings and _chance(rng, 0.15):
        findings = ["Findings: " + " ".join(f"({i}) {f}" for i, f in enumerate(findings, start=1))]
    outreach = _aml_outreach(rng, v, a) if (a.explanation != "not_requested" or _chance(rng, 0.4)) else ""
    background = _aml_background(rng, v, a)
    pii = _aml_pii(rng, a) if _chance(rng, 0.4) else ""
    closing = _aml_closing(rng, a, case_id) if _chance(rng, 0.6) else ""
    body = [profile, activity, *findings, outreach, *background]

    if not long_form:
        parts = [header, *body, pii, closing]
        text = _join(parts)
        if _words(text) < 80:
            extra = [_aml_pii(rng, a), _aml_closing(rng, a, case_id), _pick(rng, _AML_BOILERPLATE)]
            for e in extra:
                if _words(text) >= 80:
                    break
                parts.insert(-1, e)
                text = _join(parts)
        return text
    pads = [p(rng, a) for p in _AML_PADDERS] + list(_AML_BOILERPLATE)
    rng.shuffle(pads)
    target = rng.randint(320, 590)
    chosen: list[str] = []
    base_words = _words(_join([header, *body, pii, closing]))
    for p in pads:
        if base_words + _words(_join(chosen)) >= target:
            break
        if base_words + _words(_join([*chosen, p])) <= LONG_MAX_WORDS:
            chosen.append(p)
    if tail:
        # Background paragraphs first, substantive findings and outreach at the end.
        return _join([header, profile, *chosen, activity, *findings, outreach, *background, pii, closing])
    cut = rng.randint(0, len(chosen))
    return _join(
        [
            header,
            profile,
            activity,
            *chosen[:cut],
            *findings,
            outreach,
            *chosen[cut:],
            *background,
            pii,
            closing,
        ]
    )


AML_SCORE_SCALE: float = 1.6
"""Multiplier on the AML latent score before the logistic (higher = less label randomness)."""


def generate_aml_alert(n: int = DEFAULT_ROWS["aml_alert"], seed: int = 0) -> list[DemoRecord]:
    """Generate the ``aml_alert`` demo dataset.

    Args:
        n: Number of rows.
        seed: Random seed; identical seeds give identical output.

    Returns:
        Records with public columns ``text``, ``disposition``, ``typologies``, ``region``, ``channel``,
        ``id``.
    """
    rng = random.Random(f"finrisk-demo:aml_alert:{seed}")
    start, end = date(2022, 1, 3), date(2024, 9, 30)
    alerts = [_sample_alert(rng, _rand_date(rng, start, end)) for _ in range(n)]
    scores = [_aml_score(a) + (0.4 if a.bad else 0.0) + rng.gauss(0.0, 0.3) for a in alerts]
    scale = AML_SCORE_SCALE
    intercept = _calibrate_intercept(scores, _pre_noise_rate(AML_ESCALATE_RATE, LABEL_NOISE_RATE), scale)
    clean = [_chance(rng, _sigmoid(scale * s + intercept)) for s in scores]
    flipped = set(rng.sample(range(n), round(n * LABEL_NOISE_RATE)))
    records: list[DemoRecord] = []
    for i, a in enumerate(alerts):
        long_form = _chance(rng, 0.10)
        tail = long_form and _chance(rng, 0.4)
        text = _render_aml(rng, a, i, long_form, tail)
        escalate = clean[i] != (i in flipped)
        row = {
            "text": text,
            "disposition": "escalate" if escalate else "close",
            "typologies": _aml_typologies(a, escalate),
            "region": a.region,
            "channel": a.channel,
            "id": f"aml-{i + 1:05d}",
        }
        meta = {
            "score": scores[i],
            "p_escalate": _sigmoid(scale * scores[i] + intercept),
            "clean_label": "escalate" if clean[i] else "close",
            "label_flipped": i in flipped,
            "long_form": long_form,
            "evidence_at_end": tail,
            "rule": a.rule,
            "activity_ratio": a.ratio,
        }
        records.append(DemoRecord(row=row, meta=meta))
    return records


# =====================================================================================================
# transaction_memo
# =====================================================================================================

# category -> (merchant template, MCC, kind, offshore/high-risk merchant). Kinds: card, online, ach.
_TXN_MERCHANTS: dict[str, tuple[tuple[str, str, str, bool], ...]] = {
    "groceries": (
        ("WALMART SUPERCENTER #{n4}", "5411", "card", False),
        ("WAL-MART #{n4}", "5411", "card", False),
        ("KROGER #{n3}", "5411", "card", False),
        ("SAFEWAY #{n4}", "5411", "card", False),
        ("WHOLEFDS {abbr} {n5}", "5411", "card", False),
        ("TRADER JOE S #{n3}", "5411", "card", False),
        ("ALDI {n5}", "5411", "card", False),
        ("COSTCO WHSE #{n4}", "5300", "card", False),
        ("PUBLIX #{n4}", "5411", "card", False),
        ("H-E-B #{n3}", "5411", "card", False),
        ("LIDL US {n4}", "5411", "card", False),
        ("SPROUTS FARMERS MKT #{n3}", "5411", "card", False),
        ("WEGMANS #{n2}", "5411", "card", False),
        ("FOOD LION #{n4}", "5411", "card", False),
        ("INSTACART*{ref6}", "5411", "online", False),
        ("AMZN FRESH*{ref6}", "5411", "online", False),
        ("STOP & SHOP {n4}", "5411", "card", False),
        ("GIANT EAGLE #{n4}", "5411", "card", False),
        ("H MART {n3}", "5411", "card", False),
        ("7-ELEVEN {n5}", "5499", "card", False),
        ("99 RANCH MARKET #{n2}", "5411", "card", False),
        ("MEIJER # {n3}", "5411", "card", False),
    ),
    "dining": (
        ("STARBUCKS STORE {n5}", "5814", "card", False),
        ("MCDONALD'S F{n5}", "5814", "card", False),
        ("CHIPOTLE {n4}", "5814", "card", False),
        ("SQ *{rest}", "5812", "card", False),
        ("TST* {rest}", "5812", "card", False),
        ("UBER *EATS {ref6}", "5812", "online", False),
        ("DOORDASH*{rest}", "5812", "online", False),
        ("GRUBHUB*{rest}", "5812", "online", False),
        ("DOMINO'S {n4}", "5814", "card", False),
        ("PANERA BREAD #{n6}", "5814", "card", False),
        ("OLIVE GARDEN {n4}", "5812", "card", False),
        ("CHICK-FIL-A #{n5}", "5814", "card", False),
        ("DUNKIN #{n6}", "5814", "card", False),
        ("TACO BELL #{n6}", "5814", "card", False),
        ("SUBWAY {n8}", "5814", "card", False),
        ("PAYPAL *UBEREATS", "5812", "online", False),
        ("SHAKE SHACK {n4}", "5814", "card", False),
        ("BUFFALO WILD WINGS {n4}", "5812", "card", False),
        ("{rest}", "5812", "card", False),
    ),
    "travel": (
        ("DELTA AIR {n13}", "3058", "online", False),
        ("UNITED {n13}", "3000", "online", False),
        ("AMERICAN AIR{n13}", "3001", "online", False),
        ("SOUTHWES {n10}", "3066", "online", False),
        ("JETBLUE {n13}", "3174", "online", False),
        ("MARRIOTT {hotel_city}", "3509", "card", False),
        ("HILTON HOTELS {hotel_city}", "3504", "card", False),
        ("HYATT REGENCY {hotel_city}", "3640", "card", False),
        ("AIRBNB * HM{ref8}", "7011", "online", False),
        ("EXPEDIA {n10}", "4722", "online", False),
        ("BOOKING.COM HOTEL", "4722", "online", False),
        ("UBER *TRIP {ref6}", "4121", "online", False),
        ("LYFT *RIDE {day} {hhmm}", "4121", "online", False),
        ("AMTRAK .COM {n10}", "4112", "online", False),
        ("HERTZ RENT-A-CAR", "3357", "card", False),
        ("ENTERPRISE RENT-A-CAR", "3405", "card", False),
        ("SHELL OIL {n11}", "5541", "card", False),
        ("CHEVRON {n7}", "5541", "card", False),
        ("EXXONMOBIL {n8}", "5542", "card", False),
        ("MTA*NYCT PAYGO", "4111", "card", False),
        ("SPIRIT AIRL {n13}", "3260", "online", False),
    ),
    "utilities": (
        ("CON ED OF NY", "4900", "ach", False),
        ("PG&E WEB ONLINE", "4900", "ach", False),
        ("COMCAST CABLE COMM", "4899", "ach", False),
        ("XFINITY MOBILE", "4814", "ach", False),
        ("VERIZON WRLS {ref6}", "4814", "ach", False),
        ("AT&T*BILL PAYMENT", "4814", "online", False),
        ("DUKE ENERGY", "4900", "ach", False),
        ("SPECTRUM", "4899", "ach", False),
        ("T-MOBILE AUTO PAY", "4814", "ach", False),
        ("CITY OF {ucity} WATER", "4900", "ach", False),
        ("NATIONAL GRID", "4900", "ach", False),
        ("DOMINION ENERGY", "4900", "ach", False),
        ("SOCALGAS", "4900", "ach", False),
        ("GEORGIA POWER", "4900", "ach", False),
        ("XCEL ENERGY", "4900", "ach", False),
        ("COX COMM", "4899", "ach", False),
    ),
    "gambling": (
        ("DRAFTKINGS {mphone} MA", "7995", "online", False),
        ("DK*DRAFTKINGS", "7995", "online", False),
        ("FANDUEL SPORTSBOOK", "7995", "online", False),
        ("BETMGM {st}", "7995", "online", False),
        ("CAESARS SPORTSBOOK", "7995", "online", False),
        ("MGM GRAND CASINO", "7995", "card", False),
        ("POKERSTARS", "7995", "online", False),
        ("BOVADA.LV", "7995", "online", True),
        ("{st} LOTTERY", "7800", "card", False),
        ("PRIZEPICKS", "7995", "online", False),
        ("HARD ROCK BET", "7995", "online", False),
        ("CASH ADV WINSTAR CASINO", "7995", "card", False),
        ("PAYPAL *DRAFTKINGS", "7995", "online", False),
        ("SKRILL *BETWAY", "7995", "online", True),
        ("STAKE.COM CURACAO", "7995", "online", True),
    ),
    "crypto": (
        ("COINBASE.COM 888-908-7930 CA", "6051", "online", False),
        ("CB *COINBASE", "6051", "online", False),
        ("KRAKEN.COM {ref6}", "6051", "online", False),
        ("BINANCE.US", "6051", "online", False),
        ("GEMINI TRUST CO", "6051", "online", False),
        ("CRYPTO.COM", "6051", "online", False),
        ("BITPAY*{ref6}", "6051", "online", False),
        ("COINFLIP BITCOIN ATM", "6051", "card", False),
        ("BITSTOP ATM", "6051", "card", False),
        ("CASH APP*BTC PURCHASE", "6051", "online", False),
        ("ROBINHOOD CRYPTO", "6051", "online", False),
        ("MOONPAY*{ref6}", "6051", "online", True),
        ("XCHNG-PRO LTD VALLETTA MT", "6051", "online", True),
        ("BYBIT*{ref6} DUBAI", "6051", "online", True),
    ),
}
_TXN_RESTAURANTS: tuple[str, ...] = (
    "BLUE BOTTLE COFFE",
    "JOE'S PIZZA",
    "THAI PALACE",
    "EL TACO LOCO",
    "GOLDEN DRAGON",
    "LUCKY NOODLE",
    "THE CORNER BISTRO",
    "SAKURA SUSHI",
    "MAMA'S KITCHEN",
    "BREW HOUSE",
    "PHO 88",
    "BURGER BARN",
    "LA TAQUERIA",
    "OCEAN GRILL",
    "BAGEL WORKS",
    "CURRY HOUSE",
)
_TXN_CITIES: tuple[tuple[str, str], ...] = (
    ("SEATTLE", "WA"),
    ("NEW YORK", "NY"),
    ("BROOKLYN", "NY"),
    ("CHICAGO", "IL"),
    ("AUSTIN", "TX"),
    ("HOUSTON", "TX"),
    ("MIAMI", "FL"),
    ("ATLANTA", "GA"),
    ("DENVER", "CO"),
    ("PHOENIX", "AZ"),
    ("LOS ANGELES", "CA"),
    ("SAN FRANCISCO", "CA"),
    ("BOSTON", "MA"),
    ("PHILADELPHIA", "PA"),
    ("COLUMBUS", "OH"),
    ("CHARLOTTE", "NC"),
    ("NASHVILLE", "TN"),
    ("PORTLAND", "OR"),
    ("LAS VEGAS", "NV"),
    ("MINNEAPOLIS", "MN"),
    ("DETROIT", "MI"),
    ("SAN DIEGO", "CA"),
    ("ORLANDO", "FL"),
    ("DALLAS", "TX"),
    ("RALEIGH", "NC"),
    ("JERSEY CITY", "NJ"),
    ("OAKLAND", "CA"),
    ("TAMPA", "FL"),
)
_TXN_FOREIGN: tuple[tuple[str, str], ...] = (
    ("LONDON", "GB"),
    ("PARIS", "FR"),
    ("CANCUN", "MX"),
    ("TORONTO", "CA"),
    ("SAN JUAN", "PR"),
    ("LIMASSOL", "CY"),
    ("VALLETTA", "MT"),
    ("PANAMA CITY", "PA"),
    ("DUBAI", "AE"),
    ("TIJUANA", "MX"),
)
_TXN_HIGH_RISK_COUNTRIES: tuple[str, ...] = ("CY", "MT", "PA", "AE")
_TXN_CASINOS: tuple[str, ...] = ("CASINO", "MGM GRAND CAS", "BORGATA", "MOHEGAN SUN", "SEMINOLE HARD RK")
_TXN_BANKS: tuple[str, ...] = (
    "CHASE",
    "BOFA",
    "WELLS FARGO",
    "CITI",
    "PNC",
    "TD BANK",
    "US BANK",
    "CAPITAL ONE",
)
_TXN_NOTES_BENIGN: tuple[str, ...] = (
    "rent",
    "dinner",
    "utilities",
    "groceries",
    "bday gift",
    "concert tix",
    "gas money",
    "thanks!",
    "june rent",
    "babysitting",
    "pizza",
    "uber split",
    "cleaning",
    "dog walking",
    "bills",
    "trip",
    "wedding gift",
    "tuition",
)
_TXN_NOTES_RISKY: tuple[str, ...] = (
    "for the package",
    "invest",
    "gift cards",
    "deposit",
    "loan",
    "cash",
    "same as before",
    "btc",
    "xfer",
    "acct top up",
    "release fee",
    "urgent",
)
# Typical (median) amount and spread per category.
_TXN_AMOUNTS: dict[str, tuple[float, float]] = {
    "groceries": (55.0, 0.7),
    "dining": (22.0, 0.6),
    "travel": (140.0, 1.0),
    "utilities": (95.0, 0.55),
    "cash_withdrawal": (100.0, 0.8),
    "p2p_transfer": (70.0, 1.0),
    "gambling": (50.0, 1.0),
    "crypto": (200.0, 1.1),
}
_TXN_BASE_RISK: dict[str, float] = {
    "gambling": 0.9,
    "crypto": 0.9,
    "cash_withdrawal": 0.2,
    "p2p_transfer": 0.2,
    "travel": -1.0,
    "groceries": -2.2,
    "dining": -2.4,
    "utilities": -2.6,
}
_TXN_CATEGORY_WEIGHTS: tuple[tuple[str, float], ...] = (
    ("groceries", 0.27),
    ("dining", 0.25),
    ("travel", 0.10),
    ("utilities", 0.12),
    ("cash_withdrawal", 0.095),
    ("p2p_transfer", 0.095),
    ("gambling", 0.035),
    ("crypto", 0.035),
)


@dataclass
class _Txn:
    """Structured facts behind one transaction memo."""

    category: str
    risky_user: bool
    amount: float = 0.0
    merchant: str = ""
    mcc: str = ""
    kind: str = "card"
    offshore: bool = False
    foreign: str = ""
    velocity: tuple[int, int] | None = None
    note: str = ""
    risky_note: bool = False
    casino_cash: bool = False
    atm: bool = False


def _fill_merchant(rng: random.Random, template: str, city: str, st: str) -> str:
    """Fill placeholders in a merchant template."""
    return template.format(
        n2=rng.randint(10, 99),
        n3=rng.randint(100, 999),
        n4=f"{rng.randint(1, 9999):04d}",
        n5=f"{rng.randint(1, 99999):05d}",
        n6=f"{rng.randint(1, 999999):06d}",
        n7=_digits(rng, 7),
        n8=_digits(rng, 8),
        n10=_digits(rng, 10),
        n11=_digits(rng, 11),
        n13="0" + _digits(rng, 12),
        ref6="".join(_pick(rng, string.ascii_uppercase + string.digits) for _ in range(6)),
        ref8="".join(_pick(rng, string.ascii_uppercase + string.digits) for _ in range(8)),
        abbr=city[:3],
        rest=_pick(rng, _TXN_RESTAURANTS),
        hotel_city=city[:12],
        ucity=city[:10],
        day=_pick(rng, ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")),
        hhmm=f"{rng.randint(0, 23):02d}{rng.randint(0, 59):02d}",
        mphone=_pick(rng, ("617-986-6744", "877-345-2345", "888-372-3546")),
        st=st,
    )


def _typo(rng: random.Random, text: str) -> str:
    """Introduce one keyboard-style typo (drop, swap, double or replace a letter)."""
    idx = [i for i, ch in enumerate(text) if ch.isalpha()]
    if len(idx) < 4:
        return text
    i = _pick(rng, idx[1:-1])
    op = rng.randrange(4)
    if op == 0:
        return text[:i] + text[i + 1 :]
    if op == 1 and i + 1 < len(text):
        return text[:i] + text[i + 1] + text[i] + text[i + 2 :]
    if op == 2:
        return text[:i] + text[i] + text[i:]
    repl = _pick(rng, string.ascii_uppercase)
    return text[:i] + (repl if text[i].isupper() else repl.lower()) + text[i + 1 :]


def _sample_txn(rng: random.Random) -> _Txn:
    """Sample the facts of one transaction."""
    category = _wpick(rng, _TXN_CATEGORY_WEIGHTS)
    t = _Txn(category=category, risky_user=_chance(rng, 0.08))
    median, sigma = _TXN_AMOUNTS[category]
    amount = median * rng.lognormvariate(0.0, sigma)
    if t.risky_user and category not in ("groceries", "dining", "utilities"):
        amount *= rng.lognormvariate(math.log(4.0), 0.7)
    if category == "cash_withdrawal":
        t.atm = _chance(rng, 0.85)
        if t.atm:
            amount = float(min(800, max(20, int(amount / 20) * 20)))
            if t.risky_user and _chance(rng, 0.5):
                amount = float(_pick(rng, (500, 600, 800)))
        else:
            amount = _round_to(amount * rng.uniform(3, 12), 100)
    elif t.risky_user and category in ("p2p_transfer", "gambling", "crypto", "travel") and _chance(rng, 0.7):
        amount = _round_to(amount, _pick(rng, (100, 100, 500, 1000)))
    elif category in ("p2p_transfer", "gambling") and _chance(rng, 0.45):
        amount = _round_to(amount, _pick(rng, (5, 10, 20, 50)))
    else:
        amount = round(amount, 2)
    if (
        t.risky_user
        and category in ("cash_withdrawal", "p2p_transfer", "crypto")
        and not t.atm
        and _chance(rng, 0.25)
    ):
        amount = _round_to(rng.uniform(9000, 9900), _pick(rng, (50, 100)))
    t.amount = max(1.0, amount)

    if category == "cash_withdrawal":
        t.mcc = "6011"
        t.casino_cash = _chance(rng, 0.3 if t.risky_user else 0.04)
        t.foreign = _pick(rng, _TXN_FOREIGN)[1] if _chance(rng, 0.2 if t.risky_user else 0.04) else ""
    elif category == "p2p_transfer":
        t.mcc = _pick(rng, ("4829", "6540", "4829"))
        t.offshore = _chance(rng, 0.2 if t.risky_user else 0.01)
    else:
        template, t.mcc, t.kind, t.offshore = _pick(rng, _TXN_MERCHANTS[category])
        t.merchant = template
        if category in ("travel", "gambling", "crypto") and _chance(rng, 0.12 if t.risky_user else 0.04):
            t.foreign = _pick(rng, _TXN_FOREIGN)[1]
    if (
        category in ("p2p_transfer", "crypto", "gambling", "cash_withdrawal")
        and t.risky_user
        and _chance(rng, 0.35)
    ):
        total = rng.randint(3, 8)
        t.velocity = (rng.randint(2, total), total)
    if category == "p2p_transfer":
        t.risky_note = t.risky_user and _chance(rng, 0.5)
        if t.risky_note:
            t.note = _pick(rng, _TXN_NOTES_RISKY)
        elif _chance(rng, 0.6):
            t.note = _pick(rng, _TXN_NOTES_BENIGN)
    return t


def _txn_score(t: _Txn) -> float:
    """Latent suspiciousness log-odds (before scaling / intercept)."""
    s = _TXN_BASE_RISK[t.category]
    median = _TXN_AMOUNTS[t.category][0]
    s += 0.9 * max(0.0, math.log(t.amount / median))
    big_round = t.amount >= 200 and t.amount % 100 == 0 and not (t.atm and t.amount <= 800)
    s += 0.9 if big_round else 0.0
    s += 0.5 if t.amount >= 1000 and t.amount % 1000 == 0 else 0.0
    s += 1.5 if 9000 <= t.amount < 10000 else 0.0
    s += 1.3 if t.offshore else 0.0
    s += 1.1 if t.velocity else 0.0
    s += 0.7 if t.risky_note else 0.0
    s += 0.6 if t.foreign and t.category in ("cash_withdrawal", "p2p_transfer", "crypto", "gambling") else 0.0
    s += 0.5 if t.foreign in _TXN_HIGH_RISK_COUNTRIES else 0.0
    s += 0.8 if t.casino_cash or t.merchant.startswith("CASH ADV") else 0.0
    return s


def _fmt_amount(rng: random.Random, amount: float) -> str:
    """Amount as it appears in bank memos."""
    body = f"{amount:.2f}"
    return _pick(
        rng, (f" ${amount:,.2f}", f" AMT {body}", f" -{body}", f" USD {body}", f" {body}", f" ${body}")
    )


def _render_txn(rng: random.Random, t: _Txn) -> str:
    """Render a transaction into a terse, noisy bank memo."""
    city, st = _pick(rng, _TXN_CITIES)
    if t.foreign:
        fcity = next((c for c, cc in _TXN_FOREIGN if cc == t.foreign), "INTL")
        city, st = fcity, t.foreign
    last4 = f"{rng.randint(0, 9999):04d}"
    mmdd = f"{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    mm_dd = f"{mmdd[:2]}/{mmdd[2:]}"
    ref = _digits(rng, rng.randint(8, 12))
    first, last, _ = _person(rng)
    up_name = f"{first} {last}".upper()
    city_t = city[: rng.randint(8, 13)] if len(city) > 12 and _chance(rng, 0.5) else city
    if t.category == "cash_withdrawal":
        bank = _pick(rng, _TXN_BANKS)
        loc = _pick(
            rng,
            (
                f"{rng.randint(1, 999)} "
                f"{_pick(rng, ('MAIN ST', '5TH AVE', 'BROADWAY', 'MARKET ST', 'ELM ST'))}",
                f"{city_t} {st}",
                f"{_pick(rng, ('7-ELEVEN', 'CVS', 'WALGREENS', 'SHELL'))} {city_t}",
            ),
        )
        if t.casino_cash:
            loc = f"{_pick(rng, _TXN_CASINOS)} {city_t}"
        if t.atm:
            memo = _pick(
                rng,
                (
                    f"ATM WDL {rng.randint(100, 9999):04d} {bank} {loc}",
                    f"ATM WITHDRAWAL {_digits(rng, 6)} {loc}",
                    f"NON-{bank.split()[0]} ATM WDL {loc} CARD {last4}",
                    f"ATM CASH {mm_dd} {loc}",
                    f"ATM W/D {loc} #{_digits(rng, 6)}",
                ),
            )
        else:
            memo = _pick(
                rng,
                (
                    f"WITHDRAWAL @ BRANCH {rng.randint(1, 999):03d} {city_t} {st}",
                    f"CASH WDL BR {rng.randint(1, 999):03d} {city_t}",
                    f"COUNTER WITHDRAWAL {mm_dd} {bank}",
                ),
            )
    elif t.category == "p2p_transfer":
        email = _email(rng, first, last).upper()
        cat_name = (first + last).upper()[:15]
        phone = _phone(rng)
        if t.offshore:
            memo = _pick(
                rng,
                (
                    f"WU MONEY TRANSFER {ref} {_pick(rng, ('PANAMA', 'CYPRUS', 'DUBAI AE', 'MALTA'))}",
                    f"INTL WIRE OUT {up_name} {_iban(rng, _pick(rng, ('CY', 'AE')))}",
                    f"REMITLY* {_pick(rng, ('PA', 'AE', 'CY'))} {ref}",
                ),
            )
        else:
            memo = _pick(
                rng,
                (
                    f"ZELLE PAYMENT TO {up_name} CONF# {ref}",
                    f"ZELLE TO {up_name} ON {mm_dd} REF # {ref}",
                    f"VENMO *{up_name[:16]}",
                    f"VENMO PAYMENT {_digits(rng, 10)} WEB ID: {_digits(rng, 10)}",
                    f"CASH APP*{up_name[:14]}*{city_t} {st}",
                    f"PAYPAL *{cat_name} {phone}",
                    f"ACH DEBIT PAYPAL *{cat_name} {phone}",
                    f"APPLE CASH SENT MONEY {phone}",
                    f"ZELLE TO {up_name} {email}",
                    f"ONLINE TRANSFER TO {last.upper()} {first[0].upper()} REF #{ref}",
                    f"Zelle payment to {first} {last} Conf# {ref[:8]}",
                    f"Venmo payment to {first} {last[0]}.",
                ),
            )
        if t.note:
            memo += _pick(rng, (f" '{t.note}'", f" MEMO: {t.note.upper()}", f" - {t.note}", f' "{t.note}"'))
    else:
        merch = _fill_merchant(rng, t.merchant, city_t, st)
        if len(merch) > 22 and _chance(rng, 0.35):
            merch = merch[:22].rstrip()
        if _chance(rng, 0.08):
            merch = _typo(rng, merch)
        if t.kind == "ach":
            memo = _pick(
                rng,
                (
                    f"ACH DEBIT {merch} {ref}",
                    f"ACH WEB {merch} PPD ID: {_digits(rng, 10)}",
                    f"ELECTRONIC PMT-WEB, {merch} {ref}",
                    f"ONLINE PMT {merch} CONF#{ref[:8]}",
                    f"PREAUTHORIZED DEBIT {merch}",
                    f"RECURRING PMT {merch}",
                    f"{merch} BILL PAY {mm_dd}",
                ),
            )
        elif t.kind == "online":
            memo = _pick(
                rng,
                (
                    f"{merch} {_phone(rng) if _chance(rng, 0.3) else ''} {st}",
                    f"POS {last4} {merch} {st}",
                    f"DEBIT CARD PURCHASE XXXXX{last4} {merch} {st}",
                    f"PURCHASE AUTHORIZED ON {mm_dd} {merch} {st} S{_digits(rng, 15)} CARD {last4}",
                    f"{merch}",
                    f"CHECKCARD {mmdd} {merch} {_digits(rng, 23)}",
                ),
            )
        else:
            memo = _pick(
                rng,
                (
                    f"POS {mmdd} {merch} {city_t} {st}",
                    f"POS PURCHASE {merch} {city_t} {st} CARD {last4}",
                    f"DEBIT CARD PURCHASE XXXXX{last4} {merch} {city_t} {st}",
                    f"PURCHASE AUTHORIZED ON {mm_dd} {merch} {city_t} {st} S{_digits(rng, 15)} CARD {last4}",
                    f"CHECKCARD {mmdd} {merch} {city_t} {st} {_digits(rng, 23)}",
                    f"{merch} {city_t} {st}",
                    f"DBT CRD {rng.randint(0, 2359):04d} {mm_dd}/{rng.randint(22, 24)} {merch} {city_t} "
                    f"{st} C#{last4}",
                    f"VISA DDA PUR {_digits(rng, 6)} {merch} {city_t} * {st}",
                    f"POS {last4} {merch} {city_t} {st}",
                ),
            )
    if t.velocity:
        k, m = t.velocity
        memo += _pick(
            rng, (f" {k} OF {m}", f" ({k}/{m})", f" TXN {k} OF {m} TODAY", f" SAME DAY #{k}", f" PT {k}/{m}")
        )
    if _chance(rng, 0.25):
        memo += _pick(rng, (f" MCC {t.mcc}", f" MCC:{t.mcc}", f" [{t.mcc}]"))
    if _chance(rng, 0.72):
        memo += _fmt_amount(rng, t.amount)
    memo = " ".join(memo.split())
    if _chance(rng, 0.05):
        memo = memo.lower() if _chance(rng, 0.5) else memo.title()
    return memo


TXN_SCORE_SCALE: float = 1.5
"""Multiplier on the transaction latent score before the logistic."""


def generate_transaction_memo(n: int = DEFAULT_ROWS["transaction_memo"], seed: int = 0) -> list[DemoRecord]:
    """Generate the ``transaction_memo`` demo dataset.

    The ``category`` label gets symmetric noise: :data:`LABEL_NOISE_RATE` of rows are re-labelled with a
    random *other* category (the memo text is left as generated). Because ``suspicious`` is rare (~6%),
    flipping 4% of all rows would swamp it, so its noise is stratified instead: 4% of the positive rows
    are flipped to ``"no"`` and the same number of negative rows to ``"yes"`` (class balance unchanged).

    Args:
        n: Number of rows.
        seed: Random seed; identical seeds give identical output.

    Returns:
        Records with public columns ``text``, ``category``, ``suspicious``, ``id``.
    """
    rng = random.Random(f"finrisk-demo:transaction_memo:{seed}")
    txns = [_sample_txn(rng) for _ in range(n)]
    scores = [_txn_score(t) + (0.5 if t.risky_user else 0.0) + rng.gauss(0.0, 0.4) for t in txns]
    scale = TXN_SCORE_SCALE
    intercept = _calibrate_intercept(scores, TXN_SUSPICIOUS_RATE, scale)
    clean_susp = [_chance(rng, _sigmoid(scale * s + intercept)) for s in scores]
    cat_flipped = set(rng.sample(range(n), round(n * LABEL_NOISE_RATE)))
    positives = [i for i in range(n) if clean_susp[i]]
    negatives = [i for i in range(n) if not clean_susp[i]]
    n_flip = round(len(positives) * LABEL_NOISE_RATE)
    susp_flipped = set(rng.sample(positives, n_flip)) | set(rng.sample(negatives, n_flip))
    records: list[DemoRecord] = []
    for i, t in enumerate(txns):
        text = _render_txn(rng, t)
        category = t.category
        if i in cat_flipped:
            category = _pick(rng, [c for c in TXN_CATEGORIES if c != t.category])
        suspicious = clean_susp[i] != (i in susp_flipped)
        row = {
            "text": text,
            "category": category,
            "suspicious": "yes" if suspicious else "no",
            "id": f"txn-{i + 1:05d}",
        }
        meta = {
            "score": scores[i],
            "p_suspicious": _sigmoid(scale * scores[i] + intercept),
            "clean_category": t.category,
            "category_flipped": i in cat_flipped,
            "clean_suspicious": "yes" if clean_susp[i] else "no",
            "suspicious_flipped": i in susp_flipped,
            "amount": t.amount,
        }
        records.append(DemoRecord(row=row, meta=meta))
    return records


# =====================================================================================================
# Writing and CLI
# =====================================================================================================

GENERATORS: dict[str, Callable[[int, int], list[DemoRecord]]] = {
    "credit_text": generate_credit_text,
    "transaction_memo": generate_transaction_memo,
    "aml_alert": generate_aml_alert,
}
"""Generator function for each task name; each takes ``(n, seed)``."""


def generate_task(task: str, seed: int = 0, n: int | None = None) -> list[DemoRecord]:
    """Generate the records of one task.

    Args:
        task: One of :data:`finrisk_nlp.demo_data.DEMO_TASKS`.
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
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            for record in records:
                handle.write(json.dumps(record.row, ensure_ascii=False) + "\n")
        os.chmod(tmp_name, 0o644)  # mkstemp creates 0600; shipped data should be world-readable
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


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
        prog="python -m finrisk_nlp.demo_data.generate",
        description="Regenerate the synthetic finrisk_nlp demo datasets (deterministic for a given seed).",
    )
    parser.add_argument("--task", choices=[*DEMO_TASKS, "all"], default="all", help="dataset to generate")
    parser.add_argument(
        "--out", type=Path, default=DEMO_DIR, help="output directory (default: the package dir)"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="random seed (default: 0, used for shipped files)"
    )
    parser.add_argument(
        "--rows", type=int, default=None, help="override the number of rows (for quick tests)"
    )
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


if __name__ == "__main__":
    raise SystemExit(main())
