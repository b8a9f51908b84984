"""``python -m tools.demo_data.generate --task credit_text``: the facts behind each loan application.

Samples an :class:`Applicant` (employment, income, life events, purpose and amount, household,
housing, debts, credit history, savings, collateral), correlated through a hidden repayment-discipline
trait, and computes the latent default log-odds from those facts. No text is written here.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import date

from .common import REGIONS, add_months, chance, clip, pick, poisson, round_to, sigmoid, wpick
from .pii import person

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
CR_EMPLOYERS: tuple[str, ...] = (
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
CR_CARS: tuple[str, ...] = (
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
CR_PURPOSES: dict[str, tuple[str, ...]] = {
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
CR_PURPOSE_SHORT: dict[str, str] = {
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
class Applicant:
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


def sample_applicant(rng: random.Random, app_date: date) -> Applicant:
    """Sample the structured factors of one applicant (correlated through a hidden trait)."""
    first, last, gender = person(rng)
    a = Applicant(
        first=first,
        last=last,
        gender=gender,
        age=0,
        region=pick(rng, REGIONS),
        channel=wpick(rng, (("branch", 0.33), ("online", 0.47), ("broker", 0.20))),
        app_date=app_date,
        discipline=rng.gauss(0.0, 1.0),  # higher = riskier (hidden)
    )
    z = a.discipline
    a.emp_type = wpick(rng, (("salaried", 0.66), ("self_employed", 0.15), ("contract", 0.12), ("retired", 0.07)))
    a.age = rng.randint(58, 79) if a.emp_type == "retired" else rng.randint(21, 64)
    region_factor = {"north": 0.93, "south": 0.98, "east": 1.02, "west": 1.07}[a.region]
    if a.emp_type == "salaried":
        a.occupation, median = pick(rng, _CR_OCCUPATIONS)
        a.employer = pick(rng, CR_EMPLOYERS)
        sigma = 0.2
    elif a.emp_type == "self_employed":
        a.business, a.occupation, median = pick(rng, _CR_BUSINESSES)
        a.employer = f"{last} {a.business.title()}" if chance(rng, 0.5) else f"{a.business} business"
        sigma = 0.35
    elif a.emp_type == "contract":
        a.occupation, median = pick(rng, _CR_CONTRACT)
        a.employer = "a nursing bank" if a.occupation == "agency nurse" else pick(rng, _CR_AGENCIES)
        sigma = 0.3
    else:
        a.occupation, median0 = pick(rng, _CR_OCCUPATIONS)
        a.employer = pick(rng, CR_EMPLOYERS)
        median = int(median0 * 0.55)
        sigma = 0.2
    a.income = round_to(median * region_factor * rng.lognormvariate(0.0, sigma), 500)
    a.prev_income = a.income
    max_tenure = max(3, (a.age - 18) * 12)
    a.tenure_months = int(clip(rng.lognormvariate(math.log(50), 0.85), 2, max_tenure))

    # --- recent life event (may rewrite employment facts so the story stays consistent)
    working = a.emp_type != "retired"
    a.event = wpick(
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
        a.prev_income = round_to(a.income / rng.uniform(1.05, 1.3), 500)
        a.event_date = add_months(app_date, -(a.tenure_months + rng.randint(1, 5)))
    elif a.event == "job_loss_lower":
        a.tenure_months = rng.randint(2, 18)
        a.prev_income = round_to(a.income * rng.uniform(1.15, 1.6), 500)
        a.event_date = add_months(app_date, -(a.tenure_months + rng.randint(1, 6)))
    elif a.event == "unemployed":
        a.emp_type = "unemployed"
        a.prev_income = a.income
        a.income = round_to(a.income * rng.uniform(0.25, 0.4), 500)
        a.tenure_months = 0
        a.event_date = add_months(app_date, -rng.randint(1, 8))
    elif a.event == "new_job":
        a.tenure_months = rng.randint(1, 4)
        a.event_date = add_months(app_date, -a.tenure_months)
    elif a.event == "promotion":
        a.tenure_months = max(a.tenure_months, 24)
        a.prev_income = round_to(a.income / rng.uniform(1.08, 1.25), 500)
        a.event_date = add_months(app_date, -rng.randint(1, 10))
    elif a.event == "reduced_hours":
        a.prev_income = round_to(a.income * rng.uniform(1.15, 1.4), 500)
        a.event_date = add_months(app_date, -rng.randint(1, 9))
    elif a.event.startswith("medical"):
        a.event_amount = round_to(rng.lognormvariate(math.log(7000), 0.8), 100)
        a.event_date = add_months(app_date, -rng.randint(4, 30))
        if a.event == "medical_plan":
            a.event_payment = round_to(a.event_amount / rng.randint(12, 36), 5)
    elif a.event == "business_expansion":
        a.event_amount = round_to(a.income * rng.uniform(0.3, 1.2), 1000)
        a.event_date = add_months(app_date, -rng.randint(1, 14))
    elif a.event == "inheritance":
        a.event_amount = round_to(rng.lognormvariate(math.log(35000), 0.7), 1000)
        a.event_date = add_months(app_date, -rng.randint(2, 20))
    else:
        a.event_date = add_months(app_date, -rng.randint(2, 18))

    # --- purpose and requested amount
    a.purpose = wpick(
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
    a.amount = clip(round_to(income_ref * _CR_LTI[a.purpose] * rng.lognormvariate(0.0, 0.6), 500), 1000, 250000)
    a.term = pick(rng, _CR_TERMS[a.purpose])
    a.installment = _amortized_payment(a.amount, rng.uniform(0.07, 0.15), a.term)

    # --- household
    a.marital = wpick(
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
    a.dependents = 0 if a.age < 22 or a.emp_type == "retired" else min(5, poisson(rng, 0.9))
    if a.event == "new_child":
        a.dependents = max(1, a.dependents)
    if a.marital in ("married", "partner") and chance(rng, 0.7):
        a.partner_occ, p_median = pick(rng, _CR_OCCUPATIONS)
        a.partner_income = round_to(p_median * rng.lognormvariate(0.0, 0.3) * rng.uniform(0.5, 1.0), 500)
    if a.event == "divorce" and a.dependents:
        a.support_payment = round_to(rng.uniform(250, 900), 25)

    # --- housing and existing debts (correlated with the hidden trait)
    monthly = a.income / 12.0
    a.housing = wpick(
        rng,
        (
            ("rent", 0.42),
            ("mortgage", 0.38),
            ("family", 0.12 if a.age < 35 else 0.03),
            ("owned", 0.14 if a.age > 50 else 0.02),
        ),
    )
    if a.housing in ("rent", "mortgage"):
        a.housing_cost = round_to(max(monthly, 1500) * rng.uniform(0.16, 0.38), 25)
    elif a.housing == "family":
        a.housing_cost = float(pick(rng, (0, 150, 200, 250, 300, 400)))
    if chance(rng, 0.82):
        a.card_limit = round_to(a.income * rng.uniform(0.08, 0.4), 500)
        util = clip(sigmoid(-0.7 + 1.1 * z + rng.gauss(0.0, 0.8)), 0.0, 0.99)
        a.card_balance = round_to(a.card_limit * util, 50) if util > 0.02 else 0.0
    if chance(rng, 0.33) or (a.purpose == "vehicle" and chance(rng, 0.2)):
        a.car_payment = round_to(rng.lognormvariate(math.log(340), 0.35), 5)
        a.car_months_left = rng.randint(4, 50)
    if chance(rng, 0.22 if a.age < 40 else 0.05):
        a.student_payment = round_to(rng.lognormvariate(math.log(260), 0.4), 5)
    if chance(rng, 0.1 + 0.06 * max(0.0, z)):
        a.other_loan_payment = round_to(rng.lognormvariate(math.log(230), 0.5), 5)
    a.payday_loans = min(6, poisson(rng, 0.07 * math.exp(1.1 * z)))

    # --- credit history
    a.missed_recent = min(9, poisson(rng, 0.33 * math.exp(0.95 * z)))
    if a.missed_recent >= 2:
        a.worst_late = wpick(rng, ((30, 0.5), (60, 0.3), (90, 0.2)))
    a.older_lates = min(5, poisson(rng, 0.25 * math.exp(0.6 * z)))
    if chance(rng, 0.035 * math.exp(0.9 * z)):
        a.derog = wpick(rng, (("default", 0.45), ("chargeoff", 0.3), ("bankruptcy", 0.25)))
        a.derog_year = app_date.year - rng.randint(2, 9)
    a.credit_years = int(clip(rng.lognormvariate(math.log(9), 0.6), 0, a.age - 18))

    # --- savings and collateral
    reserve_months = rng.lognormvariate(math.log(1.6) - 0.55 * z, 0.9)
    a.savings = 0.0 if chance(rng, 0.15 + 0.08 * max(0.0, z)) else round_to(monthly * reserve_months, 100)
    if a.event == "inheritance":
        a.savings += round_to(a.event_amount * rng.uniform(0.3, 0.8), 100)
    a.collateral = wpick(
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
        a.collateral_value = round_to(rng.lognormvariate(math.log(290000 * region_factor), 0.35), 5000)
        owed_frac = rng.uniform(0.25, 0.97) if a.housing == "mortgage" else 0.0
        a.collateral_owed = round_to(a.collateral_value * owed_frac, 1000) if owed_frac else 0.0
    elif a.collateral == "vehicle":
        base = a.amount if a.purpose == "vehicle" else rng.lognormvariate(math.log(12000), 0.4)
        a.collateral_value = round_to(base * rng.uniform(0.85, 1.3), 500)
    elif a.collateral == "savings":
        a.collateral_value = round_to(min(a.savings, a.amount * rng.uniform(0.3, 1.0)), 100)
    elif a.collateral == "guarantor":
        a.guarantor = pick(rng, ("father", "mother", "brother", "sister", "uncle", "business partner"))
    return a


def credit_score(a: Applicant) -> tuple[float, dict[str, float]]:
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
