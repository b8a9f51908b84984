"""``python -m tools.demo_data.generate --task credit_text``: the structured fields a lender holds per row.

Each application also carries what a lender's systems record next to the narrative: the application form
(stated income, amount, term, purpose, housing, employment, declared savings, the security offered and its
valuation) and a credit-bureau summary (monthly debt payments, open credit lines, revolving utilisation,
delinquencies, public records). They are drawn from the same applicant (:class:`~.credit_factors._Applicant`)
that the narrative and the label come from, with the noise and gaps of real systems:

* stated income is what the applicant typed: noisy, and after a pay cut or job loss often last year's figure;
* the bureau sees only reported credit (cards, car, student and personal loans), not child support, medical
  payment plans or payday loans, and lags (payments and utilisation are a month or two stale); a thin or
  no-hit file leaves every bureau field empty at once;
* declared savings are rounded and a little optimistic;
* optional form fields are left blank now and then.

What stays in the narrative only: life events (job loss and re-employment, medical bills, divorce, ...), older
cured late payments, the severity of recent ones, defaults and charge-offs, payday loans, household details, and
what is still owed on a home offered as security. Fields are drawn from their own random stream, so the narrative
and the label of every row are the same as without fields.
"""

from __future__ import annotations

import random
from typing import Any

from .common import chance, clip, poisson, round_to
from .credit_factors import Applicant

CREDIT_FIELDS: tuple[str, ...] = (
    "annual_income",
    "loan_amount",
    "term_months",
    "monthly_debt_payments",
    "monthly_housing_cost",
    "months_employed",
    "open_credit_lines",
    "revolving_utilization",
    "delinquencies_24m",
    "public_records",
    "liquid_savings",
    "collateral_value",
    "employment_type",
    "home_ownership",
    "purpose",
    "collateral_type",
)
"""Field columns of ``credit_text.jsonl``, in output order."""

CREDIT_CATEGORICAL_FIELDS: tuple[str, ...] = ("employment_type", "home_ownership", "purpose", "collateral_type")
"""The categorical ones among :data:`CREDIT_FIELDS`; the rest are numbers."""

CREDIT_REQUIRED_FIELDS: tuple[str, ...] = ("loan_amount", "term_months", "purpose", "collateral_type")
"""Fields the application cannot be submitted without (never missing)."""

_BUREAU: tuple[str, ...] = (
    "monthly_debt_payments",
    "open_credit_lines",
    "revolving_utilization",
    "delinquencies_24m",
    "public_records",
)
_FORM_BLANK_RATE: dict[str, float] = {
    "annual_income": 0.07,
    "monthly_housing_cost": 0.08,
    "months_employed": 0.07,
    "employment_type": 0.07,
    "home_ownership": 0.07,
    "liquid_savings": 0.12,
    "collateral_value": 0.08,
}
_HOME: dict[str, str] = {"rent": "rent", "mortgage": "mortgage", "owned": "own", "family": "other"}


def _stated_income(rng: random.Random, a: Applicant) -> float:
    """Income as typed on the form: rounded, noisy, and sometimes last year's figure after a drop."""
    if a.event in ("job_loss_lower", "reduced_hours", "unemployed") and chance(rng, 0.5):
        base = a.prev_income
    else:
        base = a.income
    sigma = 0.15 if a.emp_type == "self_employed" else 0.06
    return round_to(base * rng.lognormvariate(0.02, sigma), 1000)


def credit_fields(rng: random.Random, a: Applicant) -> dict[str, Any]:
    """The field columns of one application (``None`` = missing), drawn from ``rng`` alone.

    Args:
        rng: The fields' own random stream (never the narrative's).
        a: The applicant the narrative and label come from.

    Returns:
        A dict keyed by :data:`CREDIT_FIELDS`.
    """
    reported = a.card_balance * 0.03 + a.car_payment + a.student_payment + a.other_loan_payment
    lines = (1 if a.card_limit else 0) + sum(p > 0 for p in (a.car_payment, a.student_payment, a.other_loan_payment))
    utilisation = (
        clip(a.card_balance / a.card_limit + rng.gauss(0.0, 0.05), 0.0, 1.2) if a.card_limit else 0.0
    )
    fields: dict[str, Any] = {
        "annual_income": _stated_income(rng, a),
        "loan_amount": a.amount,
        "term_months": a.term,
        "monthly_debt_payments": round_to(reported * rng.lognormvariate(0.0, 0.12), 10) if reported else 0.0,
        "monthly_housing_cost": round_to(a.housing_cost * rng.lognormvariate(0.0, 0.05), 25)
        if a.housing_cost
        else 0.0,
        "months_employed": max(0, a.tenure_months + rng.randint(-1, 1))
        if a.emp_type not in ("retired", "unemployed")
        else 0,
        "open_credit_lines": lines + poisson(rng, 0.8 + a.credit_years / 5.0),
        "revolving_utilization": round(utilisation, 2),
        # not every creditor reports: each missed payment reaches the bureau with probability 0.85
        "delinquencies_24m": sum(chance(rng, 0.85) for _ in range(a.missed_recent)),
        # only bankruptcies are public records; defaults and charge-offs live in the narrative
        "public_records": 1 if a.derog == "bankruptcy" else 0,
        # declared assets: rounded, and applicants overstate them a little
        "liquid_savings": round_to(a.savings * rng.lognormvariate(0.05, 0.2), 500) if a.savings else 0.0,
        # the valuation on file; what is still owed on a mortgaged home is in the narrative only
        "collateral_value": a.collateral_value if a.collateral in ("property", "vehicle", "savings") else 0.0,
        "employment_type": a.emp_type,
        "home_ownership": _HOME[a.housing],
        "purpose": a.purpose,
        "collateral_type": a.collateral,
    }
    # A thin file (under two years of history) is more often a bureau no-hit.
    if chance(rng, 0.30 if a.credit_years < 2 else 0.06):
        fields.update(dict.fromkeys(_BUREAU))
    for name, rate in _FORM_BLANK_RATE.items():
        if chance(rng, rate):
            fields[name] = None
    if fields["annual_income"] is not None and a.emp_type == "self_employed" and chance(rng, 0.05):
        fields["annual_income"] = None  # pending accounts: the form is filed without a figure
    for name in ("annual_income", "loan_amount", "monthly_debt_payments", "monthly_housing_cost", "liquid_savings",
                 "collateral_value"):
        if fields[name] is not None:
            fields[name] = int(fields[name])  # whole dollars, written as JSON integers
    return {name: fields[name] for name in CREDIT_FIELDS}

