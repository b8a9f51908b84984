"""``python -m tools.demo_data.generate --task credit_text``: narrative sections about the track record.

Templates for repayment history, savings, collateral, recent life events, the debt-to-income note,
contact details (fake PII) and neutral administrative closing lines.
"""

from __future__ import annotations

import random
from typing import Any

from .common import Voice, add_months, cap, chance, fmt_date, join_sentences, money, num, pick, say
from .credit_factors import CR_EMPLOYERS, Applicant
from .pii import account_number, birth_date, card_number, fake_email, fake_iban, fake_phone, routing_number, ssn


def cr_history(rng: random.Random, v: Voice, a: Applicant) -> str:
    """Repayment history with negations, severities and older / cured delinquencies."""
    n = a.missed_recent
    y = a.credit_years
    yr = a.app_date.year
    sentences: list[str] = []
    if n == 0:
        years = max(2, min(y, 10))
        sentences.append(
            say(
                rng,
                v,
                first=(
                    "I have never missed a payment on any account.",
                    "My credit report shows no missed payments in the last {years} years.",
                    "I've always paid on time.",
                    "I have not been late on a single payment since I opened my first card.",
                ),
                third=(
                    "No missed payments in {years} years.",
                    "Bureau file is clean: no delinquencies and no collections.",
                    "{Who} has a clean repayment record across {y} years of credit history.",
                    "Credit report reviewed - no late payments recorded.",
                    "Not a single missed payment on file.",
                    "Payment history is up to date on all accounts; no arrears.",
                ),
                terse=("Bureau: clean, 0 lates.", "Bureau: no arrears / no CCJs."),
                years=num(rng, years),
                y=y,
            )
        )
    elif n == 1:
        when = fmt_date(rng, add_months(a.app_date, -rng.randint(3, 22)), coarse=True)
        sentences.append(
            say(
                rng,
                v,
                first=(
                    "I missed one payment in {when} when my direct debit failed after I changed banks; "
                    "otherwise I've always paid on time.",
                    "Apart from one late payment in {when}, I have never missed a payment.",
                    "There's a single 30-day late on my card from {when}.",
                ),
                third=(
                    "One 30-day late on a credit card in {when}, otherwise clean.",
                    "Single late payment ({when}), reportedly an admin error; no other arrears.",
                    "Bureau shows one missed payment in the last two years ({when}).",
                ),
                terse=("Bureau: 1x30d late ({when}).",),
                when=when,
            )
        )
    else:
        months_ago = rng.randint(1, 10)
        acct = pick(rng, ("credit card", "car loan", "phone contract", "personal loan", "store card"))
        sentences.append(
            say(
                rng,
                v,
                first=(
                    "I missed {n} payments on my {acct} over the past year.",
                    "I fell behind {n} times on my {acct} in the last two years; the most recent was {m} months ago.",
                    "To be honest I have missed {n} payments recently, mostly on the {acct}.",
                    "I have been late with {n} payments over the last 24 months.",
                ),
                third=(
                    "Missed {n} payments on {pos} {acct} in the past year.",
                    "Bureau shows {n} late payments in the last 24 months, the most recent {m} months ago "
                    "(worst status {late} days).",
                    "{Who} was late on {n} {acct} payments over the last two years.",
                    "Delinquencies: {n} missed payments, worst {late} days past due.",
                    "{n_cap} late payments recorded in the past 24 months.",
                ),
                terse=("Bureau: {n_d}x late in 24m, worst {late}d.",),
                n=num(rng, n, 0.6),
                n_d=n,
                n_cap=cap(num(rng, n, 0.6)),
                m=num(rng, months_ago),
                acct=acct,
                late=a.worst_late,
            )
        )
        if a.worst_late >= 60 and chance(rng, 0.5):
            sentences.append(
                pick(
                    rng,
                    (
                        "One account was passed to a collection agency.",
                        f"The {acct} is currently {a.worst_late} days past due.",
                        "A default notice was issued on one account last quarter.",
                    ),
                )
            )
    if a.older_lates and chance(rng, 0.75):
        old_year = yr - rng.randint(3, 7)
        sentences.append(
            say(
                rng,
                v,
                first=(
                    "Years ago, around {oy}, I had {k} late {pl} while I was a student, but that is long resolved.",
                    "I had some late payments back in {oy}, since cured.",
                ),
                third=(
                    "Older history shows {k} late {pl} around {oy}, since cured.",
                    "{k_cap} historic late {pl} from {oy}; none since then.",
                ),
                terse=("Historic: {k_d}x late {oy}.",),
                oy=old_year,
                k=num(rng, a.older_lates),
                k_cap=cap(num(rng, a.older_lates)),
                k_d=a.older_lates,
                pl="payment" if a.older_lates == 1 else "payments",
            )
        )
    if a.derog:
        dy = a.derog_year
        text = {
            "default": (
                "I defaulted on a personal loan in {dy} and settled it for less than the full balance.",
                "Defaulted on a personal loan in {dy}; settled at a discount in {dy2}.",
            ),
            "chargeoff": (
                "A credit card was charged off in {dy}; it still shows on my report.",
                "Charge-off from {dy} still on file.",
            ),
            "bankruptcy": (
                "I filed for bankruptcy in {dy} and was discharged the following year.",
                "Chapter 7 bankruptcy filed {dy}, discharged {dy2}.",
            ),
        }[a.derog]
        sentences.append(say(rng, v, first=(text[0],), third=(text[1],), dy=dy, dy2=dy + 1))
    elif n > 0 and chance(rng, 0.3) and v.kind != "first":
        sentences.append(pick(rng, ("No defaults or judgments on file.", "No CCJs, defaults or bankruptcies.")))
    return join_sentences(sentences)


def cr_savings(rng: random.Random, v: Voice, a: Applicant) -> str:
    """Liquid savings."""
    if a.savings <= 0:
        return say(
            rng,
            v,
            first=(
                "I don't have much in savings at the moment.",
                "I have no savings to fall back on right now.",
            ),
            third=(
                "No meaningful savings.",
                "No liquid reserves identified on statements.",
                "Savings: none declared.",
            ),
            terse=("Savings: nil.",),
        )
    bank = pick(
        rng,
        ("a high-yield savings account", "the credit union", "an ISA", "a money market account", "a 401(k)"),
    )
    return say(
        rng,
        v,
        first=(
            "I have about {sav} put aside in {bank}.",
            "My savings are around {sav}.",
            "I keep an emergency fund of {sav}.",
        ),
        third=(
            "Savings of {sav} held in {bank}.",
            "Liquid reserves approx. {sav}.",
            "Statements show {sav} in savings.",
        ),
        terse=("Savings: {sav}.",),
        sav=money(rng, a.savings),
        bank=bank,
    )


def cr_collateral(rng: random.Random, v: Voice, a: Applicant) -> str:
    """Security offered for the loan."""
    if a.collateral == "none":
        return say(
            rng,
            v,
            first=("I'm not offering any security for this loan.", "This would be an unsecured loan."),
            third=("Unsecured request; no collateral offered.", "No security offered.", "Unsecured."),
            terse=("Security: none.",),
        )
    if a.collateral == "property":
        kw = {"val": money(rng, a.collateral_value), "owed": money(rng, a.collateral_owed)}
        if a.collateral_owed:
            return say(
                rng,
                v,
                first=(
                    "I can secure the loan on my home, which is valued at about {val}; the remaining "
                    "mortgage is {owed}.",
                ),
                third=(
                    "To be secured by a second charge on the home (valued {val}, mortgage balance {owed}).",
                    "Security: property valued at {val} with {owed} outstanding on the first mortgage.",
                ),
                terse=("Security: 2nd charge, val {val}, 1st mtg {owed}.",),
                **kw,
            )
        return say(
            rng,
            v,
            first=("The loan can be secured on my home, valued at roughly {val} and mortgage-free.",),
            third=("Secured on the unencumbered family home (valuation {val}).",),
            terse=("Security: 1st charge, val {val}, unencumbered.",),
            **kw,
        )
    if a.collateral == "vehicle":
        return say(
            rng,
            v,
            first=("The loan would be secured on the vehicle, worth about {val}.",),
            third=(
                "Secured against the vehicle (estimated value {val}).",
                "Vehicle to be held as security, value approx. {val}.",
            ),
            terse=("Security: vehicle, {val}.",),
            val=money(rng, a.collateral_value),
        )
    if a.collateral == "savings":
        return say(
            rng,
            v,
            first=("I'm happy to pledge {val} of my savings as security.",),
            third=(
                "Cash collateral: {val} deposit to be pledged.",
                "{Who} offers a savings pledge of {val}.",
            ),
            terse=("Security: cash pledge {val}.",),
            val=money(rng, a.collateral_value),
        )
    return say(
        rng,
        v,
        first=("My {g} has agreed to act as guarantor; they own their home and have a stable income.",),
        third=(
            "{Pos} {g} has agreed to guarantee the loan and is a homeowner in steady employment.",
            "Guarantor offered ({g}), income and property verified.",
        ),
        terse=("Security: guarantor ({g}).",),
        g=a.guarantor,
    )


def cr_event(rng: random.Random, v: Voice, a: Applicant) -> str:
    """Recent life event, often with mitigating or aggravating context."""
    ev = a.event
    when = fmt_date(rng, a.event_date, coarse=True)
    kw: dict[str, Any] = {
        "when": when,
        "prev": money(rng, a.prev_income),
        "now": money(rng, a.income),
        "k": num(rng, max(1, (a.app_date - a.event_date).days // 30 - a.tenure_months)),
        "pct": round(100 * (1 - a.income / a.prev_income)) if a.prev_income else 0,
        "amt": money(rng, a.event_amount) if a.event_amount else "",
        "pay": money(rng, a.event_payment, compact_ok=False) if a.event_payment else "",
        "old_emp": pick(rng, CR_EMPLOYERS),
        "sup": money(rng, a.support_payment, compact_ok=False) if a.support_payment else "",
    }
    templates: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
        "job_loss_higher": (
            (
                "I was laid off in {when} when {old_emp} restructured, but found my current job {k} months "
                "later and now earn more than before.",
                "I lost my job in {when}; I was re-employed within {k} months at a higher salary ({now} vs "
                "{prev} previously).",
            ),
            (
                "Job loss in {when} (redundancy at {old_emp}); re-employed within {k} months at a higher salary.",
                "Made redundant {when}, since re-employed on {now}, up from {prev}.",
                "Brief gap in employment after a layoff in {when}; current role pays more than the previous one.",
            ),
        ),
        "job_loss_lower": (
            (
                "I was made redundant in {when} and the job I found afterwards pays less - about {now} "
                "compared with {prev} before.",
                "After losing my job in {when} I took a lower-paid role to keep money coming in.",
            ),
            (
                "Redundancy in {when}; current role pays {now} versus {prev} previously (down about {pct}%).",
                "Laid off {when}; re-employed at a lower salary, income down roughly {pct}%.",
            ),
        ),
        "unemployed": (
            (
                "I lost my job in {when} and I'm still looking for work.",
                "Since being let go in {when} I have been applying for roles but have not started anything yet.",
            ),
            ("Job loss in {when}; not yet re-employed.", "Unemployed since {when}; actively job seeking."),
        ),
        "new_job": (
            ("I only started my current job in {when} after a period out of work, so I'm still on probation.",),
            (
                "Started current role {when} after a gap in employment; still within probation.",
                "New job as of {when}; probation ends in a few months.",
            ),
        ),
        "medical_paid": (
            (
                "I had large medical bills after an operation in {when}, but they are now fully paid off.",
                "Hospital bills of about {amt} from {when} have been cleared in full.",
            ),
            (
                "Medical bills of {amt} incurred in {when}; paid in full.",
                "Prior medical expenses ({when}) settled; nothing outstanding.",
            ),
        ),
        "medical_plan": (
            ("I'm repaying about {amt} of hospital bills from {when} on a payment plan at {pay} a month.",),
            (
                "Medical debt of {amt} ({when}) on a payment plan of {pay}/month, up to date.",
                "Repaying hospital bills under an arrangement, {pay} per month.",
            ),
        ),
        "medical_collections": (
            ("There is an unpaid medical bill of about {amt} from {when} that has gone to collections.",),
            (
                "Outstanding medical debt of {amt} in collections since {when}.",
                "Medical collection account ({amt}) unpaid.",
            ),
        ),
        "promotion": (
            (
                "I was promoted in {when} and my salary went up from {prev} to {now}.",
                "I got a promotion in {when} with a pay rise.",
            ),
            (
                "Promoted {when}; salary increased from {prev} to {now}.",
                "Recent promotion ({when}) with a pay increase.",
            ),
        ),
        "business_expansion": (
            (
                "I opened a second site in {when}, investing about {amt}; revenue is up but margins are "
                "thinner while it ramps up.",
                "The business expanded in {when} and took on two staff.",
            ),
            (
                "Business expanded in {when} (investment approx. {amt}); revenue up year on year, margins "
                "compressed during ramp-up.",
                "Took on new premises and staff in {when}; expansion partly self-funded.",
            ),
        ),
        "divorce": (
            (
                "I went through a divorce in {when}, which has put pressure on my finances.",
                "Since my divorce in {when} I have been running the household on one income.",
            ),
            (
                "Divorced {when}; now a single-income household.",
                "Recent divorce ({when}) with associated legal costs.",
            ),
        ),
        "new_child": (
            ("We had a baby in {when} and my partner is on parental leave.",),
            ("New baby in {when}; household income temporarily reduced during parental leave.",),
        ),
        "inheritance": (
            ("I received an inheritance of around {amt} in {when}.",),
            ("Received an inheritance of {amt} in {when}, part held in savings.",),
        ),
        "relocation": (
            ("I relocated for work in {when}.",),
            ("Relocated in {when} for the current role.",),
        ),
        "reduced_hours": (
            ("My employer cut my hours in {when}, so my pay dropped from {prev} to {now}.",),
            (
                "Hours reduced in {when}; income down from {prev} to {now}.",
                "Moved to a four-day week in {when}, income down about {pct}%.",
            ),
        ),
    }
    if ev not in templates:
        return ""
    first_t, third_t = templates[ev]
    return say(rng, v, first=first_t, third=third_t, **kw)


def cr_dti(rng: random.Random, v: Voice, dti: float) -> str:
    """Explicit debt-to-income statement (underwriter notes only)."""
    if v.kind == "first":
        return ""
    pct = round(100 * dti)
    return pick(
        rng,
        (
            f"Post-loan DTI calculated at {pct}%.",
            f"DTI including the new payment: {pct}%.",
            f"Affordability: DTI {pct}% after the proposed loan.",
        ),
    )


def cr_pii(rng: random.Random, v: Voice, a: Applicant) -> str:
    """Contact / identity details containing fake PII."""
    email = fake_email(rng, a.first, a.last)
    options_first = (
        f"You can reach me at {email} or on {fake_phone(rng)}.",
        f"My phone number is {fake_phone(rng)}.",
        f"Please send the paperwork to {email}.",
        f"My salary is paid into IBAN {fake_iban(rng)}.",
        f"Repayments can come from my checking account {account_number(rng)} (routing {routing_number(rng)}).",
        f"My SSN is {ssn(rng)} if you need it for the credit check.",
        f"I'd like the arrangement fee charged to my card {card_number(rng)}.",
    )
    options_third = (
        f"Contact: {email}, {fake_phone(rng)}.",
        f"Mobile {fake_phone(rng)}; e-mail {email}.",
        f"Salary credited to IBAN {fake_iban(rng)}.",
        f"Direct debit to be set up from account {account_number(rng)}, routing {routing_number(rng)}.",
        f"SSN {ssn(rng)} verified against photo ID.",
        f"Card on file for the arrangement fee: {card_number(rng)}.",
        f"Applicant: {a.first} {a.last}, DOB "
        f"{fmt_date(rng, birth_date(rng, a.app_date.year, a.age))}, SSN "
        f"{ssn(rng)}.",
    )
    return pick(rng, options_first if v.kind == "first" else options_third)


def cr_admin(rng: random.Random, v: Voice, a: Applicant) -> str:
    """Neutral administrative closing sentence."""
    when = fmt_date(rng, a.app_date)
    if v.kind == "first":
        return pick(
            rng,
            (
                "Thank you for considering my application.",
                "I can provide further documents if needed.",
                "I'd appreciate a decision as soon as possible.",
                f"I submitted the supporting documents online on {when}.",
                "Happy to answer any questions.",
            ),
        )
    if v.kind == "broker":
        return pick(
            rng,
            (
                "Happy to provide anything further the underwriter needs.",
                "Client is keen to proceed quickly.",
                f"Submitted via broker portal on {when}.",
                "Full fact-find attached.",
            ),
        )
    return pick(
        rng,
        (
            f"Application received {when} via {a.channel}.",
            "Documents on file: photo ID, proof of address, three months' bank statements.",
            "File complete; passed for credit decision.",
            f"Payslips and bank statements reviewed {when}.",
            "Affordability assessment completed per lending policy.",
        ),
    )
