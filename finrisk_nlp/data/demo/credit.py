"""``python -m finrisk_nlp.data.demo.generate --task credit_text``: build the loan-narrative dataset.

Samples applicants (:mod:`.credit_factors`), draws the ``outcome`` label from their latent score with
label noise, and renders each applicant into a narrative (:mod:`.credit_sections`,
:mod:`.credit_record`). About 10% of rows are long: they are padded with realistic but uninformative
paragraphs, and in half of them the decisive facts come only after the padding.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable
from datetime import timedelta

from ._common import (
    DATE_RANGE,
    DEFAULT_ROWS,
    LABEL_NOISE_RATE,
    LONG_MAX_WORDS,
    DemoRecord,
    _chance,
    _draw_labels,
    _fmt_date,
    _join,
    _list_join,
    _money,
    _person_voice,
    _pick,
    _pre_noise_rate,
    _rand_date,
    _round_to,
    _title,
    _Voice,
    _words,
    _wpick,
)
from ._pii import _CITIES, _address, _digits, _email, _full_name, _person, _phone, _ssn
from .credit_factors import _CR_CARS, _CR_PURPOSES, _Applicant, _credit_score, _sample_applicant
from .credit_fields import credit_fields
from .credit_record import _cr_admin, _cr_collateral, _cr_dti, _cr_event, _cr_history, _cr_pii, _cr_savings
from .credit_sections import _cr_debts, _cr_employment, _cr_household, _cr_housing, _cr_income, _cr_purpose

CREDIT_DEFAULT_RATE: float = 0.27
"""Share of ``default`` rows targeted after label noise."""

CREDIT_SCORE_SCALE: float = 3.0
"""Multiplier on the credit latent score before the logistic (higher = less label randomness)."""

# Long-form padding: realistic but uninformative paragraphs.

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


def _padding(rng: random.Random, a: _Applicant, budget: int) -> list[str]:
    """Pick uninformative padding paragraphs that roughly fill ``budget`` words."""
    pads: list[str] = []
    order = [p for p in _CR_PADDERS if p is not _pad_vehicle or a.purpose == "vehicle" or a.collateral == "vehicle"]
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


def _make_voice(rng: random.Random, a: _Applicant, allow_terse: bool) -> _Voice:
    """Choose who is writing the narrative, conditioned on the application channel."""
    weights = {
        "online": (("first", 0.58), ("third", 0.32), ("broker", 0.0), ("terse", 0.10)),
        "branch": (("first", 0.25), ("third", 0.63), ("broker", 0.0), ("terse", 0.12)),
        "broker": (("first", 0.08), ("third", 0.30), ("broker", 0.52), ("terse", 0.10)),
    }[a.channel]
    kind = _wpick(rng, weights)
    if kind == "terse" and not allow_terse:
        kind = "third"
    return _person_voice(rng, kind, f"{_title(a.gender)} {a.last}", a.gender)


def _render_credit(rng: random.Random, a: _Applicant, dti: float, long_form: bool, tail: bool) -> str:
    """Render an applicant into a narrative; returns the text."""
    v = _make_voice(rng, a, allow_terse=not long_form)
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


def generate_credit_text(n: int = DEFAULT_ROWS["credit_text"], seed: int = 0) -> list[DemoRecord]:
    """Generate the ``credit_text`` demo dataset.

    Args:
        n: Number of rows.
        seed: Random seed; identical seeds give identical output.

    Returns:
        Records with public columns ``text``, ``outcome``, ``region``, ``channel``, the field columns of
        :data:`~.credit_fields.CREDIT_FIELDS` and ``id``.
    """
    rng = random.Random(f"finrisk-demo:credit_text:{seed}")
    applicants = [_sample_applicant(rng, _rand_date(rng, *DATE_RANGE)) for _ in range(n)]
    scored = [_credit_score(a) for a in applicants]
    # "Unobserved" factors: noise the text cannot reveal.
    scores = [s + 0.15 * a.discipline + rng.gauss(0.0, 0.25) for a, (s, _) in zip(applicants, scored, strict=True)]
    target = _pre_noise_rate(CREDIT_DEFAULT_RATE, LABEL_NOISE_RATE)
    probs, clean, flipped = _draw_labels(rng, scores, target, CREDIT_SCORE_SCALE)
    # The fields' own stream: drawing them leaves the narrative and label stream untouched.
    fields_rng = random.Random(f"finrisk-demo:credit_text:fields:{seed}")
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
            **credit_fields(fields_rng, a),
            "id": f"credit-{i + 1:05d}",
        }
        meta = {
            "score": scores[i],
            "p_default": probs[i],
            "clean_label": "default" if clean[i] else "repaid",
            "label_flipped": i in flipped,
            "long_form": long_form,
            "evidence_at_end": tail,
            **scored[i][1],
        }
        records.append(DemoRecord(row=row, meta=meta))
    return records
