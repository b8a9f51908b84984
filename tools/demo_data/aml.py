"""``python -m tools.demo_data.generate --task aml_alert``: build the AML alert dataset.

Samples alerts (:mod:`.aml_factors`), draws the ``disposition`` label from their latent score with
label noise, derives the ``typologies`` from the facts and the final disposition, and renders each
alert into a case note (:mod:`.aml_sections`). About 10% of rows are long, padded with routine
background paragraphs; in some of them the findings come only after the padding.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import timedelta

from .aml_factors import Alert, aml_score, aml_typologies, sample_alert
from .aml_fields import aml_fields
from .aml_sections import (
    aml_activity,
    aml_background,
    aml_closing,
    aml_geo,
    aml_header,
    aml_layering,
    aml_outreach,
    aml_pii,
    aml_profile,
    aml_sanctions,
    aml_structuring,
    aml_trade,
    aml_voice,
)
from .common import (
    DATE_RANGE,
    DEFAULT_ROWS,
    LABEL_NOISE_RATE,
    LONG_MAX_WORDS,
    DemoRecord,
    chance,
    draw_labels,
    fmt_date,
    join_sentences,
    list_join,
    money,
    pick,
    pre_noise_rate,
    rand_date,
    words,
)
from .pii import account_number, address, birth_date, fake_email, full_name

AML_ESCALATE_RATE: float = 0.15
"""Share of ``escalate`` rows targeted after label noise."""

AML_SCORE_SCALE: float = 1.6
"""Multiplier on the AML latent score before the logistic (higher = less label randomness)."""


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


def _aml_pad_accounts(rng: random.Random, a: Alert) -> str:
    """Account inventory paragraph (contains account numbers)."""
    rows = []
    for _ in range(rng.randint(2, 4)):
        kind = pick(
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
        rows.append(f"{kind} {account_number(rng)} (opened {opened}, status active)")
    return "Accounts in scope: " + "; ".join(rows) + "."


def _aml_pad_ownership(rng: random.Random, a: Alert) -> str:
    """Ownership / household structure paragraph (names and percentages)."""
    if a.cust_kind == "business":
        owners = [f"{a.first} {a.last}"] + [full_name(rng) for _ in range(rng.randint(0, 2))]
        shares = [rng.randint(20, 80)]
        shares += [rng.randint(5, 30) for _ in owners[1:]]
        parts = [f"{o} ({pct}%)" for o, pct in zip(owners, shares, strict=True)]
        return (
            f"Ownership: beneficial owners per the certification form are {list_join(parts)}. The entity "
            "was "
            f"incorporated in {a.alert_date.year - rng.randint(1, 20)} in "
            f"{pick(rng, ('Delaware', 'Florida', 'Texas', 'New York', 'Nevada', 'New Jersey'))} and lists "
            "its "
            f"registered office at {address(rng)}. Officers were screened with no matches."
        )
    return (
        f"Household: the customer lives at {address(rng)}. Joint account holder: "
        f"{pick(rng, ('none', full_name(rng), full_name(rng)))}. Date of birth "
        f"{fmt_date(rng, birth_date(rng, a.alert_date.year))}. "
        f"Identification on file is a {pick(rng, ('driver licence', 'passport', 'state ID'))} that was "
        "verified at "
        "account opening and refreshed at the last periodic review."
    )


def _aml_pad_kyc(rng: random.Random, a: Alert) -> str:
    """KYC refresh history paragraph (uninformative)."""
    y = a.alert_date.year
    return (
        f"KYC history: CDD refreshed in {y - rng.randint(1, 3)} with no changes to the stated source of "
        "funds. "
        "The customer's contact details were last updated "
        f"{fmt_date(rng, a.alert_date - timedelta(days=rng.randint(30, 900)))}. "
        f"Online banking is used from a consistent set of devices and IP addresses in "
        f"{pick(rng, ('the same metro area', 'the home state', 'two nearby cities'))}. Statements are "
        "delivered "
        f"electronically to {fake_email(rng, a.first, a.last)}."
    )


def _aml_pad_rm(rng: random.Random, a: Alert) -> str:
    """Relationship-manager conversation notes (uninformative)."""
    rm = full_name(rng)
    return (
        f"Relationship manager {rm} was consulted on "
        f"{fmt_date(rng, a.alert_date + timedelta(days=rng.randint(1, 9)))}. "
        f"The RM has handled the relationship for {rng.randint(1, 9)} years, meets the customer "
        f"{pick(rng, ('quarterly', 'twice a year', 'annually', 'occasionally'))} and described the account "
        "as "
        f"{pick(rng, ('routine', 'straightforward', 'low-maintenance', 'typical for the segment'))} from a "
        "service "
        "point of view. The RM was reminded not to discuss the review with the customer."
    )


def _aml_pad_routine(rng: random.Random, a: Alert) -> str:
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
        items.append(f"{d.month:02d}/{d.day:02d} {kind} {money(rng, round(rng.uniform(lo, hi), 2), compact_ok=False)}")
    return "Sample of other activity in the window (routine): " + "; ".join(items) + "."


def _aml_pad_periodic(rng: random.Random, a: Alert) -> str:
    """Previous periodic-review summary (uninformative)."""
    y = a.alert_date.year - rng.randint(1, 3)
    return (
        f"Last periodic review ({y}) confirmed the customer's identity documents, address and stated "
        f"{'business activities' if a.cust_kind == 'business' else 'occupation'}; beneficial ownership and "
        "contact details were re-certified. The reviewer at the time recorded no changes to the expected "
        f"products or channels. The next scheduled review is due in {a.alert_date.year + rng.randint(1, 2)}."
    )


_AML_PADDERS: tuple[Callable[[random.Random, Alert], str], ...] = (
    _aml_pad_accounts,
    _aml_pad_ownership,
    _aml_pad_kyc,
    _aml_pad_rm,
    _aml_pad_routine,
    _aml_pad_periodic,
)


def _render_aml(rng: random.Random, a: Alert, idx: int, long_form: bool, tail: bool) -> str:
    """Render an alert into an investigator case note."""
    v = aml_voice(rng, a)
    alert_id = pick(
        rng,
        (
            f"{a.alert_date.year}-AML-{rng.randint(1000, 99999):05d}",
            f"A{rng.randint(10**7, 10**8 - 1)}",
            f"TM-{rng.randint(100000, 999999)}",
        ),
    )
    case_id = f"C-{a.alert_date.year % 100:02d}{rng.randint(10000, 99999)}"
    acct = pick(rng, (account_number(rng), f"ending {rng.randint(1000, 9999)}", account_number(rng)))
    header = aml_header(rng, a, alert_id, case_id, acct)
    v.mentioned = True
    profile = aml_profile(rng, v, a) if chance(rng, 0.9) else ""
    activity = aml_activity(rng, v, a) if chance(rng, 0.88) else ""
    findings: list[str] = []
    rule_typ = {
        "cash_structuring": "s",
        "rapid_movement": "l",
        "high_risk_geo": "g",
        "trade_finance": "t",
        "sanctions": "x",
    }.get(a.rule, "")
    if a.struct_k or a.ctr_count or rule_typ == "s" or (a.cash_reviewed and chance(rng, 0.6)) or chance(rng, 0.15):
        findings.append(aml_structuring(rng, v, a))
    if a.passthrough_pct >= 50 or rule_typ == "l" or chance(rng, 0.3):
        findings.append(aml_layering(rng, v, a))
    if a.hrj or rule_typ == "g" or chance(rng, 0.25):
        findings.append(aml_geo(rng, v, a))
    findings.append(aml_trade(rng, v, a))
    findings.append(aml_sanctions(rng, v, a))
    findings = [f for f in findings if f]
    rng.shuffle(findings)
    if findings and chance(rng, 0.15):
        findings = ["Findings: " + " ".join(f"({i}) {f}" for i, f in enumerate(findings, start=1))]
    outreach = aml_outreach(rng, v, a) if (a.explanation != "not_requested" or chance(rng, 0.4)) else ""
    background = aml_background(rng, v, a)
    pii = aml_pii(rng, a) if chance(rng, 0.4) else ""
    closing = aml_closing(rng, a, case_id) if chance(rng, 0.6) else ""
    body = [profile, activity, *findings, outreach, *background]

    if not long_form:
        parts = [header, *body, pii, closing]
        text = join_sentences(parts)
        if words(text) < 80:
            extra = [aml_pii(rng, a), aml_closing(rng, a, case_id), pick(rng, _AML_BOILERPLATE)]
            for e in extra:
                if words(text) >= 80:
                    break
                parts.insert(-1, e)
                text = join_sentences(parts)
        return text
    pads = [p(rng, a) for p in _AML_PADDERS] + list(_AML_BOILERPLATE)
    rng.shuffle(pads)
    target = rng.randint(320, 590)
    chosen: list[str] = []
    base_words = words(join_sentences([header, *body, pii, closing]))
    for p in pads:
        if base_words + words(join_sentences(chosen)) >= target:
            break
        if base_words + words(join_sentences([*chosen, p])) <= LONG_MAX_WORDS:
            chosen.append(p)
    if tail:
        # Background paragraphs first, substantive findings and outreach at the end.
        return join_sentences([header, profile, *chosen, activity, *findings, outreach, *background, pii, closing])
    cut = rng.randint(0, len(chosen))
    return join_sentences(
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


def generate_aml_alert(n: int = DEFAULT_ROWS["aml_alert"], seed: int = 0) -> list[DemoRecord]:
    """Generate the ``aml_alert`` demo dataset.

    Args:
        n: Number of rows.
        seed: Random seed; identical seeds give identical output.

    Returns:
        Records with public columns ``text``, ``disposition``, ``typologies``, ``region``, ``channel``, the
        field columns of :data:`~.aml_fields.AML_FIELDS` and ``id``.
    """
    rng = random.Random(f"finrisk-demo:aml_alert:{seed}")
    alerts = [sample_alert(rng, rand_date(rng, *DATE_RANGE)) for _ in range(n)]
    scores = [aml_score(a) + (0.4 if a.bad else 0.0) + rng.gauss(0.0, 0.3) for a in alerts]
    target = pre_noise_rate(AML_ESCALATE_RATE, LABEL_NOISE_RATE)
    probs, clean, flipped = draw_labels(rng, scores, target, AML_SCORE_SCALE)
    # The fields' own stream: drawing them leaves the note and label stream untouched.
    fields_rng = random.Random(f"finrisk-demo:aml_alert:fields:{seed}")
    records: list[DemoRecord] = []
    for i, a in enumerate(alerts):
        long_form = chance(rng, 0.10)
        tail = long_form and chance(rng, 0.4)
        text = _render_aml(rng, a, i, long_form, tail)
        escalate = clean[i] != (i in flipped)
        row = {
            "text": text,
            "disposition": "escalate" if escalate else "close",
            "typologies": aml_typologies(a, escalate),
            "region": a.region,
            "channel": a.channel,
            **aml_fields(fields_rng, a),
            "id": f"aml-{i + 1:05d}",
        }
        meta = {
            "score": scores[i],
            "p_escalate": probs[i],
            "clean_label": "escalate" if clean[i] else "close",
            "label_flipped": i in flipped,
            "long_form": long_form,
            "evidence_at_end": tail,
            "rule": a.rule,
            "activity_ratio": a.ratio,
        }
        records.append(DemoRecord(row=row, meta=meta))
    return records
