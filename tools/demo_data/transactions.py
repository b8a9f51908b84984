"""``python -m tools.demo_data.generate --task transaction_memo``: build the transaction-memo dataset.

Samples a transaction (category, amount, merchant, location, velocity, P2P note), scores how suspicious
it is, and renders it as a terse, noisy bank memo. ``category`` gets symmetric label noise and
``suspicious`` stratified noise (see :func:`generate_transaction_memo`).
"""

from __future__ import annotations

import math
import random
import string
from dataclasses import dataclass

from .common import (
    DEFAULT_ROWS,
    LABEL_NOISE_RATE,
    DemoRecord,
    chance,
    draw_labels,
    pick,
    round_to,
    wpick,
)
from .pii import fake_email, fake_iban, fake_phone, person, random_digits

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
"""Spending categories, in the order used when a noisy label picks another category."""

TXN_SUSPICIOUS_RATE: float = 0.06
"""Share of ``suspicious == "yes"`` rows targeted after label noise."""

TXN_SCORE_SCALE: float = 1.5
"""Multiplier on the transaction latent score before the logistic."""

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
        n7=random_digits(rng, 7),
        n8=random_digits(rng, 8),
        n10=random_digits(rng, 10),
        n11=random_digits(rng, 11),
        n13="0" + random_digits(rng, 12),
        ref6="".join(pick(rng, string.ascii_uppercase + string.digits) for _ in range(6)),
        ref8="".join(pick(rng, string.ascii_uppercase + string.digits) for _ in range(8)),
        abbr=city[:3],
        rest=pick(rng, _TXN_RESTAURANTS),
        hotel_city=city[:12],
        ucity=city[:10],
        day=pick(rng, ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")),
        hhmm=f"{rng.randint(0, 23):02d}{rng.randint(0, 59):02d}",
        mphone=pick(rng, ("617-986-6744", "877-345-2345", "888-372-3546")),
        st=st,
    )


def _typo(rng: random.Random, text: str) -> str:
    """Introduce one keyboard-style typo (drop, swap, double or replace a letter)."""
    idx = [i for i, ch in enumerate(text) if ch.isalpha()]
    if len(idx) < 4:
        return text
    i = pick(rng, idx[1:-1])
    op = rng.randrange(4)
    if op == 0:
        return text[:i] + text[i + 1 :]
    if op == 1 and i + 1 < len(text):
        return text[:i] + text[i + 1] + text[i] + text[i + 2 :]
    if op == 2:
        return text[:i] + text[i] + text[i:]
    repl = pick(rng, string.ascii_uppercase)
    return text[:i] + (repl if text[i].isupper() else repl.lower()) + text[i + 1 :]


def _sample_txn(rng: random.Random) -> _Txn:
    """Sample the facts of one transaction."""
    category = wpick(rng, _TXN_CATEGORY_WEIGHTS)
    t = _Txn(category=category, risky_user=chance(rng, 0.08))
    median, sigma = _TXN_AMOUNTS[category]
    amount = median * rng.lognormvariate(0.0, sigma)
    if t.risky_user and category not in ("groceries", "dining", "utilities"):
        amount *= rng.lognormvariate(math.log(4.0), 0.7)
    if category == "cash_withdrawal":
        t.atm = chance(rng, 0.85)
        if t.atm:
            amount = float(min(800, max(20, int(amount / 20) * 20)))
            if t.risky_user and chance(rng, 0.5):
                amount = float(pick(rng, (500, 600, 800)))
        else:
            amount = round_to(amount * rng.uniform(3, 12), 100)
    elif t.risky_user and category in ("p2p_transfer", "gambling", "crypto", "travel") and chance(rng, 0.7):
        amount = round_to(amount, pick(rng, (100, 100, 500, 1000)))
    elif category in ("p2p_transfer", "gambling") and chance(rng, 0.45):
        amount = round_to(amount, pick(rng, (5, 10, 20, 50)))
    else:
        amount = round(amount, 2)
    if t.risky_user and category in ("cash_withdrawal", "p2p_transfer", "crypto") and not t.atm and chance(rng, 0.25):
        amount = round_to(rng.uniform(9000, 9900), pick(rng, (50, 100)))
    t.amount = max(1.0, amount)

    if category == "cash_withdrawal":
        t.mcc = "6011"
        t.casino_cash = chance(rng, 0.3 if t.risky_user else 0.04)
        t.foreign = pick(rng, _TXN_FOREIGN)[1] if chance(rng, 0.2 if t.risky_user else 0.04) else ""
    elif category == "p2p_transfer":
        t.mcc = pick(rng, ("4829", "6540", "4829"))
        t.offshore = chance(rng, 0.2 if t.risky_user else 0.01)
    else:
        template, t.mcc, t.kind, t.offshore = pick(rng, _TXN_MERCHANTS[category])
        t.merchant = template
        if category in ("travel", "gambling", "crypto") and chance(rng, 0.12 if t.risky_user else 0.04):
            t.foreign = pick(rng, _TXN_FOREIGN)[1]
    if category in ("p2p_transfer", "crypto", "gambling", "cash_withdrawal") and t.risky_user and chance(rng, 0.35):
        total = rng.randint(3, 8)
        t.velocity = (rng.randint(2, total), total)
    if category == "p2p_transfer":
        t.risky_note = t.risky_user and chance(rng, 0.5)
        if t.risky_note:
            t.note = pick(rng, _TXN_NOTES_RISKY)
        elif chance(rng, 0.6):
            t.note = pick(rng, _TXN_NOTES_BENIGN)
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
    return pick(rng, (f" ${amount:,.2f}", f" AMT {body}", f" -{body}", f" USD {body}", f" {body}", f" ${body}"))


def _render_txn(rng: random.Random, t: _Txn) -> str:
    """Render a transaction into a terse, noisy bank memo."""
    city, st = pick(rng, _TXN_CITIES)
    if t.foreign:
        fcity = next((c for c, cc in _TXN_FOREIGN if cc == t.foreign), "INTL")
        city, st = fcity, t.foreign
    last4 = f"{rng.randint(0, 9999):04d}"
    mmdd = f"{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    mm_dd = f"{mmdd[:2]}/{mmdd[2:]}"
    ref = random_digits(rng, rng.randint(8, 12))
    first, last, _ = person(rng)
    up_name = f"{first} {last}".upper()
    city_t = city[: rng.randint(8, 13)] if len(city) > 12 and chance(rng, 0.5) else city
    if t.category == "cash_withdrawal":
        bank = pick(rng, _TXN_BANKS)
        loc = pick(
            rng,
            (
                f"{rng.randint(1, 999)} {pick(rng, ('MAIN ST', '5TH AVE', 'BROADWAY', 'MARKET ST', 'ELM ST'))}",
                f"{city_t} {st}",
                f"{pick(rng, ('7-ELEVEN', 'CVS', 'WALGREENS', 'SHELL'))} {city_t}",
            ),
        )
        if t.casino_cash:
            loc = f"{pick(rng, _TXN_CASINOS)} {city_t}"
        if t.atm:
            memo = pick(
                rng,
                (
                    f"ATM WDL {rng.randint(100, 9999):04d} {bank} {loc}",
                    f"ATM WITHDRAWAL {random_digits(rng, 6)} {loc}",
                    f"NON-{bank.split()[0]} ATM WDL {loc} CARD {last4}",
                    f"ATM CASH {mm_dd} {loc}",
                    f"ATM W/D {loc} #{random_digits(rng, 6)}",
                ),
            )
        else:
            memo = pick(
                rng,
                (
                    f"WITHDRAWAL @ BRANCH {rng.randint(1, 999):03d} {city_t} {st}",
                    f"CASH WDL BR {rng.randint(1, 999):03d} {city_t}",
                    f"COUNTER WITHDRAWAL {mm_dd} {bank}",
                ),
            )
    elif t.category == "p2p_transfer":
        email = fake_email(rng, first, last).upper()
        cat_name = (first + last).upper()[:15]
        phone = fake_phone(rng)
        if t.offshore:
            memo = pick(
                rng,
                (
                    f"WU MONEY TRANSFER {ref} {pick(rng, ('PANAMA', 'CYPRUS', 'DUBAI AE', 'MALTA'))}",
                    f"INTL WIRE OUT {up_name} {fake_iban(rng, pick(rng, ('CY', 'AE')))}",
                    f"REMITLY* {pick(rng, ('PA', 'AE', 'CY'))} {ref}",
                ),
            )
        else:
            memo = pick(
                rng,
                (
                    f"ZELLE PAYMENT TO {up_name} CONF# {ref}",
                    f"ZELLE TO {up_name} ON {mm_dd} REF # {ref}",
                    f"VENMO *{up_name[:16]}",
                    f"VENMO PAYMENT {random_digits(rng, 10)} WEB ID: {random_digits(rng, 10)}",
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
            memo += pick(rng, (f" '{t.note}'", f" MEMO: {t.note.upper()}", f" - {t.note}", f' "{t.note}"'))
    else:
        merch = _fill_merchant(rng, t.merchant, city_t, st)
        if len(merch) > 22 and chance(rng, 0.35):
            merch = merch[:22].rstrip()
        if chance(rng, 0.08):
            merch = _typo(rng, merch)
        if t.kind == "ach":
            memo = pick(
                rng,
                (
                    f"ACH DEBIT {merch} {ref}",
                    f"ACH WEB {merch} PPD ID: {random_digits(rng, 10)}",
                    f"ELECTRONIC PMT-WEB, {merch} {ref}",
                    f"ONLINE PMT {merch} CONF#{ref[:8]}",
                    f"PREAUTHORIZED DEBIT {merch}",
                    f"RECURRING PMT {merch}",
                    f"{merch} BILL PAY {mm_dd}",
                ),
            )
        elif t.kind == "online":
            memo = pick(
                rng,
                (
                    f"{merch} {fake_phone(rng) if chance(rng, 0.3) else ''} {st}",
                    f"POS {last4} {merch} {st}",
                    f"DEBIT CARD PURCHASE XXXXX{last4} {merch} {st}",
                    f"PURCHASE AUTHORIZED ON {mm_dd} {merch} {st} S{random_digits(rng, 15)} CARD {last4}",
                    f"{merch}",
                    f"CHECKCARD {mmdd} {merch} {random_digits(rng, 23)}",
                ),
            )
        else:
            memo = pick(
                rng,
                (
                    f"POS {mmdd} {merch} {city_t} {st}",
                    f"POS PURCHASE {merch} {city_t} {st} CARD {last4}",
                    f"DEBIT CARD PURCHASE XXXXX{last4} {merch} {city_t} {st}",
                    f"PURCHASE AUTHORIZED ON {mm_dd} {merch} {city_t} {st} S{random_digits(rng, 15)} CARD {last4}",
                    f"CHECKCARD {mmdd} {merch} {city_t} {st} {random_digits(rng, 23)}",
                    f"{merch} {city_t} {st}",
                    f"DBT CRD {rng.randint(0, 2359):04d} {mm_dd}/{rng.randint(22, 24)} {merch} {city_t} {st} C#{last4}",
                    f"VISA DDA PUR {random_digits(rng, 6)} {merch} {city_t} * {st}",
                    f"POS {last4} {merch} {city_t} {st}",
                ),
            )
    if t.velocity:
        k, m = t.velocity
        memo += pick(rng, (f" {k} OF {m}", f" ({k}/{m})", f" TXN {k} OF {m} TODAY", f" SAME DAY #{k}", f" PT {k}/{m}"))
    if chance(rng, 0.25):
        memo += pick(rng, (f" MCC {t.mcc}", f" MCC:{t.mcc}", f" [{t.mcc}]"))
    if chance(rng, 0.72):
        memo += _fmt_amount(rng, t.amount)
    memo = " ".join(memo.split())
    if chance(rng, 0.05):
        memo = memo.lower() if chance(rng, 0.5) else memo.title()
    return memo


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
    # The suspicious flag gets stratified noise below, so its target is the final rate; the flipped rows
    # drawn here are used for the category label.
    probs, clean_susp, cat_flipped = draw_labels(rng, scores, TXN_SUSPICIOUS_RATE, TXN_SCORE_SCALE)
    positives = [i for i in range(n) if clean_susp[i]]
    negatives = [i for i in range(n) if not clean_susp[i]]
    n_flip = round(len(positives) * LABEL_NOISE_RATE)
    susp_flipped = set(rng.sample(positives, n_flip)) | set(rng.sample(negatives, n_flip))
    records: list[DemoRecord] = []
    for i, t in enumerate(txns):
        text = _render_txn(rng, t)
        category = t.category
        if i in cat_flipped:
            category = pick(rng, [c for c in TXN_CATEGORIES if c != t.category])
        suspicious = clean_susp[i] != (i in susp_flipped)
        row = {
            "text": text,
            "category": category,
            "suspicious": "yes" if suspicious else "no",
            "id": f"txn-{i + 1:05d}",
        }
        meta = {
            "score": scores[i],
            "p_suspicious": probs[i],
            "clean_category": t.category,
            "category_flipped": i in cat_flipped,
            "clean_suspicious": "yes" if clean_susp[i] else "no",
            "suspicious_flipped": i in susp_flipped,
            "amount": t.amount,
        }
        records.append(DemoRecord(row=row, meta=meta))
    return records
