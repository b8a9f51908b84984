"""``python -m tools.demo_data.generate --task aml_alert``: sections of an investigator's case note.

Templates for the alert header, KYC profile, activity summary, findings (structuring, layering,
jurisdictions, trade, sanctions), outreach, background, identifiers (fake PII) and a neutral closing
line. No section states the disposition.
"""

from __future__ import annotations

import random
from datetime import timedelta

from .aml_factors import AML_ANALYSTS, AML_BIZ_STEMS, AML_HRJ, AML_RULES, Alert
from .common import (
    Voice,
    article,
    cap,
    chance,
    courtesy_title,
    fmt_date,
    list_join,
    money,
    num,
    person_voice,
    pick,
    round_to,
    say,
)
from .pii import account_number, card_number, fake_email, fake_iban, fake_phone, full_name, random_digits, ssn


def aml_voice(rng: random.Random, a: Alert) -> Voice:
    """Investigator's way of referring to the subject."""
    if a.cust_kind == "business":
        short = a.name.rsplit(" ", 1)[0]
        for suffix in (" Group", " Holdings", " Trading"):
            short = short.removesuffix(suffix)
        aliases = ("the customer", "the company", short, "the business", "the subject")
        return Voice("third", a.name, "it", "its", rng, aliases=aliases)
    title = courtesy_title(a.gender)
    aliases = ("the customer", f"{title} {a.last}", "the subject", f"{title} {a.last}")
    return person_voice(rng, "third", a.name, a.gender, aliases)


def aml_header(rng: random.Random, a: Alert, alert_id: str, case_id: str, acct: str) -> str:
    """Opening line identifying the alert, rule and subject (contains account numbers)."""
    code, label = AML_RULES[a.rule]
    d = fmt_date(rng, a.alert_date)
    return pick(
        rng,
        (
            f"Alert {alert_id} ({label}) generated {d} on account {acct} held by {a.name}.",
            f"Case {case_id} / alert {alert_id}: rule {code} ({label}) fired on {d} for {a.name}, account {acct}.",
            f"Subject: {a.name}, CIF {rng.randint(1000000, 9999999)}. Alert {alert_id} triggered by {code} on {d}.",
            f"Reviewed alert {alert_id} for {a.name} (acct {acct}), generated {d} by the {label} scenario.",
            f"{code} alert {alert_id} dated {d}. Customer: {a.name}. Primary account: {acct}.",
            f"Alert {alert_id} - {label}. Opened {d}. Subject {a.name}, account no. {acct}.",
        ),
    )


def aml_profile(rng: random.Random, v: Voice, a: Alert) -> str:
    """KYC profile: who the customer is, tenure, expected activity, risk rating."""
    since = a.alert_date.year - int(a.tenure_years)
    exp = money(rng, a.expected_monthly)
    if a.cust_kind == "business":
        return say(
            rng,
            v,
            first=(),
            third=(
                "{Who} is {desc} onboarded in {since}; KYC expected activity is about {exp} per month and "
                "the "
                "risk rating is {risk}.",
                "Customer profile: {desc}, relationship since {since}, risk rating {risk}. Expected monthly "
                "turnover at onboarding: {exp}.",
                "KYC describes {who} as {desc} (customer since {since}) with anticipated monthly volumes of "
                "roughly {exp}. Current risk rating: {risk}.",
                "{Who} operates as {desc}. Account opened {since}. Declared monthly turnover {exp}; rated {risk} risk.",
            ),
            desc=article(a.desc),
            since=since,
            exp=exp,
            risk=a.risk,
        )
    return say(
        rng,
        v,
        first=(),
        third=(
            "{Who} is {desc} who has banked with us since {since}; KYC risk rating {risk}. Declared "
            "monthly income "
            "is approximately {exp}.",
            "Customer since {since}, occupation {occ}, risk rating {risk}, expected monthly deposits around {exp}.",
            "KYC on file: {occ}, relationship opened {since}, rated {risk} risk, anticipated activity "
            "about {exp} "
            "a month.",
            "{Who} ({occ}) has held the account since {since}. Expected activity per KYC: {exp} monthly. "
            "Risk "
            "rating {risk}.",
        ),
        desc=article(a.desc),
        occ=a.desc,
        since=since,
        exp=exp,
        risk=a.risk,
    )


def aml_activity(rng: random.Random, v: Voice, a: Alert) -> str:
    """Activity over the review window (ratio to the expected profile left implicit most of the time)."""
    d2 = a.alert_date - timedelta(days=rng.randint(1, 5))
    d1 = d2 - timedelta(days=a.window_days)
    kw = {
        "n": a.window_days,
        "d1": fmt_date(rng, d1),
        "d2": fmt_date(rng, d2),
        "tot": money(rng, a.observed_total),
        "deb": money(rng, round_to(a.observed_total * rng.uniform(0.6, 1.0), 100)),
        "x": f"{a.observed_total / (a.expected_monthly * a.window_days / 30.0):.1f}",
    }
    text = say(
        rng,
        v,
        first=(),
        third=(
            "During the {n}-day review period ({d1} to {d2}) the account received {tot} in credits and "
            "{deb} in debits.",
            "Review window {d1} - {d2} ({n} days): total credits {tot}, total debits {deb}.",
            "Over the last {n} days, credits to the account totalled {tot}.",
            "I reviewed {n} days of activity ending {d2}; incoming funds amounted to {tot}.",
        ),
        **kw,
    )
    if chance(rng, 0.25):
        text += " " + pick(
            rng,
            (
                "That is roughly {x} times the expected volume for the period.",
                "This equates to about {x}x the profiled activity.",
            ),
        ).format(**kw)
    return text


def aml_structuring(rng: random.Random, v: Voice, a: Alert) -> str:
    """Cash deposit findings near the reporting threshold (or their absence)."""
    k = a.struct_k
    if k >= 2:
        amounts = sorted(a.struct_amounts)
        kw = {
            "k": num(rng, k, 0.5),
            "lo": money(rng, amounts[0], compact_ok=False),
            "hi": money(rng, amounts[-1], compact_ok=False),
            "sum": money(rng, sum(amounts)),
            "days": a.struct_days,
            "b": num(rng, a.struct_branches, 0.7),
            "lst": ", ".join(money(rng, x, compact_ok=False) for x in a.struct_amounts[:5]),
            "br": "branch" if a.struct_branches == 1 else "branches",
        }
        templates = [
            "{k} cash deposits between {lo} and {hi} were made over {days} days at {b} {br}, totalling {sum}.",
            "Identified {k} cash deposits in the $8,000-$9,999 range within {days} days (aggregate {sum}).",
            "Cash deposits of {lst} were made on separate days, each below the $10,000 CTR threshold.",
            "Cash activity: {k} deposits just under $10,000 across {b} {br} in {days} days, total {sum}.",
        ]
        if a.struct_k > 0 and not a.bad and chance(rng, 0.5):
            templates = [
                "{k} cash deposits between {lo} and {hi} over {days} days; amounts vary and do not cluster "
                "at the threshold.",
                "{k} cash deposits of {lst} were noted; values are irregular and consistent with takings.",
            ]
        return cap(pick(rng, templates).format(**kw))
    if k == 1:
        amt = money(rng, a.struct_amounts[0], compact_ok=False)
        return pick(
            rng,
            (
                f"One cash deposit of {amt} just under the threshold; no repeated pattern observed.",
                f"A single cash deposit of {amt} was noted; no other deposits near $10,000.",
            ),
        )
    if a.ctr_count:
        return pick(
            rng,
            (
                "Cash deposits exceeded $10,000 "
                f"{'once' if a.ctr_count == 1 else num(rng, a.ctr_count) + ' times'} and "
                "a CTR was filed each time; no deposits cluster below the threshold.",
                f"CTRs filed in the period for cash deposits over $10,000: {a.ctr_count}. No evidence of "
                "threshold "
                "avoidance.",
            ),
        )
    return pick(
        rng,
        (
            "No cash deposits near the CTR threshold.",
            "Cash activity is limited to small deposits and does not approach the reporting threshold.",
            "There were no cash deposits between $8,000 and $10,000 in the review period.",
            "Structuring was considered; cash deposits are infrequent and well below $10,000.",
        ),
    )


def aml_layering(rng: random.Random, v: Voice, a: Alert) -> str:
    """Pass-through / velocity findings."""
    pt = a.passthrough_pct
    kw = {
        "pct": pt,
        "d": num(rng, a.passthrough_days),
        "n": a.n_counterparties,
        "amt": money(rng, round_to(a.observed_total * pt / 100.0, 100)),
    }
    if pt >= 50:
        return pick(
            rng,
            (
                "About {pct}% of incoming funds left the account within {d} days, sent to {n} counterparties.",
                "Funds were received from multiple senders and moved out within {d} days ({pct}% of "
                "credits); {n} "
                "beneficiaries in total.",
                "Rapid in-and-out movement: roughly {amt} ({pct}% of credits) was transferred onward within {d} days.",
                "Balances were drawn down to near zero after each credit; {pct}% of inflows were wired out "
                "within {d} days.",
            ),
        ).format(**kw)
    if pt >= 25:
        return pick(
            rng,
            (
                "Around {pct}% of credits were transferred out in the same month, mostly to {n} recurring payees.",
                "Some onward transfers ({pct}% of credits) but balances were otherwise retained.",
            ),
        ).format(**kw)
    return pick(
        rng,
        (
            "No evidence of rapid in-and-out movement; balances grew steadily over the period.",
            "Funds remained in the account; outgoing payments are routine (rent, payroll, utilities, suppliers).",
            "Velocity is low - most credits were retained and spent gradually.",
            "Layering was considered but there is no pattern of funds passing quickly through the account.",
        ),
    )


def aml_geo(rng: random.Random, v: Voice, a: Alert) -> str:
    """Counterparty jurisdictions (high-risk or benign foreign or none)."""
    if a.hrj:
        kw = {
            "c": list_join(a.hrj),
            "amt": money(rng, a.hrj_amount),
            "iban": fake_iban(rng, pick(rng, ("CY", "AE", "CH"))),
            "benef": pick(
                rng,
                (
                    f"{pick(rng, AML_BIZ_STEMS)} International Ltd",
                    full_name(rng),
                    f"{pick(rng, AML_BIZ_STEMS)} Global FZE",
                ),
            ),
        }
        return pick(
            rng,
            (
                "Outgoing wires totalling {amt} were sent to beneficiaries in {c}.",
                "Incoming and outgoing transfers involving {c} amounted to {amt}.",
                "{amt} was wired to {benef} (IBAN {iban}) with the bank located in {c}.",
                "Counterparties in {c} account for {amt} of the activity reviewed.",
            ),
        ).format(**kw)
    if a.lowrisk_foreign:
        return pick(
            rng,
            (
                f"International payments were limited to suppliers in {list_join(a.lowrisk_foreign)}.",
                f"Some cross-border wires to {list_join(a.lowrisk_foreign)}; no higher-risk jurisdictions involved.",
            ),
        )
    return pick(
        rng,
        (
            "No transactions involving high-risk jurisdictions were identified.",
            "All counterparties are domestic.",
            "No cross-border activity in the review period.",
        ),
    )


def aml_trade(rng: random.Random, v: Voice, a: Alert) -> str:
    """Trade finance findings: unit price vs market, goods description, third-party payments."""
    if a.goods is None:
        return ""
    goods, unit, mkt = a.goods
    price = mkt * (1.0 + a.trade_mismatch)
    kw = {
        "qty": f"{a.trade_qty:,}",
        "goods": goods,
        "unit": unit,
        "price": money(rng, round(price, 2), compact_ok=False),
        "mkt": money(rng, round(mkt, 2), compact_ok=False),
        "inv": money(rng, round_to(price * a.trade_qty, 100)),
    }
    out = [
        pick(
            rng,
            (
                "Invoice for {qty} {unit}s of {goods} at {price} per {unit} (total {inv}); market "
                "reference is about {mkt} per {unit}.",
                "Shipment of {goods} invoiced at {price}/{unit} against a benchmark of roughly "
                "{mkt}/{unit}; invoice value {inv}.",
                "Trade documents show {qty} {unit}s of {goods} billed at {price} each; comparable market "
                "price around {mkt}.",
            ),
        ).format(**kw)
    ]
    if a.vague_goods:
        out.append(
            pick(
                rng,
                (
                    "The bill of lading describes the cargo only as 'general merchandise'.",
                    "Goods description on the documents is vague ('assorted items').",
                ),
            )
        )
    if a.third_party:
        out.append(
            pick(
                rng,
                (
                    f"Payment came from a third party in {pick(rng, AML_HRJ)} that is not named on the invoice.",
                    "The buyer did not pay directly; funds arrived from an unrelated company.",
                ),
            )
        )
    if a.transship:
        out.append(f"Goods were routed via {a.transship} before the final destination.")
    return " ".join(out)


def aml_sanctions(rng: random.Random, v: Voice, a: Alert) -> str:
    """Sanctions screening outcome."""
    if not a.sanc_hit:
        return ""
    kw = {"score": a.sanc_score, "ent": a.sanc_entity}
    if a.sanc_fp:
        return pick(
            rng,
            (
                "Name screening returned a {score}% match to the SDN entry '{ent}'; date of birth, "
                "nationality and "
                "address differ from the listed party. Confirmed false positive.",
                "Screening hit on '{ent}' ({score}% similarity) was reviewed; identifiers do not match and "
                "the hit is "
                "discounted.",
                "Potential match to '{ent}' ({score}%) cleared after comparing passport details and DOB.",
            ),
        ).format(**kw)
    return pick(
        rng,
        (
            "Screening matched a counterparty to the SDN entry '{ent}' with {score}% similarity; DOB and "
            "nationality "
            "also match.",
            "A beneficiary shares name, date of birth and address with the listed party '{ent}' ({score}% match).",
            "The vessel named in the shipping documents is linked to '{ent}', which appears on the OFAC list.",
        ),
    ).format(**kw)


def aml_outreach(rng: random.Random, v: Voice, a: Alert) -> str:
    """Customer outreach / RFI outcome with the stated rationale."""
    when = fmt_date(rng, a.alert_date + timedelta(days=rng.randint(3, 20)))
    kw = {"when": when, "why": a.rationale, "docs": a.docs}
    t = {
        "consistent": (
            "RFI sent {when}; {who} provided {docs} showing the funds relate to {why}, which is consistent "
            "with the "
            "activity observed.",
            "Outreach via the relationship manager on {when}: the activity relates to {why}; we reviewed "
            "{docs}, "
            "which support the explanation.",
            "{Who} explained the activity as {why} and supplied {docs}; amounts and dates reconcile.",
        ),
        "partial": (
            "{Who} attributed the activity to {why} but supplied only part of the documentation requested ({docs}).",
            "RFI response ({when}) cites {why}; documentation received covers only some of the transactions.",
        ),
        "unsupported": (
            "{Who} stated the funds were from {why}; however, the documents provided ({docs}) do not match "
            "the "
            "amounts or dates observed.",
            "Explanation given ({why}) is not supported by the documents received on {when}.",
        ),
        "no_response": (
            "RFI issued {when}; no response received after two follow-ups.",
            "{Who} declined to explain the source of funds when contacted on {when}.",
            "Attempts to reach {who} by phone and letter since {when} have been unsuccessful.",
        ),
        "not_requested": (
            "No customer outreach was conducted for this review.",
            "Customer was not contacted; the review relied on internal records.",
        ),
    }[a.explanation]
    return say(rng, v, first=(), third=t, **kw)


def aml_background(rng: random.Random, v: Voice, a: Alert) -> list[str]:
    """Adverse media, prior alerts / SARs and PEP status."""
    out: list[str] = []
    year = a.alert_date.year - rng.randint(1, 6)
    if a.adverse == "relevant":
        crime = pick(
            rng,
            (
                "procurement fraud",
                "tax evasion",
                "an investment scam",
                "drug trafficking",
                "bribery of a public official",
                "smuggling of counterfeit goods",
            ),
        )
        out.append(
            pick(
                rng,
                (
                    f"Adverse media: a {year} article reports the subject is under investigation for {crime}.",
                    f"Negative news search found coverage linking the subject to {crime} ({year}).",
                ),
            )
        )
    elif a.adverse == "minor":
        out.append(
            pick(
                rng,
                (
                    f"Adverse media search found a {year} local news item about a civil dispute with a "
                    "former landlord; not "
                    "financial-crime related.",
                    f"A {year} article mentions a traffic offence; not relevant to financial crime.",
                ),
            )
        )
    elif chance(rng, 0.6):
        out.append(
            pick(
                rng,
                (
                    "Negative news screening returned no relevant hits.",
                    "No adverse media identified.",
                    "Adverse media checks were negative.",
                ),
            )
        )
    if a.prior_sar_year:
        out.append(
            pick(
                rng,
                (
                    f"A SAR was previously filed on this customer in {a.prior_sar_year}.",
                    f"Prior SAR on file ({a.prior_sar_year}).",
                ),
            )
        )
    if a.prior_alerts:
        out.append(
            pick(
                rng,
                (
                    f"{cap(num(rng, a.prior_alerts))} prior alert{'s' if a.prior_alerts > 1 else ''} in "
                    "the last two years.",
                    f"Alert history: {a.prior_alerts} previous alert{'s' if a.prior_alerts > 1 else ''} reviewed.",
                ),
            )
        )
    elif not a.prior_sar_year and chance(rng, 0.5):
        out.append(pick(rng, ("No prior alerts or SARs.", "No previous alerts on this customer.")))
    if a.pep:
        out.append(
            pick(
                rng,
                (
                    "Customer is a domestic PEP (municipal councillor).",
                    "Beneficial owner is a close associate of a foreign PEP.",
                ),
            )
        )
    return out


def aml_pii(rng: random.Random, a: Alert) -> str:
    """Customer identifiers and contact details (fake PII)."""
    email = fake_email(rng, a.first, a.last)
    options = [
        f"Customer contact on file: {fake_phone(rng)}, {email}.",
        f"Linked accounts: {account_number(rng)} and {account_number(rng)}.",
        f"SSN {ssn(rng)} matches the CIP record."
        if a.cust_kind == "individual"
        else f"EIN {rng.randint(10, 99)}-{random_digits(rng, 7)}; authorised signer {a.first} {a.last}.",
        f"Debit card {card_number(rng)} used for the ATM cash activity.",
        f"Incoming wires originated from IBAN {fake_iban(rng)}.",
        f"RM reached the customer at {fake_phone(rng)}.",
    ]
    return pick(rng, options)


def aml_closing(rng: random.Random, a: Alert, case_id: str) -> str:
    """Neutral administrative closing line (never states the disposition)."""
    d = fmt_date(rng, a.alert_date + timedelta(days=rng.randint(10, 40)))
    return pick(
        rng,
        (
            f"Supporting documents saved to case {case_id}.",
            f"Analyst: {pick(rng, AML_ANALYSTS)}. Review completed {d}.",
            "Transaction detail exported to the case workbook.",
            f"Narrative drafted {d}; pending QA.",
            "Screenshots of the statements and screening results attached.",
        ),
    )
