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
    # Realistic variants: letter case, spacing and keywords as investigators and customers write them.
    ("iban de89 3704 0044 0532 0130 00 received", "[IBAN]", "IBAN"),
    ("to gb82west12345698765432 today", "[IBAN]", "IBAN"),
    ("iban De89370400440532013000 received", "[IBAN]", "IBAN"),
    ("to Gb82 West 1234 5698 7654 32 today", "[IBAN]", "IBAN"),
    ("from BE68 5390 0754 7034 into cash", "from [IBAN] into cash", "IBAN"),
    ("SSN 123 45 6789 on file", "SSN [SSN] on file", "SSN"),
    ("ssn: 123456789 on file", "ssn: [SSN] on file", "SSN"),
    ("social security no. 123 45 6789 verified", "social security no. [SSN] verified", "SSN"),
    ("call 0044 20 7946 0958 today", "call [PHONE] today", "PHONE"),
    ("tel +33 6 12 34 56 78 today", "tel [PHONE] today", "PHONE"),
    ("tel 0033 6 12 34 56 78 today", "tel [PHONE] today", "PHONE"),
    ("call +44 (0)20 7946 0958 today", "call [PHONE] today", "PHONE"),
    ("a/c 12345678 flagged", "a/c [ACCOUNT] flagged", "ACCOUNT"),
    ("A/C: 5551234567 frozen", "A/C: [ACCOUNT] frozen", "ACCOUNT"),
    ("acc no 987654321 closed", "acc no [ACCOUNT] closed", "ACCOUNT"),
    ("acct# 1234-5678-90 frozen", "acct# [ACCOUNT] frozen", "ACCOUNT"),
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
    "fy24 loan paid back in full",
    "Q3 revenue up +12.5% to 1,250,000",
    "account opened 2024-03-15 with $12,500.00",
    "acc balance 1,250,000.00 on 15 03 2024",
    "scores +15 20 25 across the panel",
    "ssn field left blank in 2023",
    "invoice 0012 paid 00 44 times",
    "BE68 5390 0754 7035 fails its check",
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
