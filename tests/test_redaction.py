import pytest

from finrisk_nlp.data.redaction import counts_by_type, iban_valid, luhn_valid, redact, redact_texts

IDENTIFIERS = [
    ("card 4111 1111 1111 1111 was used", "[CARD]", "CARD"),
    ("card 5500-0000-0000-0004 declined", "[CARD]", "CARD"),
    ("pan 4012888888881881.", "[CARD]", "CARD"),
    ("iban DE89 3704 0044 0532 0130 00 received", "[IBAN]", "IBAN"),
    ("to GB82WEST12345698765432 today", "[IBAN]", "IBAN"),
    ("ssn 123-45-6789 on file", "[SSN]", "SSN"),
    ("acct 12345678 flagged", "acct [ACCOUNT]", "ACCOUNT"),
    ("Account No. 987654321012 closed", "Account No. [ACCOUNT]", "ACCOUNT"),
    ("account #: 5551234567 frozen", "account #: [ACCOUNT]", "ACCOUNT"),
    ("mail john.doe@bank.co.uk now", "[EMAIL]", "EMAIL"),
    ("call (555) 123-4567 today", "[PHONE]", "PHONE"),
    ("call 555-123-4567 today", "[PHONE]", "PHONE"),
    ("call +44 20 7946 0958 today", "[PHONE]", "PHONE"),
]


@pytest.mark.parametrize(("text", "placeholder", "kind"), IDENTIFIERS, ids=[i[0] for i in IDENTIFIERS])
def test_each_identifier_type_is_replaced(text, placeholder, kind):
    clean, counts = redact(text)
    assert placeholder in clean
    assert counts == {kind: 1}
    raw_digits = [tok for tok in text.split() if sum(c.isdigit() for c in tok) >= 4]
    assert not any(tok.strip(".,") in clean for tok in raw_digits)


ORDINARY = [
    "wired $12,500.00 on 2024-03-15",
    "12500 EUR received 03/15/2024",
    "rate 4.5% in 2023, up 12% from 2022",
    "total $1,250,000.00 over 18 months",
    "deposits of 9,900 and 9,800 USD",
    "reference 20240315 and amount 4111111111111111,00 EUR",
    "invalid card 4111 1111 1111 1112 and bad iban DE00370400440532013000",
    "case 2024-000123 closed",
]


@pytest.mark.parametrize("text", ORDINARY)
def test_amounts_dates_years_percentages_and_checksum_failures_are_left_alone(text):
    clean, counts = redact(text)
    assert clean == text and not counts


def test_checksums():
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")
    assert iban_valid("DE89 3704 0044 0532 0130 00") and not iban_valid("DE88 3704 0044 0532 0130 00")


def test_counts_add_up_over_texts():
    texts = ["card 4111111111111111, ssn 123-45-6789", "mail a@b.com, phone 555-123-4567", "nothing here 2024"]
    clean, counts = redact_texts(texts)
    assert clean[2] == texts[2]
    assert counts_by_type(counts) == {"EMAIL": 1, "IBAN": 0, "CARD": 1, "SSN": 1, "ACCOUNT": 0, "PHONE": 1}
    assert redact_texts(clean)[1] == {}  # placeholders are not identifiers: redaction is idempotent
