"""``python -m tools.demo_data.generate --task aml_alert``: the structured fields a bank holds per alert.

Next to the case note an investigator sees the KYC profile (customer type, expected monthly volume, risk rating,
account age, PEP flag, cash-intensive business code) and what the monitoring system recorded for the alert (rule,
review window, amount over the window, the highest country risk among counterparties, prior alerts). They are
drawn from the same alert (:class:`~.aml_factors._Alert`) that the note and the label come from, with the noise
and gaps of real systems: the expected volume is what the customer declared at onboarding, often stale; optional
KYC items are blank for some older accounts.

What stays in the case note only: the structuring pattern (deposits just under the threshold, branches used,
CTR-filed deposits), pass-through share and counterparties, trade pricing, the outcome of sanctions screening
(true match or discounted false positive), the customer's answer to outreach, adverse media and prior SARs.
Fields are drawn from their own random stream, so the note, the disposition and the typologies of every row are
the same as without fields.
"""

from __future__ import annotations

import random
from typing import Any

from .aml_factors import Alert
from .common import chance, round_to

AML_FIELDS: tuple[str, ...] = (
    "kyc_expected_monthly_volume",
    "alert_amount",
    "review_window_days",
    "account_age_years",
    "prior_alerts_12m",
    "pep",
    "cash_intensive",
    "customer_type",
    "customer_risk_rating",
    "country_risk",
    "alert_rule",
)
"""Field columns of ``aml_alert.jsonl``, in output order."""

AML_CATEGORICAL_FIELDS: tuple[str, ...] = ("customer_type", "customer_risk_rating", "country_risk", "alert_rule")
"""The categorical ones among :data:`AML_FIELDS`; the rest are numbers (flags as 0/1)."""

AML_REQUIRED_FIELDS: tuple[str, ...] = ("alert_amount", "review_window_days", "customer_type", "alert_rule")
"""Fields the monitoring system always fills (never missing)."""

_BLANK_RATE: dict[str, float] = {
    "kyc_expected_monthly_volume": 0.10,
    "account_age_years": 0.07,
    "prior_alerts_12m": 0.07,
    "pep": 0.06,
    "cash_intensive": 0.07,
    "customer_risk_rating": 0.07,
    "country_risk": 0.08,
}


def aml_fields(rng: random.Random, a: Alert) -> dict[str, Any]:
    """The field columns of one alert (``None`` = missing), drawn from ``rng`` alone.

    Args:
        rng: The fields' own random stream (never the note's).
        a: The alert the note and label come from.

    Returns:
        A dict keyed by :data:`AML_FIELDS`.
    """
    # KYC volume declared at onboarding: rounded, and the older the account the staler
    drift = rng.lognormvariate(0.0, 0.1 + 0.02 * min(a.tenure_years, 10.0))
    fields: dict[str, Any] = {
        "kyc_expected_monthly_volume": int(round_to(a.expected_monthly * drift, 500)),
        "alert_amount": int(a.observed_total),
        "review_window_days": a.window_days,
        "account_age_years": a.tenure_years,
        "prior_alerts_12m": a.prior_alerts,
        "pep": int(a.pep),
        "cash_intensive": int(a.cash_intensive),
        "customer_type": a.cust_kind,
        "customer_risk_rating": a.risk,
        "country_risk": "high" if a.hrj else ("medium" if a.lowrisk_foreign else "low"),
        "alert_rule": a.rule,
    }
    for name, rate in _BLANK_RATE.items():
        if chance(rng, rate):
            fields[name] = None
    return fields
