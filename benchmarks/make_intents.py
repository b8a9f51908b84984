"""A many-class benchmark table: short retail-banking customer messages, 36 intents, 5,000 rows (not the demo data).

    python benchmarks/make_intents.py --out /tmp/intents/bank_intents.jsonl            # 5,000 rows, seed 0
    python benchmarks/quality.py --data-dir /tmp/intents --label-column intent --methods tfidf,lora,lora-2ep

Each message is written from one intent's own phrasings (several per intent, with slots: amounts, merchants,
dates, channels, products) inside shared openers, context and closers, with casing, punctuation and typo noise.
Related intents share vocabulary on purpose (lost / stolen / damaged card; pending / failed / limit of a
transfer; several fee and dispute intents), so the classes are not separable by one keyword, and 3% of labels
are replaced by a random intent, as real triage labels are noisy. Columns: ``id``, ``text``, ``intent``.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from finrisk_nlp.provenance import write_text_atomic

INTENTS: dict[str, list[str]] = {
    "card_lost": ["I lost my {card} card somewhere {place}", "can't find my {card} card since {day}",
                  "my {card} card went missing, please block it", "misplaced my card {place}, need it frozen"],
    "card_stolen": ["my wallet was stolen {place} with my {card} card in it", "someone stole my {card} card {day}",
                    "card was taken from my bag {place}, block it now", "my purse got snatched and the card too"],
    "card_damaged": ["my {card} card is cracked and the chip stopped working", "the card is bent and won't read",
                     "chip on my {card} card is damaged, need a replacement", "card snapped in half {day}"],
    "card_declined": ["my {card} card was declined at {merchant} for {amount}", "payment of {amount} got refused "
                      "at {merchant}", "why does my card keep getting declined", "card declined {day} at {merchant}"],
    "card_not_arrived": ["ordered a new {card} card {ago} and it still hasn't arrived", "replacement card never "
                         "came in the post", "where is my new card, it's been {ago}", "still waiting for my card"],
    "card_activation": ["how do I activate my new {card} card", "the activation code for my card doesn't work",
                        "can't activate the card in the app", "need help activating the card I got {day}"],
    "pin_reset": ["forgot my PIN for the {card} card", "need to reset my PIN", "my PIN is blocked after three "
                  "wrong tries", "how can I change the PIN on my card"],
    "atm_cash_not_dispensed": ["the ATM took my card and didn't give me the {amount}", "ATM charged me {amount} "
                               "but no cash came out", "withdrew {amount} at the machine {place}, got nothing",
                               "cash machine debited me but dispensed no money"],
    "atm_card_retained": ["the cash machine swallowed my card {place}", "ATM kept my card {day}", "my card got "
                          "stuck in the ATM and never came back", "machine retained my {card} card"],
    "dispute_charge": ["I don't recognise a charge of {amount} from {merchant}", "there is a payment to {merchant} "
                       "I never made", "unknown transaction of {amount} on my statement", "someone used my card "
                       "at {merchant}"],
    "refund_not_received": ["{merchant} said they refunded {amount} {ago} but it isn't in my account",
                            "still waiting on a refund from {merchant}", "refund of {amount} never showed up",
                            "merchant refund missing since {day}"],
    "duplicate_charge": ["{merchant} charged me twice for {amount}", "I was billed two times for the same "
                         "purchase", "double payment of {amount} at {merchant}", "same transaction appears twice"],
    "transfer_pending": ["my transfer of {amount} to {person} is still pending", "payment to {person} has been "
                         "processing since {day}", "why is my transfer stuck on pending", "sent {amount} {ago}, "
                         "still shows in progress"],
    "transfer_failed": ["my transfer to {person} failed and the {amount} came back", "payment to {person} was "
                        "rejected", "transfer of {amount} bounced", "bank transfer failed with an error {day}"],
    "transfer_limit": ["what is the maximum I can transfer in one day", "I need to send {amount} but hit the "
                       "transfer limit", "can you raise my daily transfer limit", "limit stops me paying {person}"],
    "wrong_recipient": ["I sent {amount} to the wrong account by mistake", "paid {person} instead of someone "
                        "else, can I get it back", "typed the wrong account number for {amount}", "money went "
                        "to the wrong person {day}"],
    "international_transfer": ["how do I send {amount} abroad to {country}", "fees for a transfer to {country}",
                               "what exchange rate do you use for {country}", "need the SWIFT details for a "
                               "payment to {country}"],
    "direct_debit_cancel": ["please cancel the direct debit to {merchant}", "stop the monthly payment to "
                            "{merchant}", "I want to cancel a standing order", "remove the direct debit {day}"],
    "exchange_rate_query": ["what rate will I get changing {amount} to {currency}", "why was the {currency} "
                            "exchange rate so bad", "conversion fee on my {currency} payment", "rate for "
                            "{currency} today"],
    "account_balance": ["what is my current balance", "how much money is in my {account} account", "check the "
                        "balance of my {account}", "balance looks wrong after {day}"],
    "statement_request": ["I need a statement for {month}", "can you send my {account} statements for the last "
                          "year", "where can I download bank statements", "need a stamped statement for my "
                          "landlord"],
    "account_closure": ["I want to close my {account} account", "please close the account and send the balance "
                        "to {person}", "how do I shut my account", "closing my {account}, moving banks"],
    "open_account": ["I'd like to open a {account} account", "how do I open an account for my child", "what do "
                     "I need to open a new {account}", "apply for a joint {account} account"],
    "change_address": ["I moved, need to update my address", "change the address on my account to {place_name}",
                       "new home address, how do I update it", "update postal address before my card is sent"],
    "change_phone": ["update the phone number on my account", "I have a new mobile number", "change my contact "
                     "number for the one-time codes", "new phone, codes still go to the old number"],
    "login_problem": ["I can't log in to the app", "my online banking password isn't working", "locked out of "
                      "internet banking {day}", "app keeps saying my login details are wrong"],
    "app_error": ["the app crashes every time I open it", "mobile app shows an error when I pay {person}",
                  "app stuck loading since the update", "the app won't load my {account} account"],
    "overdraft_request": ["can I get an overdraft of {amount}", "increase my arranged overdraft", "how much "
                          "overdraft can I have on my {account}", "need an overdraft until payday"],
    "overdraft_fee": ["why was I charged an overdraft fee", "I was charged {fee} for going overdrawn", "unfair "
                      "overdraft charges this month", "refund the overdraft interest of {fee}"],
    "monthly_fee": ["why am I paying a monthly account fee of {fee}", "charged {fee} maintenance fee on my "
                    "{account}", "what is this {fee} account fee", "remove the monthly fee on my account"],
    "loan_application": ["I want to apply for a personal loan of {amount}", "can I borrow {amount} for a car",
                         "what rate would I get on a {amount} loan", "how long does a loan decision take"],
    "loan_repayment": ["I want to pay off my loan early", "how much is left on my loan", "can I make an extra "
                       "repayment of {amount} on the loan", "change my loan repayment date"],
    "mortgage_query": ["what mortgage rate can I get", "my fixed rate ends in {month}, what are my options",
                       "how much could I borrow for a mortgage", "remortgage query for my {place_name} flat"],
    "payment_holiday": ["I lost my job, can I pause my loan payments", "need a payment holiday on my mortgage",
                        "struggling to pay this month, can I defer", "can I skip a repayment in {month}"],
    "fraud_scam_report": ["I think I was scammed into sending {amount} to {person}", "got a call from someone "
                          "pretending to be the bank and paid {amount}", "fake text from the bank, I clicked the "
                          "link", "an investment scam took {amount}"],
    "savings_interest": ["what interest does my {account} account pay", "when is interest paid on my savings",
                         "interest rate on the {account} went down", "how much interest did I earn in {month}"],
}

OPENERS = ["", "", "", "hi, ", "hello, ", "hi there. ", "good morning, ", "hey - ", "urgent: ", "quick question, ",
           "sorry to bother you, ", "dear bank, "]
CONTEXT = ["", "", "", "", " - this is the second time", " and I need it sorted today", " on my {account} account",
           ", I'm travelling", ", my name is {first}", " (customer since {year})", ", tried the app already",
           " and the chat bot didn't help"]
CLOSERS = ["", "", "", ".", ". thanks", "!", ". please help", "?", ". thank you", ". please call me back",
           " asap", ". regards, {first}"]
SLOTS = {
    "card": ["debit", "credit", "visa", "mastercard", "business", "contactless", "virtual"],
    "place": ["at the station", "on the bus", "in town", "at the airport", "at a bar last night", "on holiday",
              "at the gym", "in a taxi"],
    "day": ["yesterday", "today", "this morning", "on Monday", "last Friday", "on the 3rd", "at the weekend"],
    "ago": ["two weeks ago", "10 days ago", "a month ago", "last week", "3 weeks back"],
    "merchant": ["Amazon", "Tesco", "Uber", "Netflix", "Shell", "Ryanair", "Spotify", "eBay", "Lidl", "Apple",
                 "Deliveroo", "IKEA", "a petrol station", "an online shop"],
    "amount": ["£20", "£45.99", "$120", "€300", "£1,250", "250 pounds", "£80", "$2,000", "£9.99", "€64"],
    "fee": ["£5", "£12", "£25", "$15", "£3.50", "£30"],
    "person": ["my landlord", "my brother", "a friend", "the builder", "my mum", "a seller", "John", "my savings"],
    "country": ["Spain", "India", "the US", "Poland", "Nigeria", "Australia", "Germany", "the Philippines"],
    "currency": ["euros", "dollars", "USD", "EUR", "yen", "zloty"],
    "account": ["current", "savings", "joint", "ISA", "business", "student", "premier"],
    "month": ["January", "March", "June", "September", "December", "last month"],
    "place_name": ["Leeds", "Bristol", "Glasgow", "London", "Cardiff", "Manchester"],
    "first": ["Sam", "Priya", "Tom", "Aisha", "Marek", "Chloe", "David", "Ngozi"],
    "year": ["2009", "2015", "2019", "2021"],
}


def fill(template: str, rng: random.Random) -> str:
    for slot, values in SLOTS.items():
        while "{" + slot + "}" in template:
            template = template.replace("{" + slot + "}", rng.choice(values), 1)
    return template


def noisy(text: str, rng: random.Random) -> str:
    """Casing and typo noise of chat messages: lower-casing, a dropped or swapped letter now and then."""
    if rng.random() < 0.3:
        text = text.lower()
    elif rng.random() < 0.1:
        text = text.upper()
    chars = list(text)
    for _ in range(rng.choice((0, 0, 0, 1, 2))):
        i = rng.randrange(1, max(2, len(chars) - 1))
        if chars[i].isalpha():
            if rng.random() < 0.5:
                del chars[i]
            elif i + 1 < len(chars):
                chars[i], chars[i + 1] = chars[i + 1], chars[i]
    return "".join(chars)


def message(intent: str, rng: random.Random) -> str:
    body = fill(rng.choice(INTENTS[intent]), rng)
    text = fill(rng.choice(OPENERS) + body + rng.choice(CONTEXT) + rng.choice(CLOSERS), rng)
    return noisy(text[0].upper() + text[1:] if rng.random() < 0.6 else text, rng)


def generate(rows: int, seed: int, noise: float = 0.03) -> list[dict[str, str]]:
    rng = random.Random(seed)
    names = sorted(INTENTS)
    # Uneven class sizes, as in real triage (the commonest intent ~4x the rarest).
    weights = [1.0 + 3.0 * rng.random() for _ in names]
    out = []
    for i in range(rows):
        intent = rng.choices(names, weights)[0]
        label = rng.choice(names) if rng.random() < noise else intent
        out.append({"id": f"msg-{i:05d}", "text": message(intent, rng), "intent": label})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="the JSONL file to write")
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rows = generate(args.rows, args.seed)
    write_text_atomic(args.out, "".join(json.dumps(r) + "\n" for r in rows))


if __name__ == "__main__":
    main()
