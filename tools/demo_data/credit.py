"""``python -m tools.demo_data.generate --task credit_text``: build the loan-narrative dataset.

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

from .common import (
    DATE_RANGE,
    DEFAULT_ROWS,
    LABEL_NOISE_RATE,
    LONG_MAX_WORDS,
    DemoRecord,
    Voice,
    chance,
    courtesy_title,
    draw_labels,
    fmt_date,
    join_sentences,
    list_join,
    money,
    person_voice,
    pick,
    pre_noise_rate,
    rand_date,
    round_to,
    words,
    wpick,
)
from .credit_factors import CR_CARS, CR_PURPOSES, Applicant, credit_score, sample_applicant
from .credit_fields import credit_fields
from .credit_record import cr_admin, cr_collateral, cr_dti, cr_event, cr_history, cr_pii, cr_savings
from .credit_sections import cr_debts, cr_employment, cr_household, cr_housing, cr_income, cr_purpose
from .pii import CITIES, address, fake_email, fake_phone, full_name, person, random_digits, ssn

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


def _pad_property(rng: random.Random, a: Applicant) -> str:
    """Description of the applicant's address (uninformative padding)."""
    beds = rng.randint(1, 5)
    kind = pick(
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
        f"Current address: {address(rng)}. The property is a {beds}-bedroom {kind} built around {built}, "
        f"with {list_join(feats)}. Construction is "
        f"{pick(rng, _CONSTRUCTION)}; "
        f"the roof was last inspected in {a.app_date.year - rng.randint(1, 8)} and no structural issues "
        "were noted. "
        "The surrounding area is mainly residential, with schools, shops and a bus route within walking "
        "distance. "
        "Annual property tax for the address is approximately "
        f"{money(rng, round_to(rng.uniform(900, 6500), 10))}. "
        f"Flood risk is recorded as {pick(rng, ('low', 'very low', 'outside any designated flood zone'))}. "
        f"{pick(rng, _NEIGHBOURHOOD)}"
    )


def _pad_references(rng: random.Random, a: Applicant) -> str:
    """Character references with contact details (contains fake PII)."""
    out = ["References provided:"]
    for i in (1, 2):
        first, last, _ = person(rng)
        rel = pick(
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
        contact = fake_phone(rng) if chance(rng, 0.6) else fake_email(rng, first, last)
        out.append(
            f"({i}) {first} {last}, {rel}, has known the applicant for {rng.randint(2, 25)} years and can be "
            f"contacted on {contact}; "
            f"{pick(rng, _REFERENCE_STATUS)}."
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


def _pad_declaration(rng: random.Random, a: Applicant) -> str:
    """Boilerplate declaration / disclosure paragraph."""
    return pick(rng, _DECLARATIONS)


def _pad_employer(rng: random.Random, a: Applicant) -> str:
    """Employer background (uninformative)."""
    city, st = pick(rng, CITIES)
    contact = full_name(rng)
    industry = pick(
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
        f"{fmt_date(rng, a.app_date - timedelta(days=rng.randint(1, 10)))}. "
        f"Payroll runs {pick(rng, ('monthly', 'bi-weekly', 'weekly'))} and salary is paid by bank transfer. "
        "The state business registry lists the company as active with no recorded insolvency events."
    )


def _pad_vehicle(rng: random.Random, a: Applicant) -> str:
    """Vehicle description (uninformative)."""
    year = a.app_date.year - rng.randint(1, 12)
    return (
        f"Vehicle details: {year} {pick(rng, CR_CARS)}, {rng.randint(8, 140) * 1000:,} miles, "
        f"{pick(rng, ('silver', 'dark blue', 'white', 'grey', 'red', 'black'))}, "
        f"{pick(rng, ('one previous owner', 'two previous owners', 'ex-fleet'))}, "
        f"{pick(rng, ('full service history', 'partial service history', 'recent cambelt change'))}. "
        f"VIN ending {rng.randint(100000, 999999)}. Insurance group {rng.randint(8, 40)}. "
        "The dealer provided a vehicle history check showing no outstanding finance and no insurance "
        "write-off markers. "
        "Registration documents were inspected and match the seller's details."
    )


def _pad_kyc(rng: random.Random, a: Applicant) -> str:
    """Identity-verification notes (contains fake PII)."""
    issued = a.app_date - timedelta(days=rng.randint(200, 3000))
    return (
        f"Identity: {pick(rng, ('driving licence', 'passport', 'state ID card'))} number "
        f"{pick(rng, string.ascii_uppercase)}{random_digits(rng, 8)}, issued {fmt_date(rng, issued)}. "
        f"Proof of address: {pick(rng, ('electricity', 'water', 'council tax', 'broadband'))} bill dated "
        f"{fmt_date(rng, a.app_date - timedelta(days=rng.randint(5, 80)))}. SSN on file {ssn(rng)}. "
        f"Previous address (until {a.app_date.year - rng.randint(1, 6)}): {address(rng)}. "
        "Sanctions and PEP screening returned no matches. Device and IP checks on the application session "
        "did not raise any alerts, and the e-mail address has been in use for several years."
    )


def _pad_statements(rng: random.Random, a: Applicant) -> str:
    """Bank statement summary listing routine spending (uninformative)."""
    items = rng.sample(
        [
            f"groceries at {pick(rng, ('Kroger', 'Aldi', 'Safeway', 'Trader Joes', 'Walmart'))}",
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
        f"{pick(rng, _STATEMENT_BANKS)} "
        f"(account ending {rng.randint(1000, 9999)}) were reviewed. Regular outgoings include "
        f"{list_join(items)}. "
        "Salary credits arrive on the expected dates. There are no gambling transactions and no returned "
        "direct debits in the period reviewed. Balances move within a normal range across the month."
    )


def _pad_contact_log(rng: random.Random, a: Applicant) -> str:
    """Timeline of routine contact with the applicant (uninformative)."""
    d0 = a.app_date
    steps = [
        f"{fmt_date(rng, d0)} - application received via {a.channel}",
        f"{fmt_date(rng, d0 + timedelta(days=1))} - called applicant to confirm employer details; no "
        "answer, voicemail left",
        f"{fmt_date(rng, d0 + timedelta(days=2))} - applicant returned the call and confirmed the details",
        f"{fmt_date(rng, d0 + timedelta(days=4))} - updated payslip requested and received by e-mail",
    ]
    return "Contact log: " + "; ".join(steps) + ". No complaints or vulnerability indicators recorded."


_CR_PADDERS: tuple[Callable[[random.Random, Applicant], str], ...] = (
    _pad_property,
    _pad_references,
    _pad_declaration,
    _pad_employer,
    _pad_vehicle,
    _pad_kyc,
    _pad_statements,
    _pad_contact_log,
)


def _padding(rng: random.Random, a: Applicant, budget: int) -> list[str]:
    """Pick uninformative padding paragraphs that roughly fill ``budget`` words."""
    pads: list[str] = []
    order = [p for p in _CR_PADDERS if p is not _pad_vehicle or a.purpose == "vehicle" or a.collateral == "vehicle"]
    rng.shuffle(order)
    used = 0
    for make in order:
        if used >= budget:
            break
        para = make(rng, a)
        if used + words(para) > budget + 60:
            continue
        pads.append(para)
        used += words(para)
    return pads


def _make_voice(rng: random.Random, a: Applicant, allow_terse: bool) -> Voice:
    """Choose who is writing the narrative, conditioned on the application channel."""
    weights = {
        "online": (("first", 0.58), ("third", 0.32), ("broker", 0.0), ("terse", 0.10)),
        "branch": (("first", 0.25), ("third", 0.63), ("broker", 0.0), ("terse", 0.12)),
        "broker": (("first", 0.08), ("third", 0.30), ("broker", 0.52), ("terse", 0.10)),
    }[a.channel]
    kind = wpick(rng, weights)
    if kind == "terse" and not allow_terse:
        kind = "third"
    return person_voice(rng, kind, f"{courtesy_title(a.gender)} {a.last}", a.gender)


def _render_credit(rng: random.Random, a: Applicant, dti: float, long_form: bool, tail: bool) -> str:
    """Render an applicant into a narrative; returns the text."""
    v = _make_voice(rng, a, allow_terse=not long_form)
    a.purpose_text = pick(rng, CR_PURPOSES[a.purpose]).format(
        pos=v.ctx()["pos"],
        car=pick(rng, CR_CARS),
        car_year=a.app_date.year - rng.randint(8, 16),
        biz=a.business or "family",
    )
    v.mentioned = False
    purpose = cr_purpose(rng, v, a)
    employment = cr_employment(rng, v, a)
    income = cr_income(rng, v, a)
    household = cr_household(rng, v, a) if chance(rng, 0.75) else ""
    housing = cr_housing(rng, v, a) if chance(rng, 0.8) else ""
    debts = cr_debts(rng, v, a) if chance(rng, 0.95) else ""
    history = cr_history(rng, v, a) if chance(rng, 0.96) else ""
    savings = cr_savings(rng, v, a) if chance(rng, 0.55) else ""
    collateral = cr_collateral(rng, v, a) if (a.collateral != "none" or chance(rng, 0.45)) else ""
    event = cr_event(rng, v, a) if chance(rng, 0.96) else ""
    dti_s = cr_dti(rng, v, dti) if chance(rng, 0.2) else ""
    pii = cr_pii(rng, v, a) if chance(rng, 0.33) else ""
    admin = cr_admin(rng, v, a) if chance(rng, 0.5) else ""

    if long_form:
        intro = [purpose, employment]
        if tail:
            # Decisive evidence (income, debts, history, events, collateral) only after the padding.
            decisive = [income, housing, debts, history, event, savings, collateral, dti_s]
            rng.shuffle(decisive)
            heading = pick(
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
            front = intro + ([household] if chance(rng, 0.5) else [])
            back = [heading, *decisive, pii, admin]
            pads = _padding(rng, a, rng.randint(380, 580) - words(join_sentences(front + back)))
            while pads and words(join_sentences(front + pads + back)) > LONG_MAX_WORDS:
                pads.pop()
            return join_sentences(front + pads + back)
        body = [income, household, housing, debts, history, event, savings, collateral, dti_s]
        rng.shuffle(body)
        pads = _padding(rng, a, rng.randint(370, 580) - words(join_sentences(intro + body + [pii, admin])))
        layout = rng.randrange(3)
        while True:
            if layout == 0:
                parts = intro + body + pads
            elif layout == 1:
                parts = intro + pads[:1] + body + pads[1:]
            else:
                parts = intro + body[:4] + pads + body[4:]
            text = join_sentences([*parts, pii, admin])
            if words(text) <= LONG_MAX_WORDS or not pads:
                return text
            pads.pop()

    middle = [employment, income, household, housing, debts, history, event, savings, collateral, dti_s, pii]
    # keep employment before income most of the time; otherwise shuffle freely
    head = middle[:2] if chance(rng, 0.7) else []
    rest = middle[len(head) :]
    rng.shuffle(rest)
    parts = [purpose] + head + rest if chance(rng, 0.85) else head + rest[:2] + [purpose] + rest[2:]
    parts.append(admin)
    text = join_sentences(parts)
    # Keep typical narratives within ~60-160 words by dropping optional bits or adding neutral ones.
    optional = [admin, savings, household, pii, dti_s]
    while words(text) > 160 and optional:
        drop = optional.pop(0)
        if drop:
            parts = [p for p in parts if p is not drop]
            text = join_sentences(parts)
    extras = [cr_admin(rng, v, a), cr_pii(rng, v, a), cr_household(rng, v, a), cr_savings(rng, v, a)]
    while words(text) < 60 and extras:
        parts.append(extras.pop(0))
        text = join_sentences(parts)
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
    applicants = [sample_applicant(rng, rand_date(rng, *DATE_RANGE)) for _ in range(n)]
    scored = [credit_score(a) for a in applicants]
    # "Unobserved" factors: noise the text cannot reveal.
    scores = [s + 0.15 * a.discipline + rng.gauss(0.0, 0.25) for a, (s, _) in zip(applicants, scored, strict=True)]
    target = pre_noise_rate(CREDIT_DEFAULT_RATE, LABEL_NOISE_RATE)
    probs, clean, flipped = draw_labels(rng, scores, target, CREDIT_SCORE_SCALE)
    # The fields' own stream: drawing them leaves the narrative and label stream untouched.
    fields_rng = random.Random(f"finrisk-demo:credit_text:fields:{seed}")
    records: list[DemoRecord] = []
    for i, a in enumerate(applicants):
        long_form = chance(rng, 0.10)
        tail = long_form and chance(rng, 0.5)
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
