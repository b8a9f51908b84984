"""Out-of-time and grouped splits, the duplicate check between splits, and the split summary of load_splits."""

import logging
import random
import re
from datetime import date, timedelta

import pytest
from conftest import write_jsonl

from finrisk_nlp.config import DataConfig, load_config
from finrisk_nlp.data.leakage import normalise_text
from finrisk_nlp.data.tables import load_splits
from finrisk_nlp.errors import ConfigError, DataError
from finrisk_nlp.tasks import get_task

CREDIT = get_task("credit_text")
START = date(2023, 1, 1)


def loan_rows(n: int = 60, customers: int = 20, seed: int = 0) -> list[dict]:
    """Rows with distinct texts, a day each (in shuffled file order) and ``customers`` ids, a third 'default'."""
    rng = random.Random(seed)
    # Texts differ in letters, not only digits, so that no two are repeats of each other once digits are masked.
    rows = [{"id": f"L{i:03d}", "text": f"application {chr(97 + i // 26)}{chr(97 + i % 26)} for a car",
             "outcome": "default" if i % 3 == 0 else "repaid", "day": (START + timedelta(days=i)).isoformat(),
             "customer": f"C{i % customers:02d}"} for i in range(n)]
    rng.shuffle(rows)
    return rows


def load(tmp_path, rows, summary=None, **data):
    path = write_jsonl(tmp_path / "loans.jsonl", rows)
    return load_splits(DataConfig(train_file=str(path), min_examples_per_class=2, **data), CREDIT, 0,
                       summary=summary)[1]


def values(splits, column):
    return {name: set(split[column]) for name, split in splits.items()}


def test_time_split_trains_on_the_past_and_tests_on_the_latest_period(tmp_path):
    summary: dict = {}
    splits = load(tmp_path, loan_rows(), summary, time_column="day", validation_fraction=0.2, test_fraction=0.2)
    days = {name: {str(d)[:10] for d in split["day"]} for name, split in splits.items()}
    assert {k: len(v) for k, v in splits.items()} == {"train": 36, "validation": 12, "test": 12}
    assert max(days["train"]) < min(days["validation"]) and max(days["validation"]) < min(days["test"])
    assert max(days["test"]) == "2023-03-01"  # the latest row of the file is tested on
    assert summary["kind"] == "time" and summary["time_column"] == "day"
    assert summary["periods"] == {name: {"min": min(d), "max": max(d)} for name, d in days.items()}
    assert summary["rows"] == {"train": 36, "validation": 12, "test": 12} and summary["groups"] == {}


def test_rows_sharing_a_time_stay_together_in_the_later_split(tmp_path):
    rows = loan_rows(40)
    for i, row in enumerate(sorted(rows, key=lambda r: r["day"])):
        row["day"] = 2000 + i // 5  # numbers (years), eight rows a year; cuts at 32 and 36 fall inside 2006
    splits = load(tmp_path, rows, time_column="day")
    years = values(splits, "day")
    assert years == {"train": set(range(2000, 2006)), "validation": {2006}, "test": {2007}}


def test_unparsable_times_are_named_by_row(tmp_path):
    rows = loan_rows(30)
    rows[2]["day"], rows[6]["day"] = "next tuesday", None
    with pytest.raises(DataError, match=re.escape(
            "time column 'day' must hold ISO dates (2024-03-31, 2024-03-31T14:05:00) or numbers (a year, a period "
            "index, a Unix time) in every row, but 2 row(s) do not: row 3 ('next tuesday'), row 7 (None). Fix or "
            "remove these rows, or set data.time_column=null.")):
        load(tmp_path, rows, time_column="day")


def test_time_column_must_exist_and_have_enough_periods(tmp_path):
    with pytest.raises(DataError, match=re.escape("data.time_column='date' names no column; found ['id', 'text',")):
        load(tmp_path, loan_rows(30), time_column="date")
    rows = [{**r, "day": "2024-01-31" if i < 25 else "2024-02-29"} for i, r in enumerate(loan_rows(30))]
    with pytest.raises(DataError, match=re.escape("cannot cut 30 rows by time column 'day' into train, validation "
                                                  "and test periods: 2 distinct value(s)")):
        load(tmp_path, rows, time_column="day")


def test_group_split_keeps_each_customer_in_one_split_and_stratifies(tmp_path):
    summary: dict = {}
    rows = loan_rows(90, customers=30)
    splits = load(tmp_path, rows, summary, group_column="customer", validation_fraction=0.2, test_fraction=0.2)
    groups = values(splits, "customer")
    assert not groups["train"] & groups["validation"] and not groups["train"] & groups["test"]
    assert not groups["validation"] & groups["test"] and sum(map(len, splits.values())) == 90
    for name in ("validation", "test"):  # customers hold mixed labels; both classes land everywhere
        assert set(splits[name]["outcome"]) == {"repaid", "default"} and 12 <= len(splits[name]) <= 24
    assert summary["kind"] == "group"
    assert summary["groups"] == {**{k: len(v) for k, v in groups.items()}, "shared_with_train": 0,
                                 "stratified": True}
    again = load(tmp_path, rows, group_column="customer", validation_fraction=0.2, test_fraction=0.2)
    assert values(again, "id") == values(splits, "id")


def test_few_groups_fall_back_to_group_shuffle_and_too_few_are_an_error(tmp_path):
    summary: dict = {}
    splits = load(tmp_path, loan_rows(30, customers=6), summary, group_column="customer")
    groups = values(splits, "customer")
    assert sum(map(len, groups.values())) == 6 and summary["groups"]["stratified"] is False
    with pytest.raises(DataError, match=re.escape("cannot split by group column 'customer': it holds 2 distinct "
                                                  "value(s), but train, validation and test need at least one")):
        load(tmp_path, loan_rows(30, customers=2), group_column="customer")
    rows = loan_rows(30)
    rows[4]["customer"] = ""
    with pytest.raises(DataError, match=re.escape("group column 'customer' is empty in 1 row(s): row 5.")):
        load(tmp_path, rows, group_column="customer")


def test_time_and_group_a_customer_spanning_the_cut_loses_its_early_rows(tmp_path):
    rows = loan_rows(40, customers=40)  # one row per customer, except the two below
    for row in rows:
        if row["day"] in ("2023-01-02", "2023-02-08"):  # day 1 (train period) and day 38 (test period)
            row["customer"] = "SPAN"
    summary: dict = {}
    splits = load(tmp_path, rows, summary, time_column="day", group_column="customer")
    span = {name for name, split in splits.items() if "SPAN" in split["customer"]}
    assert span == {"test"} and splits["test"]["customer"].count("SPAN") == 1  # its train-period row is dropped
    assert summary["kind"] == "time+group"
    assert summary["groups"]["spanning_groups"] == 1 and summary["groups"]["rows_dropped"] == 1
    assert summary["periods"]["test"]["min"] > summary["periods"]["validation"]["max"] > \
        summary["periods"]["train"]["max"]
    assert sum(summary["rows"].values()) == 39


def crafted_customers(seed: int, customers: int = 120) -> list[dict]:
    """Customers with 1 to 8 loans each spread over two years (many span every cut), labels a third default."""
    rng = random.Random(seed)
    rows = []
    for c in range(customers):
        first = rng.randrange(0, 450)
        for j in range(rng.choice([1, 1, 2, 3, 5, 8])):
            i = len(rows)
            rows.append({"text": f"loan {chr(97 + i // 676 % 26)}{chr(97 + i // 26 % 26)}{chr(97 + i % 26)} "
                                 f"for {'abcdefgh'[j]}", "outcome": "default" if rng.random() < 0.33 else "repaid",
                         "day": (START + timedelta(days=first + rng.randrange(0, 280))).isoformat(),
                         "customer": f"C{c:03d}"})
    rng.shuffle(rows)
    return rows


@pytest.mark.parametrize(("seed", "fractions"), [(0, (0.1, 0.1)), (1, (0.2, 0.1)), (2, (0.15, 0.25)),
                                                 (3, (0.1, 0.3)), (4, (0.3, 0.1))])
def test_time_and_group_splits_stay_out_of_time_in_every_configuration(tmp_path, seed, fractions):
    rows = crafted_customers(seed)
    summary: dict = {}
    splits = load(tmp_path, rows, summary, time_column="day", group_column="customer",
                  validation_fraction=fractions[0], test_fraction=fractions[1], dedup="warn")
    days = {name: [str(d)[:10] for d in split["day"]] for name, split in splits.items()}
    assert max(days["train"]) < min(days["validation"]) and max(days["validation"]) < min(days["test"])
    groups = values(splits, "customer")
    assert not groups["train"] & groups["validation"] and not groups["train"] & groups["test"]
    assert not groups["validation"] & groups["test"]
    kept = sum(len(s) for s in splits.values())
    assert summary["groups"]["rows_dropped"] == len(rows) - kept > 0
    for name, fraction in zip(("validation", "test"), fractions, strict=True):
        assert len(splits[name]) / kept == pytest.approx(fraction, abs=0.03)


def test_normalisation_masks_digits_and_folds_case_and_space():
    assert normalise_text("POS 4411  Starbucks\t#12") == normalise_text("pos 9021 starbucks #77")
    assert normalise_text("pos starbucks") != normalise_text("pos starbuck")


def dedup_files(tmp_path):
    train = [{"text": f"payment {i} to shop {'xyz'[i % 3]}", "outcome": "default" if i % 2 else "repaid"}
             for i in range(10)]
    val = [{"text": "payment 3 to shop x", "outcome": "default"},  # exact copy of train row 4
           {"text": "Payment  7 to SHOP y", "outcome": "repaid"},  # normalised copy of train rows
           {"text": "salary from employer", "outcome": "repaid"}]
    test = [{"text": "wire to family abroad", "outcome": "default"}, {"text": "rent", "outcome": "repaid"}]
    paths = [write_jsonl(tmp_path / f"{n}.jsonl", r) for n, r in (("train", train), ("val", val), ("test", test))]
    return {"train_file": str(paths[0]), "validation_file": str(paths[1]), "test_file": str(paths[2])}


@pytest.mark.parametrize("mode", ["drop", "warn"])
def test_repeats_of_train_texts_are_dropped_or_reported(tmp_path, mode, caplog):
    summary: dict = {}
    with caplog.at_level(logging.INFO):
        _, splits = load_splits(DataConfig(min_examples_per_class=2, dedup=mode, **dedup_files(tmp_path)), CREDIT, 0,
                                summary=summary)
    kept = ["salary from employer"] if mode == "drop" else ["payment 3 to shop x", "Payment  7 to SHOP y",
                                                           "salary from employer"]
    assert splits["validation"]["text"] == kept and len(splits["test"]) == 2 and len(splits["train"]) == 10
    assert summary["dedup"] == {"mode": mode, "train_within": 7,
                                "test": {"rows": 2, "exact": 0, "normalised": 0, "dropped": 0, "of_validation": 0,
                                         "within": 0, "near_duplicates": 0},
                                "validation": {"rows": 3, "exact": 1, "normalised": 2, "within": 0,
                                               "near_duplicates": 0, "dropped": 2 if mode == "drop" else 0}}
    assert summary["kind"] == "files" and summary["files"] == ["validation", "test"]
    assert "validation 1 exact / 2 after normalising of 3" in caplog.text


def test_repeats_are_an_error_when_asked_and_when_they_fill_a_split(tmp_path):
    files = dedup_files(tmp_path)
    with pytest.raises(DataError, match=re.escape(
            "validation/test texts repeat train texts (validation 1 exact / 2 after normalising of 3, test 0 exact "
            "/ 0 after normalising of 2; normalising masks digits and folds case and whitespace), so their metrics "
            "would reward memorising, e.g. validation row 1: 'payment 3 to shop x'; validation row 2: ")):
        load_splits(DataConfig(min_examples_per_class=2, dedup="error", **files), CREDIT, 0)
    write_jsonl(tmp_path / "test.jsonl", [{"text": "PAYMENT 5 to shop z", "outcome": "default"}])
    with pytest.raises(DataError, match=re.escape("data.dedup=drop would remove every row of ['test']")):
        load_splits(DataConfig(min_examples_per_class=2, **files), CREDIT, 0)


def test_memo_demo_test_split_repeats_train_texts(tmp_path):
    memo = get_task("transaction_memo")
    summary: dict = {}
    _, kept = load_splits(DataConfig(dedup="warn"), memo, 42, summary=summary)
    assert summary["kind"] == "random" and summary["periods"] == {}
    # 14 once identifiers are redacted (two memos differed only in a phone number that is now a [PHONE] placeholder
    # in both... or in neither); the count is of what the model reads.
    # 16 = 14 repeats of train + 2 of validation; 39 more differ from an earlier text by about a word
    assert summary["dedup"]["test"] == {"rows": 400, "exact": 5, "normalised": 16, "dropped": 0, "of_validation": 2,
                                        "within": 4, "near_duplicates": 39}
    train = set(kept["train"]["text"])
    assert sum(t in train for t in kept["test"]["text"]) == 5
    summary = {}
    _, dropped = load_splits(DataConfig(), memo, 42, summary=summary)
    assert len(dropped["test"]) == 384 and summary["dedup"]["test"]["dropped"] == 16
    normalised_train = {normalise_text(t) for t in dropped["train"]["text"]}
    assert not [t for t in dropped["test"]["text"] if normalise_text(t) in normalised_train]


def test_test_is_checked_against_validation_within_itself_and_for_near_duplicates(tmp_path, caplog):
    train = [{"text": f"card payment at {w} grocery store downtown near the station", "outcome": o}
             for w, o in (("alpha", "repaid"), ("bravo", "default"), ("charlie", "repaid"), ("delta", "default"))]
    val = [{"text": "salary from employer", "outcome": "repaid"}, {"text": "wire to family abroad", "outcome":
                                                                    "default"}]
    test = [{"text": "SALARY from employer", "outcome": "repaid"},  # repeats validation once case is folded
            {"text": "card payment at alpha grocery store downtown near the bridge", "outcome": "repaid"},  # 1 word
            {"text": "rent to landlord", "outcome": "repaid"}, {"text": "rent to landlord", "outcome": "default"},
            {"text": "lottery ticket purchase", "outcome": "default"}]
    paths = {n: str(write_jsonl(tmp_path / f"{n}.jsonl", r)) for n, r in (("train", train), ("val", val),
                                                                         ("test", test))}
    files = {"train_file": paths["train"], "validation_file": paths["val"], "test_file": paths["test"]}
    summary: dict = {}
    with caplog.at_level(logging.WARNING):
        _, splits = load_splits(DataConfig(min_examples_per_class=1, **files), CREDIT, 0, summary=summary)
    got = summary["dedup"]["test"]
    assert (got["normalised"], got["of_validation"], got["dropped"]) == (1, 1, 1)
    assert got["near_duplicates"] == 1 and got["within"] == 1
    assert "SALARY from employer" not in splits["test"]["text"] and len(splits["test"]) == 4
    assert "near-duplicates of an earlier split's text (word Jaccard >= 0.8): {'test': 1}" in caplog.text
    assert "texts repeated within a split" in caplog.text and "'test': 1" in caplog.text


def test_near_duplicate_similarity_is_the_exact_word_jaccard():
    from finrisk_nlp.data.near_duplicates import best_jaccard

    rng = random.Random(0)
    words = [f"w{i}" for i in range(30)]
    refs = [" ".join(rng.sample(words, rng.randint(1, 8))) for _ in range(40)]
    queries = [" ".join(rng.sample(words, rng.randint(1, 8))) for _ in range(25)] + ["unseen words only"]
    best, where, sampled = best_jaccard(queries, refs)
    for q, b, w in zip(queries, best, where, strict=True):
        exact = [len(set(q.split()) & set(r.split())) / len(set(q.split()) | set(r.split())) for r in refs]
        assert b == pytest.approx(max(exact)) and (w == -1 or exact[w] == pytest.approx(max(exact)))
    assert best[-1] == 0 and where[-1] == -1 and sampled is False


def test_explicit_files_that_overlap_train_in_time_are_reported(tmp_path, caplog):
    rows = sorted(loan_rows(40), key=lambda r: r["day"])
    paths = {name: write_jsonl(tmp_path / f"{name}.jsonl", part)
             for name, part in (("train", rows[:30]), ("val", rows[28:34]), ("test", rows[34:]))}
    summary: dict = {}
    with caplog.at_level(logging.WARNING):
        load_splits(DataConfig(train_file=str(paths["train"]), validation_file=str(paths["val"]),
                               test_file=str(paths["test"]), min_examples_per_class=2, time_column="day",
                               group_column="customer", dedup="warn"), CREDIT, 0, summary=summary)
    assert "['validation'] file(s) start before train ends" in caplog.text
    assert summary["periods"]["validation"] == {"min": rows[28]["day"], "max": rows[33]["day"]}
    assert summary["groups"]["shared_with_train"] == 6 + 6  # 20 customers: every later row's customer trained


def test_config_checks_the_new_keys():
    cfg = load_config(None, ["data.time_column=opened", "data.group_column=account", "data.dedup=error"])
    assert (cfg.data.time_column, cfg.data.group_column, cfg.data.dedup) == ("opened", "account", "error")
    assert load_config(None, []).data.dedup == "drop"
    with pytest.raises(ConfigError) as info:
        load_config(None, ["data.time_column=opened", "data.group_column=opened", "data.dedup=maybe"])
    assert "data.dedup: expected one of ['drop', 'warn', 'error'], got 'maybe'" in str(info.value)
    assert "data.time_column and data.group_column both name 'opened'" in str(info.value)


def test_validate_reports_the_split_and_refuses_repeats_when_asked(tmp_path, caplog):
    from finrisk_nlp.cli.main import main

    files = dedup_files(tmp_path)
    argv = ["validate", *(f"data.{key}={value}" for key, value in files.items()), "data.min_examples_per_class=2"]
    with caplog.at_level(logging.INFO):
        assert main(argv) == 0
    assert "files split; periods -; groups -; repeats of train texts {'mode': 'drop'" in caplog.text
    caplog.clear()
    assert main([*argv, "data.dedup=error"]) == 2
    assert "validation/test texts repeat train texts (validation 1 exact / 2 after normalising of 3" in caplog.text


@pytest.mark.parametrize("design", [{}, {"time_column": "day"}, {"group_column": "customer"},
                                    {"time_column": "day", "group_column": "customer"}])
def test_calibration_fraction_carves_a_split_of_its_own(tmp_path, design):
    summary: dict = {}
    rows = crafted_customers(5, customers=200) if "group_column" in design else loan_rows(200)
    splits = load(tmp_path, rows, summary, calibration_fraction=0.1, dedup="warn", **design)
    sizes = {name: len(split) for name, split in splits.items()}
    assert set(sizes) == {"train", "validation", "calibration", "test"}
    kept = sum(sizes.values())
    assert kept == len(rows) - summary["groups"].get("rows_dropped", 0)
    assert sizes["calibration"] / kept == pytest.approx(0.1, abs=0.04)
    assert sizes["validation"] / kept == pytest.approx(0.1, abs=0.04)
    assert summary["rows"] == sizes
    ids = {name: set(split["text"]) for name, split in splits.items()}
    assert not ids["calibration"] & (ids["train"] | ids["validation"] | ids["test"])
    if "time_column" in design:  # calibration sits between epoch selection and test
        days = {name: [str(d)[:10] for d in split["day"]] for name, split in splits.items()}
        assert max(days["train"]) < min(days["validation"]) <= max(days["validation"]) < min(days["calibration"])
        assert max(days["calibration"]) < min(days["test"]) and summary["out_of_time"] is True
    if "group_column" in design:
        groups = values(splits, "customer")
        assert not groups["calibration"] & (groups["train"] | groups["validation"] | groups["test"])
        assert not groups["validation"] & (groups["train"] | groups["test"])


def test_calibration_fraction_is_checked():
    with pytest.raises(ConfigError, match=re.escape("data.calibration_fraction must be in (0, 0.5) or null, got 0.7")):
        load_config(None, ["data.calibration_fraction=0.7"])
    with pytest.raises(ConfigError, match=re.escape("must stay below 0.8 so that most rows train")):
        load_config(None, ["data.calibration_fraction=0.3", "data.validation_fraction=0.3", "data.test_fraction=0.3"])
