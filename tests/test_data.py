import csv
import json
import re
from collections import Counter

import datasets
import pytest
from conftest import make_credit_records, write_jsonl

from finrisk_nlp.config import DataConfig
from finrisk_nlp.data.loaders import DocumentCollator, LengthGroupedSampler, build_dataloader, tokenize_documents
from finrisk_nlp.data.tables import load_splits, load_table
from finrisk_nlp.errors import DataError
from finrisk_nlp.tasks import get_task

CREDIT = get_task("credit_text")


def write_csv(path, rows, columns=None):
    columns = columns or list(rows[0])
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def cfg(path, **kw):
    return DataConfig(train_file=str(path), min_examples_per_class=2, **kw)


@pytest.mark.parametrize("kind", ["csv", "jsonl", "parquet", "save_to_disk"])
def test_every_supported_format_loads_the_same_rows(tmp_path, kind):
    rows = make_credit_records(30)
    if kind == "csv":
        path = write_csv(tmp_path / "d.csv", rows)
    elif kind == "jsonl":
        path = write_jsonl(tmp_path / "d.jsonl", rows)
    elif kind == "parquet":
        path = tmp_path / "d.parquet"
        datasets.Dataset.from_list(rows).to_parquet(str(path))
    else:
        path = tmp_path / "d_dir"
        datasets.Dataset.from_list(rows).save_to_disk(str(path))
    table = load_table(path)
    assert table["text"] == [r["text"] for r in rows] and table["outcome"] == [r["outcome"] for r in rows]


def test_split_is_stratified_deterministic_and_disjoint(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", make_credit_records(90))
    fractions = {"validation_fraction": 0.2, "test_fraction": 0.2, "dedup": "warn"}  # keep repeated fixture texts
    task, a = load_splits(cfg(path, **fractions), CREDIT, seed=3)
    _, b = load_splits(cfg(path, **fractions), CREDIT, seed=3)
    assert [a[s]["id"] for s in a] == [b[s]["id"] for s in b]
    ids = [set(a[s]["id"]) for s in ("train", "validation", "test")]
    assert sum(map(len, ids)) == 90 and len(set.union(*ids)) == 90
    for split in ("validation", "test"):  # 1/3 of rows are 'default' everywhere
        counts = Counter(a[split]["outcome"])
        assert len(a[split]) == 18 and counts["default"] == 6
    assert a["train"]["labels"] == [task.labels.index(o) for o in a["train"]["outcome"]]


def test_user_csv_with_own_columns_and_labels(tmp_path):
    rows = [{"narrative": r["text"], "status": "bad" if r["outcome"] == "default" else "good"}
            for r in make_credit_records(40)]
    path = write_csv(tmp_path / "mine.csv", rows)
    task, splits = load_splits(cfg(path, text_column="narrative", label_column="status"), CREDIT, seed=0)
    assert task.labels == ("bad", "good") and task.text_column == "narrative"
    assert set(splits["test"]["status"]) == {"bad", "good"}
    assert task.labels[task.positive_index] == "bad"  # a known risk name, not the label that sorts last


@pytest.mark.parametrize(("pair", "risk"), [(("paid", "default"), "default"), ((0, 1), "1"), (("no", "yes"), "yes"),
                                            (("legit", "Fraud"), "Fraud"), (("ham", "spam"), "spam")])
def test_the_risk_class_of_user_labels_comes_from_a_known_vocabulary(tmp_path, pair, risk):
    rows = [{"narrative": r["text"], "status": pair[r["outcome"] == "default"]} for r in make_credit_records(40)]
    path = write_csv(tmp_path / "mine.csv", rows)
    task, _ = load_splits(cfg(path, text_column="narrative", label_column="status"), CREDIT, seed=0)
    assert task.labels[task.positive_index] == risk


@pytest.mark.parametrize("pair", [("approved", "declined"), ("bad", "fraud")])
def test_ambiguous_user_labels_stop_validate_until_positive_label_is_set(tmp_path, pair, caplog):
    from finrisk_nlp.cli.main import main

    rows = [{"narrative": r["text"], "status": pair[r["outcome"] == "default"]} for r in make_credit_records(40)]
    path = write_csv(tmp_path / "mine.csv", rows)
    args = ["validate", f"data.train_file={path}", "data.text_column=narrative", "data.label_column=status",
            "data.min_examples_per_class=2"]
    assert main(args) == 2
    assert "Set data.positive_label to one of" in caplog.text
    assert main([*args, f"data.positive_label={pair[0]}"]) == 0
    task, _ = load_splits(cfg(path, text_column="narrative", label_column="status", positive_label=pair[0]),
                          CREDIT, seed=0)
    assert task.labels[task.positive_index] == pair[0]


def test_explicit_validation_and_test_files(tmp_path):
    train = write_jsonl(tmp_path / "train.jsonl", make_credit_records(30, seed=1))
    val = write_jsonl(tmp_path / "val.jsonl", make_credit_records(9, seed=2))
    test = write_jsonl(tmp_path / "test.jsonl", make_credit_records(6, seed=3))
    _, splits = load_splits(cfg(train, validation_file=str(val), test_file=str(test)), CREDIT, seed=0)
    assert {k: len(v) for k, v in splits.items()} == {"train": 30, "validation": 9, "test": 6}


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda rows: [{"body": r["text"], "outcome": r["outcome"]} for r in rows],
         "expected the columns ['text', 'outcome'] but ['text'] is missing; found ['body', 'outcome']. "
         "Rename the columns or set data.text_column=... data.label_column=..."),
        (lambda rows: rows[:4] + [{**rows[4], "text": "   "}] + rows[5:],
         "column 'text' must hold non-empty text, but 1 row(s) do not: row 5 ("),
        (lambda rows: rows[:2] + [{**rows[2], "text": 1234}] + rows[3:],
         "row 3 (1234)"),
        (lambda rows: rows[:7] + [{**rows[7], "outcome": "defualt"}] + rows[8:],
         "column 'outcome' has label(s) outside the expected ['repaid', 'default']: row 8 ('defualt')"),
        (lambda rows: [r for r in rows if r["outcome"] == "repaid"] + [rows[0]],
         "every label needs at least 2 examples to train and evaluate on, but found {'default': 1}"),
    ],
    ids=["missing-column", "empty-text", "non-string-text", "unknown-label", "too-few-per-class"],
)
def test_bad_files_are_rejected_with_file_row_and_fix(tmp_path, mutate, message):
    path = tmp_path / "bad.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in mutate(make_credit_records(30))))
    with pytest.raises(DataError, match=re.escape(message)) as info:
        load_splits(cfg(path), CREDIT, seed=0)
    assert str(path) in str(info.value)


def test_unreadable_and_unsupported_files(tmp_path):
    with pytest.raises(DataError, match="does not exist; check data.train_file"):
        load_table(tmp_path / "nope.csv")
    (tmp_path / "d.xlsx").write_text("x")
    with pytest.raises(DataError, match=re.escape("unsupported file type '.xlsx'")):
        load_table(tmp_path / "d.xlsx")
    (tmp_path / "broken.jsonl").write_text('{"text": "a", "outcome": \n')
    with pytest.raises(DataError, match="could not be read as json"):
        load_table(tmp_path / "broken.jsonl")
    datasets.DatasetDict(train=datasets.Dataset.from_list(make_credit_records(4))).save_to_disk(str(tmp_path / "dd"))
    with pytest.raises(DataError, match=re.escape(f"did you mean {tmp_path / 'dd' / 'train'}?")):
        load_table(tmp_path / "dd")


def test_dynamic_padding_and_length_grouping(tmp_path, tiny_tokenizer):
    rows = make_credit_records(40)
    for i, r in enumerate(rows):
        r["text"] = r["text"] + " family" * (i % 13)
    _, splits = load_splits(cfg(write_jsonl(tmp_path / "d.jsonl", rows)), CREDIT, seed=0)
    train = tokenize_documents(splits["train"], tiny_tokenizer, CREDIT, max_length=32)
    loader = build_dataloader(train, DocumentCollator(tiny_tokenizer, multi_label=False), batch_size=4, shuffle=True,
                              seed=1)
    widths = [batch["input_ids"].shape[1] for batch in loader]
    longest = max(len(ids) for windows in train["input_ids"] for ids in windows)
    assert max(widths) == longest and min(widths) < longest  # padded per batch, not to a global length
    seen = [i for batch in LengthGroupedSampler([1] * 10, 2, seed=5) for i in [batch]]
    assert sorted(seen) == list(range(10))


def test_length_grouped_order_depends_only_on_seed_and_epoch():
    lengths = [i % 7 for i in range(100)]
    a, b = (LengthGroupedSampler(lengths, 4, seed=1, mega_factor=2) for _ in range(2))
    assert list(a) == list(b)
    b.set_epoch(1)
    assert list(a) != list(b) and sorted(b) == list(range(100))
    batches = [list(a)[i:i + 4] for i in range(0, 100, 4)]
    for batch in batches:  # each batch: similar lengths, longest first
        assert [lengths[i] for i in batch] == sorted((lengths[i] for i in batch), reverse=True)


def test_length_grouped_epoch_does_not_drift_from_long_to_short():
    """Where length goes with the label, a longest-first epoch would see the classes in drifting mixes."""
    lengths = list(range(400))
    order = list(LengthGroupedSampler(lengths, 8, seed=0))
    first, second = order[:200], order[200:]
    # Longest-first would give halves averaging ~300 and ~100; shuffled batches give ~200 each.
    assert abs(sum(lengths[i] for i in first) / 200 - sum(lengths[i] for i in second) / 200) < 40
    assert sorted(order) == list(range(400))
    batches = [order[k:k + 8] for k in range(0, 400, 8)]
    spread = [max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches]
    assert max(spread) <= 7  # one mega-batch (all 400) sorted: each batch is 8 neighbouring lengths


@pytest.mark.parametrize("kind", ["csv", "jsonl", "parquet"])
def test_reading_training_data_leaves_no_raw_text_on_disk(tmp_path, monkeypatch, kind):
    cache = tmp_path / "hf_datasets_cache"
    monkeypatch.setenv("HF_DATASETS_CACHE", str(cache))
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", cache)
    rows = make_credit_records(30)
    for i, row in enumerate(rows):
        row["text"] = f"Applicant Zebediah Quaritch-{i} (card 4111 1111 1111 1111) " + row["text"]
    data = tmp_path / "data"
    data.mkdir()
    train, validation = data / f"train.{kind}", data / f"validation.{kind}"
    for path, part in ((train, rows[:24]), (validation, rows[24:])):
        if kind == "csv":
            write_csv(path, part)
        elif kind == "jsonl":
            write_jsonl(path, part)
        else:
            datasets.Dataset.from_list(part).to_parquet(str(path))
    # the same file as validation and test: dedup would drop all of test (it repeats validation), so warn here
    _, splits = load_splits(cfg(train, validation_file=str(validation), test_file=str(validation), dedup="warn"),
                            CREDIT, seed=0)
    assert len(splits["train"]) == 24 and "[CARD]" in splits["validation"]["text"][0]
    written = [p for p in tmp_path.rglob("*") if p.is_file() and data not in p.parents]
    leaked = [p for p in written if b"Zebediah" in p.read_bytes() or b"4111" in p.read_bytes()]
    assert leaked == []


def test_latin1_csv_names_the_encoding_and_the_fix(tmp_path):
    path = tmp_path / "loans.csv"
    path.write_bytes("text,outcome\nPr\u00eat r\u00e9gl\u00e9 en avance,repaid\n".encode("latin-1"))
    expected = (f"{path} is not UTF-8 text: byte b'\\xea' at offset 15 cannot be decoded; the file was probably "
                "saved as Latin-1 / Windows-1252 (e.g. by Excel). Re-save it as UTF-8, e.g. "
                f"`iconv -f CP1252 -t UTF-8 {path} > {tmp_path / 'loans.utf8.csv'}`")
    with pytest.raises(DataError, match=re.escape(expected)):
        load_table(path)
    converted = tmp_path / "loans.utf8.csv"
    converted.write_bytes(path.read_bytes().decode("cp1252").encode("utf-8"))  # what the iconv command does
    assert load_table(converted)["text"] == ["Pr\u00eat r\u00e9gl\u00e9 en avance"]


def test_json_array_missing_keys_and_utf8_bom(tmp_path):
    array = tmp_path / "rows.json"
    array.write_text(json.dumps([{"text": "a", "outcome": "repaid"}, {"text": "b", "outcome": "default", "x": 1}]))
    table = load_table(array)
    assert table["text"] == ["a", "b"] and table["x"] == [None, 1]
    bom = tmp_path / "bom.csv"
    bom.write_bytes("text,outcome\nsteady salary,repaid\n".encode("utf-8-sig"))
    assert load_table(bom).column_names == ["text", "outcome"]
    (tmp_path / "list.jsonl").write_text('{"text": "a", "outcome": "repaid"}\n[1, 2]\n')
    with pytest.raises(DataError, match=re.escape("could not be read as json (record 2 is a list, not an object)")):
        load_table(tmp_path / "list.jsonl")
