"""``python -m tools.demo_data.generate``: fake personal data for the demo datasets.

Names, e-mail addresses, phone numbers, Luhn-valid card numbers, checksum-valid IBANs, SSN-shaped
numbers, account and ABA routing numbers, dates of birth and street addresses. Everything is random;
formats and checksums are valid so that redaction can be tested on the demo data.
"""

from __future__ import annotations

import random
import string
from datetime import date

from .common import chance, pick, wpick

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


def random_digits(rng: random.Random, n: int) -> str:
    """Return ``n`` random decimal digits."""
    return "".join(str(rng.randrange(10)) for _ in range(n))


def card_number(rng: random.Random) -> str:
    """Luhn-valid Visa / Mastercard / Amex number in a random print style."""
    brand = wpick(rng, (("visa", 0.55), ("mc", 0.35), ("amex", 0.10)))
    if brand == "visa":
        body = "4" + random_digits(rng, 14)
    elif brand == "mc":
        body = str(rng.randint(51, 55)) + random_digits(rng, 13)
    else:
        body = pick(rng, ("34", "37")) + random_digits(rng, 12)
    number = next(body + c for c in string.digits if luhn_is_valid(body + c))
    sep = wpick(rng, ((" ", 0.5), ("-", 0.25), ("", 0.25)))
    groups = (4, 6, 5) if brand == "amex" else (4, 4, 4, 4)
    parts: list[str] = []
    pos = 0
    for size in groups:
        parts.append(number[pos : pos + size])
        pos += size
    return sep.join(parts)


def fake_iban(rng: random.Random, country: str | None = None) -> str:
    """Checksum-valid IBAN, printed in groups of four 60% of the time."""
    specs = [s for s in _IBAN_SPECS if country is None or s[0] == country] or list(_IBAN_SPECS)
    cc, banks, n_digits = pick(rng, specs)
    bban = (pick(rng, banks) if banks else "") + random_digits(rng, n_digits)
    numeric = "".join(str(int(ch, 36)) for ch in bban + cc + "00")
    iban = f"{cc}{98 - int(numeric) % 97:02d}{bban}"
    if chance(rng, 0.6):
        return " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))
    return iban


def ssn(rng: random.Random) -> str:
    """SSN-shaped number (area 001-899 except 666, non-zero group and serial)."""
    area = rng.randint(1, 898)
    if area >= 666:
        area += 1
    group = rng.randint(1, 99)
    serial = rng.randint(1, 9999)
    if chance(rng, 0.1):
        return f"{area:03d}{group:02d}{serial:04d}"
    return f"{area:03d}-{group:02d}-{serial:04d}"


def fake_phone(rng: random.Random) -> str:
    """North-American phone number in a random print style."""
    area = pick(rng, _AREA_CODES)
    exchange = rng.randint(201, 989)
    line = rng.randint(0, 9999)
    return pick(
        rng,
        (
            f"({area}) {exchange}-{line:04d}",
            f"{area}-{exchange}-{line:04d}",
            f"{area}.{exchange}.{line:04d}",
            f"+1 {area} {exchange} {line:04d}",
            f"{area}-{exchange}-{line:04d}",
        ),
    )


def fake_email(rng: random.Random, first: str, last: str) -> str:
    """Plausible personal e-mail address for a name."""
    f = "".join(ch for ch in first.lower() if ch.isalpha())
    la = "".join(ch for ch in last.lower() if ch.isalpha())
    local = pick(
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
    return f"{local}@{pick(rng, _EMAIL_DOMAINS)}"


def account_number(rng: random.Random) -> str:
    """Bank account number of 9-12 digits."""
    return str(rng.randint(1, 9)) + random_digits(rng, rng.randint(8, 11))


def routing_number(rng: random.Random) -> str:
    """ABA routing number with a valid checksum digit."""
    body = pick(rng, ("0", "1", "2", "3")) + random_digits(rng, 7)
    weights = (3, 7, 1, 3, 7, 1, 3, 7)
    total = sum(int(d) * w for d, w in zip(body, weights, strict=True))
    return body + str((10 - total % 10) % 10)


def person(rng: random.Random) -> tuple[str, str, str]:
    """Return ``(first, last, gender)`` with gender ``"m"`` or ``"f"``."""
    gender = "f" if chance(rng, 0.5) else "m"
    first = pick(rng, _FIRST_FEMALE if gender == "f" else _FIRST_MALE)
    return first, pick(rng, _LAST_NAMES), gender


def full_name(rng: random.Random) -> str:
    """Random "First Last" name."""
    first, last, _ = person(rng)
    return f"{first} {last}"


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
CITIES: tuple[tuple[str, str], ...] = (
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


def birth_date(rng: random.Random, year: int, age: int | None = None) -> date:
    """Random date of birth of someone ``age`` years old in ``year`` (random adult age 22-78 if None)."""
    if age is None:
        age = rng.randint(22, 78)
    return date(year - age, rng.randint(1, 12), rng.randint(1, 28))


def address(rng: random.Random) -> str:
    """Random street address."""
    city, st = pick(rng, CITIES)
    return f"{rng.randint(2, 980)} {pick(rng, _STREETS)}, {city}, {st} {rng.randint(10000, 99950)}"
