"""``python -m tools.demo_data.generate --task credit_text``: narrative sections about the applicant.

Templates for the loan purpose, employment, income, household, housing costs and existing debts, in
the applicant's, an underwriter's, a broker's or terse field-note voice.
"""

from __future__ import annotations

import random
from typing import Any

from .common import Voice, article, cap, chance, join_sentences, list_join, money, num, pick, round_to, say
from .credit_factors import CR_PURPOSE_SHORT, Applicant


def _tenure_phrase(rng: random.Random, months: int) -> str:
    """Human phrasing of a duration given in months (fits after "for")."""
    if months < 12:
        if months <= 1:
            return pick(rng, ("a few weeks", "about a month"))
        return pick(rng, (f"{num(rng, months)} months", f"{months} months", f"about {num(rng, months)} months"))
    if months < 24:
        options = ["just over a year", f"{months} months", "about a year"]
        if 17 <= months <= 20:
            options.append("a year and a half")
        return pick(rng, options)
    years = months // 12
    options = [f"{num(rng, years)} years", f"about {years} years", f"{years}+ years", f"{years} years"]
    if months % 12 >= 9:
        options.append(f"nearly {num(rng, years + 1)} years")
    return pick(rng, options)


def cr_purpose(rng: random.Random, v: Voice, a: Applicant) -> str:
    """Loan purpose and requested amount."""
    purpose = a.purpose_text
    amt = money(rng, a.amount)
    term = a.term
    term_y = f"{term // 12} years" if term % 12 == 0 and term >= 24 else f"{term} months"
    return say(
        rng,
        v,
        first=(
            "I am applying for {amt} over {term} months to {purpose}.",
            "I would like to borrow {amt} to {purpose}, repaid over {term_y}.",
            "I'm looking for a loan of {amt} so that I can {purpose}.",
            "The purpose of this loan ({amt}, {term} months) is to {purpose}.",
            "Requesting {amt} over {term_y} to {purpose}.",
            "I need {amt} to {purpose} and would prefer a {term}-month term.",
        ),
        third=(
            "{Who} requests {amt} over {term} months to {purpose}.",
            "Application for {amt} ({term}-month term) to {purpose}.",
            "{Who} is seeking {amt} in order to {purpose}.",
            "Loan request: {amt}, term {term} months. Purpose: to {purpose}.",
            "{Who} has applied to borrow {amt} over {term_y} to {purpose}.",
            "Request is for {amt} repayable over {term_y}; funds will be used to {purpose}.",
        ),
        terse=("Purpose: {short} ({detail}). Amount {amt}, {term}m.", "Req {amt} / {term}m - {short}."),
        amt=amt,
        term=term,
        term_y=term_y,
        purpose=purpose,
        short=CR_PURPOSE_SHORT[a.purpose],
        detail=purpose.split(" and ")[0],
    )


def cr_employment(rng: random.Random, v: Voice, a: Applicant) -> str:
    """Employment status and tenure."""
    ten = _tenure_phrase(rng, a.tenure_months)
    kw: dict[str, Any] = {
        "occ": a.occupation,
        "a_occ": article(a.occupation),
        "emp": a.employer,
        "ten": ten,
        "biz": a.business,
    }
    if a.emp_type == "salaried":
        return say(
            rng,
            v,
            first=(
                "I have worked as {a_occ} at {emp} for {ten}.",
                "I've been employed by {emp} for {ten} and I'm currently {a_occ}.",
                "I work full time as {a_occ} ({ten} with {emp}).",
                "My job is {occ} at {emp}, where I have been for {ten}.",
                "I've been {a_occ} with {emp} for {ten}, on a permanent contract.",
            ),
            third=(
                "{Who} has been employed as {a_occ} at {emp} for {ten}.",
                "{Who} works full time as {a_occ} with {emp} (tenure {ten}).",
                "Employed {ten} at {emp} as {a_occ}; permanent contract.",
                "Current employment: {occ}, {emp}, {ten}.",
                "{Who} is {a_occ} at {emp} and has been there {ten}.",
            ),
            terse=("Emp: {occ}, {emp}, {ten}.", "Employment - {occ} @ {emp} ({ten}), permanent."),
            **kw,
        )
    if a.emp_type == "self_employed":
        return say(
            rng,
            v,
            first=(
                "I have run my own {biz} business for {ten}.",
                "I am self-employed as {a_occ} and have been trading for {ten}.",
                "I've been working for myself as {a_occ} for {ten}.",
            ),
            third=(
                "{Who} is self-employed, running a {biz} business for {ten}.",
                "Sole trader ({occ}), trading {ten}.",
                "{Who} has operated {pos} own {biz} business for {ten}.",
            ),
            terse=("Emp: self-employed {occ}, trading {ten}.",),
            **kw,
        )
    if a.emp_type == "contract":
        return say(
            rng,
            v,
            first=(
                "I work as {a_occ} through {emp}; my current contract has run for {ten}.",
                "I'm {a_occ} on rolling contracts and have been with the current client for {ten}.",
                "I do {occ} work via {emp} and have been on my current assignment for {ten}.",
            ),
            third=(
                "{Who} is {a_occ} engaged through {emp}; current assignment {ten}.",
                "Works via {emp} as {a_occ} on rolling three-month contracts; current client for {ten}.",
                "Contractor ({occ}) through {emp}, {ten} on the present contract.",
            ),
            terse=("Emp: contract {occ} via {emp}, current assignment {ten}.",),
            **kw,
        )
    if a.emp_type == "retired":
        return say(
            rng,
            v,
            first=(
                "I retired from {emp} a few years ago, where I worked as {a_occ}.",
                "I'm retired; I used to be {a_occ}.",
            ),
            third=("{Who} is retired, formerly {a_occ} at {emp}.", "Retired ({occ}, {emp})."),
            terse=("Emp: retired (ex-{occ}).",),
            **kw,
        )
    return say(
        rng,
        v,
        first=(
            "I am not working at the moment; my role as {a_occ} ended recently.",
            "I'm currently between jobs after working as {a_occ} at {emp}.",
        ),
        third=(
            "{Who} is currently unemployed; previously {a_occ} at {emp}.",
            "Not currently in employment (last role: {occ}, {emp}).",
        ),
        terse=("Emp: unemployed, last role {occ}.",),
        **kw,
    )


def cr_income(rng: random.Random, v: Voice, a: Applicant) -> str:
    """Income statement (annual vs monthly, gross vs net, so ratios need arithmetic)."""
    kw = {
        "annual": money(rng, a.income),
        "gross_m": money(rng, round_to(a.income / 12, 10), compact_ok=False),
        "net_m": money(rng, round_to(a.income * rng.uniform(0.72, 0.8) / 12, 10), compact_ok=False),
        "prev": money(rng, round_to(a.income * rng.uniform(0.85, 1.1), 500)),
    }
    if a.emp_type in ("salaried", "contract"):
        return say(
            rng,
            v,
            first=(
                "My salary is {annual} a year before tax.",
                "I take home about {net_m} a month after tax.",
                "I earn {annual} gross per year.",
                "My gross monthly pay is {gross_m}.",
                "Income is {annual} a year, paid monthly.",
            ),
            third=(
                "Gross annual income {annual}, verified by payslips.",
                "Stated income: {annual} per year.",
                "Net monthly pay approx. {net_m} per bank statements.",
                "Verified gross monthly income of {gross_m}.",
                "{Who} earns {annual} a year.",
                "Income confirmed at {gross_m}/month gross.",
            ),
            terse=("Inc: {annual} gross.", "Inc: {gross_m}/m gross.", "Net pay {net_m}/m."),
            **kw,
        )
    if a.emp_type == "self_employed":
        return say(
            rng,
            v,
            first=(
                "My business made a profit of about {annual} last year, and {prev} the year before.",
                "I draw roughly {gross_m} a month from the business.",
                "Last year's tax return shows net income of {annual}.",
            ),
            third=(
                "Tax returns for the last two years show net profit of {annual} and {prev}.",
                "Declared self-employed income {annual} (latest tax return).",
                "Accountant's letter confirms drawings of about {gross_m} per month.",
            ),
            terse=("Inc: {annual} net profit (SA302), prior yr {prev}.",),
            **kw,
        )
    if a.emp_type == "retired":
        return say(
            rng,
            v,
            first=(
                "My pension and social security come to {gross_m} a month.",
                "I receive {annual} a year in pension income.",
            ),
            third=(
                "Pension income of {gross_m} per month including social security.",
                "Retirement income {annual} p.a.",
            ),
            terse=("Inc: pension {gross_m}/m.",),
            **kw,
        )
    return say(
        rng,
        v,
        first=("At the moment I receive about {gross_m} a month in benefits and severance.",),
        third=("Current income consists of unemployment benefits and severance of about {gross_m} a month.",),
        terse=("Inc: benefits ~{gross_m}/m.",),
        **kw,
    )


def cr_household(rng: random.Random, v: Voice, a: Applicant) -> str:
    """Marital status, dependants and partner income."""
    partner = {"married": "wife" if a.gender == "m" else "husband", "partner": "partner"}.get(a.marital, "partner")
    n = a.dependents
    kids = "no children" if n == 0 else ("one child" if n == 1 else f"{num(rng, n, 0.8)} children")
    kw = {
        "partner": partner,
        "kids": kids,
        "n": n,
        "p_occ": article(a.partner_occ or "homemaker"),
        "p_inc": money(rng, a.partner_income) if a.partner_income else "",
    }
    if a.marital in ("married", "partner"):
        if a.partner_income:
            return say(
                rng,
                v,
                first=(
                    "I live with my {partner}, who works as {p_occ} earning about {p_inc}, and we have {kids}.",
                    "My {partner} also works ({p_inc} a year) and we have {kids}.",
                ),
                third=(
                    "Household: {partner} employed as {p_occ} ({p_inc} p.a.), {kids}.",
                    "{Who} lives with {pos} {partner}, who earns {p_inc}; {kids}.",
                ),
                terse=("HH: {partner} working ({p_inc}), {n} dep.",),
                **kw,
            )
        return say(
            rng,
            v,
            first=(
                "I live with my {partner}, who is not working at present, and we have {kids}.",
                "My {partner} stays at home and we have {kids}.",
            ),
            third=(
                "Lives with {pos} {partner} (not employed) and {kids}.",
                "Single-income household: {partner} not working, {kids}.",
            ),
            terse=("HH: {partner} not working, {n} dep.",),
            **kw,
        )
    if n == 0:
        return say(
            rng,
            v,
            first=("I'm single with no dependants.", "I live alone and have no children.", "No dependants."),
            third=("Single, no dependants.", "{Who} lives alone with no dependants.", "No dependants."),
            terse=("HH: single, 0 dep.",),
            **kw,
        )
    status = {"divorced": "divorced", "widowed": "widowed"}.get(a.marital, "single")
    return say(
        rng,
        v,
        first=(f"I'm a {status} parent with {{kids}}.", "I'm raising {kids} on my own."),
        third=(f"{{Who}} is a {status} parent of {{kids}}.", f"{cap(status)}, {{kids}} living at home."),
        terse=(f"HH: {status}, {{n}} dep.",),
        **kw,
    )


def cr_housing(rng: random.Random, v: Voice, a: Applicant) -> str:
    """Housing situation and cost."""
    cost = money(rng, a.housing_cost, compact_ok=False)
    if a.housing == "rent":
        return say(
            rng,
            v,
            first=(
                "I rent a flat for {cost} a month.",
                "My rent is {cost} per month.",
                "I pay {cost} monthly in rent.",
            ),
            third=(
                "Rents privately at {cost}/month.",
                "Monthly rent of {cost}.",
                "{Who} is a tenant paying {cost} per month.",
            ),
            terse=("Housing: rent {cost}/m.",),
            cost=cost,
        )
    if a.housing == "mortgage":
        return say(
            rng,
            v,
            first=(
                "My mortgage payment is {cost} per month.",
                "I own my home with a mortgage of {cost} a month.",
            ),
            third=(
                "Homeowner; mortgage payment {cost}/month.",
                "Mortgage costs {cost} per month.",
                "{Who} owns {pos} home with a mortgage ({cost} monthly).",
            ),
            terse=("Housing: mortgage {cost}/m.",),
            cost=cost,
        )
    if a.housing == "family":
        return say(
            rng,
            v,
            first=(
                "I live with my parents and contribute {cost} a month toward bills.",
                "I live at home with family, so my housing costs are low.",
            ),
            third=(
                "Lives with family; contributes {cost} a month.",
                "Living with parents, minimal housing costs.",
            ),
            terse=("Housing: with family ({cost}/m board).",),
            cost=cost,
        )
    return say(
        rng,
        v,
        first=("I own my home outright with no mortgage.", "The house is fully paid off."),
        third=("Owns home outright, no mortgage.", "Mortgage-free homeowner."),
        terse=("Housing: owned outright.",),
    )


def cr_debts(rng: random.Random, v: Voice, a: Applicant) -> str:
    """Existing credit commitments (cards, loans, payday loans, support payments)."""
    parts_first: list[str] = []
    parts_third: list[str] = []
    if a.card_balance > 0:
        bal = money(rng, a.card_balance)
        lim = money(rng, a.card_limit)
        util = round(100 * a.card_balance / a.card_limit)
        parts_first.append(pick(rng, (f"about {bal} on credit cards", f"{bal} across my cards (limit {lim})")))
        parts_third.append(
            pick(
                rng,
                (
                    f"card balances of {bal} against limits of {lim}",
                    f"revolving balances {bal} ({util}% utilisation)",
                ),
            )
        )
    if a.car_payment:
        pay = money(rng, a.car_payment, compact_ok=False)
        parts_first.append(f"a car loan at {pay} a month with {a.car_months_left} payments left")
        parts_third.append(
            pick(
                rng,
                (
                    f"a car loan at {pay}/month ({a.car_months_left} months remaining)",
                    f"auto finance {pay} pm",
                ),
            )
        )
    if a.student_payment:
        pay = money(rng, a.student_payment, compact_ok=False)
        parts_first.append(f"a student loan of {pay} a month")
        parts_third.append(f"student loan repayments of {pay}/month")
    if a.other_loan_payment:
        pay = money(rng, a.other_loan_payment, compact_ok=False)
        parts_first.append(f"a personal loan costing {pay} a month")
        parts_third.append(f"an existing personal loan at {pay}/month")
    if a.support_payment:
        pay = money(rng, a.support_payment, compact_ok=False)
        parts_first.append(f"child support of {pay} a month")
        parts_third.append(f"child maintenance of {pay} per month")
    sentences: list[str] = []
    if not parts_first:
        sentences.append(
            say(
                rng,
                v,
                first=(
                    "I don't have any other loans, and I clear my card in full each month.",
                    "Apart from my housing costs I have no other debts.",
                    "I have no other loans or card balances.",
                ),
                third=(
                    "No other credit commitments.",
                    "No existing loans; credit cards cleared monthly.",
                    "Bureau shows no outstanding balances other than housing.",
                ),
                terse=("Debts: nil.",),
            )
        )
    elif v.kind == "first":
        sentences.append(cap("I currently have " + list_join(parts_first) + "."))
    elif v.kind == "terse":
        sentences.append("Debts: " + "; ".join(parts_third) + ".")
    else:
        lead = pick(rng, ("Existing commitments: ", "Current obligations include ", "Bureau shows "))
        sentences.append(lead + list_join(parts_third) + ".")
    if a.payday_loans:
        n = a.payday_loans
        sentences.append(
            say(
                rng,
                v,
                first=(
                    f"I had to take out {num(rng, n)} payday loan{'s' if n > 1 else ''} this year to cover gaps.",
                    f"I've used short-term payday lenders {'once' if n == 1 else num(rng, n) + ' times'} in "
                    "the last six months.",
                ),
                third=(
                    f"{{Who}} has taken {num(rng, n)} payday loan{'s' if n > 1 else ''} in the past six months.",
                    f"Bank statements show {num(rng, n)} payday lender credit{'s' if n > 1 else ''} in the "
                    "last 90 days.",
                ),
                terse=(f"Payday loans: {n} in 6m.",),
            )
        )
    elif chance(rng, 0.12) and v.kind != "first":
        sentences.append(pick(rng, ("No payday lending on file.", "No short-term lending seen on statements.")))
    return join_sentences(sentences)
