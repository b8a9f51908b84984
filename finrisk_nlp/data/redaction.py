"""PII redaction before tokenisation: identifiers become typed placeholders such as ``[CARD]`` or ``[IBAN]``.

On by default (``data.redact_pii: true``) for every recipe, e.g.::

    accelerate launch recipes/aml_alert.py                       # narratives are redacted before tokenising
    accelerate launch recipes/aml_alert.py data.redact_pii=false # only for data that is already de-identified

Training data is redacted when it is loaded (:func:`finrisk_nlp.data.tables.load_splits`) and :class:`Predictor`
redacts every text before its tokenizer sees it, so the model never learns from or scores raw identifiers.
Pure regular expressions plus checksums (Luhn for cards, ISO 7064 mod 97 for IBANs): a digit run that fails
its checksum is left alone, which keeps amounts, dates, years and percentages intact.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable

PII_TYPES = ("EMAIL", "IBAN", "CARD", "SSN", "ACCOUNT", "PHONE")

_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
# Country code, check digits, then 11-30 alphanumerics, optionally printed in groups of four.
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,3})?\b")
# 13-19 digits, optionally grouped with single spaces or dashes; not glued to other digits or amounts.
_CARD = re.compile(r"(?<![\d.,$€£-])\d(?:[ -]?\d){12,18}(?!\d|[.,]\d)")
_SSN = re.compile(r"(?<![\d-])\d{3}-\d{2}-\d{4}(?![\d-])")
# The keyword stays (it is context, not PII); only the number after it is replaced.
_ACCOUNT = re.compile(
    r"(?i)\b((?:acct|account)\.?(?:\s*(?:no\.?|nr\.?|num(?:ber)?|#))?\s*[:#]?\s*)(\d(?:[ -]?\d){5,16})(?!\d)"
)
_PHONE = re.compile(
    r"(?<![\w+-])(?:\+\d{1,3}[ .-]?)?(?:\(\d{3}\)[ .-]?|\d{3}[ .-])\d{3}[ .-]\d{4}(?![\d-])"
    r"|(?<![\w+])\+\d{1,3}[ .-]?\d{2,4}(?:[ .-]?\d{2,4}){2,4}(?!\d)"
)


def luhn_valid(digits: str) -> bool:
    """True when a digit string passes the Luhn check used by payment card numbers."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def iban_valid(iban: str) -> bool:
    """True when an IBAN (spaces allowed) passes the ISO 13616 mod-97 check."""
    compact = iban.replace(" ", "").upper()
    if not 15 <= len(compact) <= 34:
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _card(match: re.Match[str]) -> str | None:
    digits = _digits(match.group(0))
    return "[CARD]" if 13 <= len(digits) <= 19 and luhn_valid(digits) else None


def _iban(match: re.Match[str]) -> str | None:
    return "[IBAN]" if iban_valid(match.group(0)) else None


def _account(match: re.Match[str]) -> str | None:
    return match.group(1) + "[ACCOUNT]" if 6 <= len(_digits(match.group(2))) <= 17 else None


# Order matters: IBANs and cards contain digit runs that the looser patterns after them would split.
_RULES: tuple[tuple[str, re.Pattern[str], Callable[[re.Match[str]], str | None]], ...] = (
    ("EMAIL", _EMAIL, lambda m: "[EMAIL]"),
    ("IBAN", _IBAN, _iban),
    ("CARD", _CARD, _card),
    ("SSN", _SSN, lambda m: "[SSN]"),
    ("ACCOUNT", _ACCOUNT, _account),
    ("PHONE", _PHONE, lambda m: "[PHONE]"),
)


def redact(text: str) -> tuple[str, Counter[str]]:
    """Replace identifiers in ``text`` with typed placeholders.

    Args:
        text: free text, e.g. an investigator narrative.

    Returns:
        The redacted text and how many identifiers of each type (``CARD``, ``IBAN``, ...) were replaced.

    Example:
        >>> redact("Card 4111 1111 1111 1111, $12,500.00 on 2024-03-15")[0]
        'Card [CARD], $12,500.00 on 2024-03-15'
    """
    counts: Counter[str] = Counter()
    for name, pattern, replace in _RULES:

        def substitute(match: re.Match[str], name: str = name, replace=replace) -> str:
            replacement = replace(match)
            if replacement is None:
                return match.group(0)
            counts[name] += 1
            return replacement

        text = pattern.sub(substitute, text)
    return text, counts


def redact_texts(texts: Iterable[str]) -> tuple[list[str], Counter[str]]:
    """:func:`redact` over many texts; the counts are summed."""
    total: Counter[str] = Counter()
    out = []
    for text in texts:
        clean, counts = redact(text)
        out.append(clean)
        total.update(counts)
    return out, total


def counts_by_type(counts: Counter[str]) -> dict[str, int]:
    """Every PII type with its count (zeros included), in a fixed order for reports."""
    return {name: int(counts.get(name, 0)) for name in PII_TYPES}
