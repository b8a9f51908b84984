"""``python -m tools.demo_data.generate --task aml_alert``: the facts behind each AML alert.

Samples an :class:`Alert` (customer profile, activity vs. expected volume, structuring, pass-through,
jurisdictions, trade pricing, sanctions screening, customer outreach, adverse media), correlated
through a hidden bad-actor flag; computes the latent escalation log-odds and the typologies recorded on
the case. No text is written here.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import date

from .common import REGIONS, chance, clip, pick, poisson, round_to, wpick
from .pii import person

AML_TYPOLOGIES: tuple[str, ...] = ("structuring", "layering", "trade_based", "sanctions")
"""Money-laundering typologies an alert can be tagged with, in output order."""

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
AML_BIZ_STEMS: tuple[str, ...] = (
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
AML_HRJ: tuple[str, ...] = (
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
AML_RULES: dict[str, tuple[str, str]] = {
    "profile_deviation": ("TM-PRF-02", "activity inconsistent with expected profile"),
    "cash_structuring": ("TM-CSH-07", "cash deposits below the reporting threshold"),
    "rapid_movement": ("TM-VEL-03", "rapid movement of funds"),
    "high_risk_geo": ("TM-GEO-11", "wires involving higher-risk jurisdictions"),
    "trade_finance": ("TF-INV-04", "trade pricing anomaly"),
    "sanctions": ("SCR-NM-01", "sanctions name screening"),
    "large_wire": ("TM-WIR-09", "large incoming wire"),
}
AML_ANALYSTS: tuple[str, ...] = ("JM", "KT", "RB", "AS", "LP", "DW", "NH", "OC", "SG", "TV")


@dataclass
class Alert:
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


def sample_alert(rng: random.Random, alert_date: date) -> Alert:
    """Sample the structured facts of one alert (a hidden bad-actor flag correlates them)."""
    a = Alert(
        region=pick(rng, REGIONS),
        channel=wpick(rng, (("branch", 0.40), ("online", 0.45), ("broker", 0.15))),
        alert_date=alert_date,
        bad=chance(rng, 0.13),
    )
    bad = a.bad
    a.first, a.last, a.gender = person(rng)
    if chance(rng, 0.45):
        a.cust_kind = "business"
        a.desc, a.cash_intensive, a.trade, median = pick(rng, _AML_BUSINESSES)
        a.name = f"{pick(rng, (pick(rng, AML_BIZ_STEMS), a.last))} {pick(rng, _AML_BIZ_SUFFIX)}"
        a.expected_monthly = round_to(median * rng.lognormvariate(0.0, 0.5), 1000)
    else:
        a.desc, monthly = pick(rng, _AML_OCCUPATIONS)
        a.name = f"{a.first} {a.last}"
        a.cash_intensive = a.desc in (
            "rideshare driver",
            "hair stylist",
            "restaurant manager",
            "car salesman",
        )
        a.expected_monthly = round_to(monthly * 1.15 * rng.lognormvariate(0.0, 0.3), 100)
    a.tenure_years = round(rng.lognormvariate(math.log(1.6 if bad else 5.0), 0.8), 1)
    a.risk = wpick(rng, (("low", 0.15 if bad else 0.40), ("medium", 0.50), ("high", 0.35 if bad else 0.10)))

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
    a.rule = wpick(rng, rules)

    # --- activity vs expected profile (matters as a ratio of two rendered numbers)
    a.window_days = pick(rng, (30, 60, 90))
    a.ratio = rng.lognormvariate(math.log(2.4 if bad else 1.15), 0.65 if bad else 0.45)
    if a.rule in ("profile_deviation", "large_wire"):
        a.ratio *= rng.uniform(1.3, 2.0)
    a.observed_total = round_to(a.expected_monthly * a.ratio * a.window_days / 30.0, 100)

    # --- structuring
    cashy = a.cash_intensive or a.cust_kind == "individual"
    if a.rule == "cash_structuring":
        a.struct_k = rng.randint(3, 10) if bad else wpick(rng, ((0, 0.3), (1, 0.3), (2, 0.25), (3, 0.1), (4, 0.05)))
        a.cash_reviewed = True
    elif cashy and bad and chance(rng, 0.4):
        a.struct_k = rng.randint(2, 7)
    elif cashy and chance(rng, 0.05):
        a.struct_k = rng.randint(1, 3)
    if a.struct_k:
        lo = 8000 if bad else 6500
        a.struct_amounts = [round_to(rng.uniform(lo, 9990), pick(rng, (10, 50, 100))) for _ in range(a.struct_k)]
        a.struct_amounts = [min(x, 9990.0) for x in a.struct_amounts]
        a.struct_branches = rng.randint(1, min(a.struct_k, 5)) if bad else rng.randint(1, 2)
        a.struct_days = a.struct_k * rng.randint(1, 4)
    if a.cash_intensive and not bad:
        a.ctr_count = rng.randint(0, 6)
    a.cash_reviewed = a.cash_reviewed or a.struct_k > 0 or (a.cash_intensive and chance(rng, 0.4))

    # --- velocity / layering
    if a.rule == "rapid_movement":
        a.passthrough_pct = rng.randint(70, 98) if bad else rng.randint(25, 85)
    elif bad and chance(rng, 0.55):
        a.passthrough_pct = rng.randint(50, 95)
    elif chance(rng, 0.05):
        a.passthrough_pct = rng.randint(55, 90)  # legitimate pass-through (payroll, escrow)
    else:
        a.passthrough_pct = rng.randint(0, 45)
    a.passthrough_days = rng.randint(1, 10)
    a.n_counterparties = rng.randint(4, 28) if bad else rng.randint(1, 12)

    # --- jurisdictions
    if a.rule == "high_risk_geo" or (bad and chance(rng, 0.35)) or chance(rng, 0.04):
        a.hrj = rng.sample(list(AML_HRJ), rng.randint(1, 3 if bad else 2))
        a.hrj_amount = round_to(a.observed_total * rng.uniform(0.1, 0.85), 100)
    if chance(rng, 0.2):
        a.lowrisk_foreign = rng.sample(list(_AML_LOWRISK), rng.randint(1, 2))

    # --- trade
    if a.rule == "trade_finance" or (a.trade and chance(rng, 0.35)):
        a.goods = pick(rng, _AML_GOODS)
        a.trade_qty = int(round_to(rng.lognormvariate(math.log(40000 / a.goods[2]), 0.8), 10))
        if bad and chance(rng, 0.8):
            a.trade_mismatch = rng.uniform(0.25, 1.6) * pick(rng, (1, 1, -0.5))
        elif chance(rng, 0.15):
            a.trade_mismatch = rng.uniform(0.2, 0.45)
        else:
            a.trade_mismatch = rng.uniform(-0.12, 0.15)
        a.vague_goods = chance(rng, 0.45 if bad else 0.08)
        a.third_party = chance(rng, 0.45 if bad else 0.08)
        if chance(rng, 0.3 if bad else 0.1):
            a.transship = pick(rng, ("Dubai (Jebel Ali)", "Hong Kong", "Mersin", "Colon Free Zone", "Port Klang"))

    # --- sanctions screening
    if a.rule == "sanctions" or chance(rng, 0.015):
        a.sanc_hit = True
        a.sanc_score = rng.randint(78, 100)
        a.sanc_fp = chance(rng, 0.35 if bad else 0.93)
        a.sanc_entity = pick(rng, _AML_SANCTIONED)

    # --- customer outreach
    a.explanation = wpick(
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
    a.adverse = wpick(
        rng,
        (
            ("none", 0.55 if bad else 0.85),
            ("minor", 0.10 if bad else 0.12),
            ("relevant", 0.35 if bad else 0.03),
        ),
    )
    a.prior_alerts = min(6, poisson(rng, 1.2 if bad else 0.4))
    if chance(rng, 0.2 if bad else 0.02):
        a.prior_sar_year = alert_date.year - rng.randint(1, 5)
    a.pep = chance(rng, 0.06 if bad else 0.03)
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


def _aml_rationale(rng: random.Random, a: Alert) -> tuple[str, str]:
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
    return pick(rng, _AML_REASONS[key])


def aml_typologies(a: Alert, escalated: bool) -> list[str]:
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


def aml_score(a: Alert) -> float:
    """Latent escalation log-odds (before scaling / intercept)."""
    s = 1.0 * clip(math.log(a.ratio), -0.5, 2.5)
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
