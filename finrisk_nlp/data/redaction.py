"""PII redaction before tokenisation: identifiers become typed placeholders such as ``[CARD]`` or ``[IBAN]``.

On by default (``data.redact_pii: true``) for every recipe, e.g.::

    accelerate launch recipes/aml_alert.py                       # narratives are redacted before tokenising
    accelerate launch recipes/aml_alert.py data.redact_pii=false # only for data that is already de-identified

Training data is redacted when it is loaded (:func:`finrisk_nlp.data.tables.load_splits`) and :class:`Predictor`
redacts every text before its tokenizer sees it, so the model never learns from or scores raw identifiers.
Pure regular expressions plus checksums (Luhn for cards, ISO 7064 mod 97 for IBANs): a digit run that fails
its checksum is left alone, which keeps amounts, dates, years and percentages intact. What is recognised:

* IBANs in any letter case, compact or in groups of four;
* card numbers (13-19 digits, grouped or not) that pass Luhn;
* SSNs written ``123-45-6789``, and ``123 45 6789`` or ``123456789`` right after "SSN" / "social security no.";
* account numbers after "account", "acct", "acc" or "a/c" (the keyword is kept);
* phone numbers: North American ``(555) 123-4567`` / ``555-123-4567``, and international ones starting with
  ``+`` or ``00`` in any grouping (``+44 20 7946 0958``, ``0044 20 7946 0958``, ``+33 6 12 34 56 78``).

Known over-redaction: a checksum cannot tell a card from another number, so a 13-19 digit reference (invoice,
case or transaction number) that happens to pass Luhn is replaced by ``[CARD]``: about one in ten random
16-digit references (Luhn accepts 10% of digit strings; 9.9% of 20,000 random 16-digit numbers here).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable

PII_TYPES = ("EMAIL", "IBAN", "CARD", "SSN", "ACCOUNT", "PHONE")

# Every pattern below sees user text, so each runs in time linear in the length of the text: every quantifier is
# bounded, so an attempt at one position reads a few dozen characters and tries a bounded number of ways before
# it gives up (an unbounded `\s*` next to another one made "SSN" + 1,200 spaces take 19 s). An email's local part
# starts only where a run of its characters starts, so a 100 KB run without "@" is read once, not once per position.
_EMAIL = re.compile(r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){0,8}"
                    r"\.[A-Za-z]{2,24}\b")
# Country code, check digits, then 11-30 alphanumerics, optionally printed in groups of four separated by a space
# or a dash; any letter case.
_IBAN = re.compile(r"(?i)\b[A-Z]{2}\d{2}(?:[ -]?[A-Z0-9]{4}){2,7}(?:[ -]?[A-Z0-9]{1,3})?\b")
_IBAN_MIN_DIGITS = 10  # every real IBAN has more; keeps "fy24 loan paid back" from being a candidate
# 13-19 digits, optionally grouped with one or two spaces or a dash, or four groups of four joined by dots
# (4111.1111.1111.1111: only that shape, so dotted amounts stay); not glued to other digits or amounts.
_CARD = re.compile(r"(?<![\d.,$€£-])(?:\d(?:(?:[ -]| {2})?\d){12,18}|\d{4}(?:\.\d{4}){3}(?:\.\d{1,3})?)(?!\d|[.,]\d)")
_SSN = re.compile(r"(?<![\d-])\d{3}-\d{2}-\d{4}(?![\d-])")
# Without dashes nine digits could be anything; next to the keyword they are an SSN. The keyword stays (it is
# context, not PII); only the number after it is replaced, here and for accounts.
_SSN_AFTER_KEYWORD = re.compile(
    r"(?i)\b((?:ssn|s\.s\.n\.?|social security(?: number| no\.?)?)\s{0,3}(?:(?:#|no\.?|number)\s{0,3})?[:#]?"
    r"\s{0,3}(?:is\s{1,3})?)"
    r"(\d{3}[ -]?\d{2}[ -]?\d{4})(?![\d-])"
)
_ACCOUNT = re.compile(
    r"(?i)\b((?:account|acct|acc|a/c)\.?(?:\s{0,3}(?:no\.?|nr\.?|num(?:ber)?|#))?\s{0,3}[:#]?\s{0,3})"
    r"(\d(?:[ -]?\d){5,16})(?!\d)"
)
# North American numbers; international ones: + or 00, a country code, then 7-14 more digits in any grouping
# (spaces, dots, dashes, a bracketed trunk prefix), 8-15 digits in all, the E.164 range, so short lists of
# numbers stay; UK mobiles in national format (07700 900123).
_PHONE = re.compile(
    r"(?<![\w+-])(?:\+\d{1,3}[ .-]?)?(?:\(\d{3}\)[ .-]?|\d{3}[ .-])\d{3}[ .-]\d{4}(?![\d-])"
    r"|(?<![\w+])(?:\+|00)[1-9](?:[ .-]?\(?\d\)?){7,14}(?![\d-])"
    r"|(?<![\w+.-])07\d{3}[ .-]?\d{3}[ .-]?\d{3}(?![\w-])"
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
    compact = iban.replace(" ", "").replace("-", "").upper()
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
    # Case-insensitive groups of four can run on into the next word ("BE68 5390 0754 7034 from"): try the whole
    # match, then without its trailing groups, and leave those words as they were.
    text = match.group(0)
    for end in [len(text)] + [i for i in range(len(text) - 1, 0, -1) if text[i] in " -"]:
        if len(_digits(text[:end])) >= _IBAN_MIN_DIGITS and iban_valid(text[:end]):
            return "[IBAN]" + text[end:]
    return None


def _account(match: re.Match[str]) -> str | None:
    return match.group(1) + "[ACCOUNT]" if 6 <= len(_digits(match.group(2))) <= 17 else None


def _phone(match: re.Match[str]) -> str | None:
    text = match.group(0)
    digits = _digits(text[2:] if text.startswith("00") else text)
    return "[PHONE]" if 8 <= len(digits) <= 15 else None


# Order matters: IBANs and cards contain digit runs that the looser patterns after them would split.
_RULES: tuple[tuple[str, re.Pattern[str], Callable[[re.Match[str]], str | None]], ...] = (
    ("EMAIL", _EMAIL, lambda m: "[EMAIL]"),
    ("IBAN", _IBAN, _iban),
    ("CARD", _CARD, _card),
    ("SSN", _SSN, lambda m: "[SSN]"),
    ("SSN", _SSN_AFTER_KEYWORD, lambda m: m.group(1) + "[SSN]"),
    ("ACCOUNT", _ACCOUNT, _account),
    ("PHONE", _PHONE, _phone),
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
