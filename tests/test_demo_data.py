"""The shipped demo datasets: columns, labels, row counts, and that the generator reproduces them exactly."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from finrisk_nlp.data.demo import DEMO_TASKS, demo_path, load_demo
from finrisk_nlp.tasks import get_task
from tools.demo_data.aml_fields import AML_CATEGORICAL_FIELDS, AML_FIELDS, AML_REQUIRED_FIELDS
from tools.demo_data.credit_fields import CREDIT_CATEGORICAL_FIELDS, CREDIT_FIELDS, CREDIT_REQUIRED_FIELDS
from tools.demo_data.generate import DEFAULT_ROWS, generate_task, main

# Columns and row counts as documented in finrisk_nlp/data/demo/README.md.
COLUMNS = {
    "credit_text": ["text", "outcome", "region", "channel", *CREDIT_FIELDS, "id"],
    "transaction_memo": ["text", "category", "suspicious", "id"],
    "aml_alert": ["text", "disposition", "typologies", "region", "channel", *AML_FIELDS, "id"],
}
FIELDS = {
    "credit_text": (CREDIT_FIELDS, CREDIT_CATEGORICAL_FIELDS, CREDIT_REQUIRED_FIELDS),
    "aml_alert": (AML_FIELDS, AML_CATEGORICAL_FIELDS, AML_REQUIRED_FIELDS),
}
# sha256 of every row's text, label and side columns as shipped before the field columns were added: the fields
# come from their own random stream, so text-only results stay comparable with earlier ones.
TEXT_AND_LABEL_SHA256 = {
    "credit_text": ("fb5aa548412199ad0a87f1b41354b6378c1b75d9cdc7025eeecd44e99764e639",
                    ("id", "text", "outcome", "region", "channel")),
    "aml_alert": ("feba33244ed5b10a58958dff7f1382c676eb93cc60cb3f5ec4af3d3f53333657",
                  ("id", "text", "disposition", "typologies", "region", "channel")),
    "transaction_memo": ("36f4a8f5b8a52fa20a496ec604550259a40c64594ab2aaaa2f9170b539c667b3",
                         ("text", "category", "suspicious", "id")),
}
ROWS = {"credit_text": 3000, "transaction_memo": 4000, "aml_alert": 2500}
ID_PREFIX = {"credit_text": "credit-", "transaction_memo": "txn-", "aml_alert": "aml-"}
FLIP_KEY = {"credit_text": "label_flipped", "transaction_memo": "category_flipped", "aml_alert": "label_flipped"}


@pytest.fixture(scope="module")
def shipped() -> dict[str, list[dict]]:
    return {task: load_demo(task) for task in DEMO_TASKS}


@pytest.mark.parametrize("task", DEMO_TASKS)
def test_shipped_file_has_documented_columns_rows_and_ids(shipped, task):
    rows = shipped[task]
    assert len(rows) == ROWS[task] == DEFAULT_ROWS[task]
    assert all(list(row) == COLUMNS[task] for row in rows)
    assert all(isinstance(row["text"], str) and row["text"].strip() for row in rows)
    ids = [row["id"] for row in rows]
    assert ids == [f"{ID_PREFIX[task]}{i:05d}" for i in range(1, len(rows) + 1)]


@pytest.mark.parametrize("task", DEMO_TASKS)
def test_shipped_labels_are_the_task_labels(shipped, task):
    spec = get_task(task)
    labels = [row[spec.label_column] for row in shipped[task]]
    assert set(labels) == set(spec.labels)  # valid labels only, and every class present


def test_shipped_side_columns_have_valid_values(shipped):
    for task in ("credit_text", "aml_alert"):
        assert {row["region"] for row in shipped[task]} == {"north", "south", "east", "west"}
        assert {row["channel"] for row in shipped[task]} == {"branch", "online", "broker"}
    assert {row["suspicious"] for row in shipped["transaction_memo"]} == {"yes", "no"}


def test_aml_typologies_are_a_subset_of_the_typology_task_labels(shipped):
    typology_labels = get_task("aml_typology").labels
    tags = [row["typologies"] for row in shipped["aml_alert"]]
    assert all(isinstance(t, list) and len(set(t)) == len(t) for t in tags)
    assert set().union(*map(set, tags)) == set(typology_labels)
    # Order follows the task's label order, so the lists are stable across regenerations.
    assert all(t == [label for label in typology_labels if label in t] for t in tags)
    assert any(not t for t in tags)  # most closed alerts carry no typology


def test_demo_path_rejects_unknown_names():
    assert demo_path("aml_alert").name == "aml_alert.jsonl"
    with pytest.raises(ValueError, match="credit_text"):
        demo_path("credit")


def _generate(out, seed: int, rows: int) -> dict[str, bytes]:
    assert main(["--task", "all", "--out", str(out), "--seed", str(seed), "--rows", str(rows)]) == 0
    return {task: (out / f"{task}.jsonl").read_bytes() for task in DEMO_TASKS}


def test_generation_is_deterministic_per_seed(tmp_path):
    first = _generate(tmp_path / "a", seed=0, rows=50)
    again = _generate(tmp_path / "b", seed=0, rows=50)
    other = _generate(tmp_path / "c", seed=1, rows=50)
    for task in DEMO_TASKS:
        assert first[task] == again[task]
        assert first[task] != other[task]
        assert first[task].count(b"\n") == 50


@pytest.mark.parametrize("task", DEMO_TASKS)
def test_generator_functions_label_with_noise_and_keep_meta(task):
    records = generate_task(task, seed=3, n=200)
    assert len(records) == 200
    assert [r.row for r in records] == [r.row for r in generate_task(task, seed=3, n=200)]
    flipped = sum(r.meta[FLIP_KEY[task]] for r in records)
    assert flipped == 8  # exactly round(200 * 4%) primary labels are noised


def test_shipped_files_are_what_the_generator_writes(tmp_path):
    """The documented command (``--task all --seed 0``, default row counts) reproduces the shipped bytes.

    ``--rows N`` is not a prefix of the full files (label calibration uses every row), so the full files
    are regenerated; that takes a few seconds.
    """
    assert main(["--task", "all", "--out", str(tmp_path), "--seed", "0"]) == 0
    for task in DEMO_TASKS:
        assert (tmp_path / f"{task}.jsonl").read_bytes() == demo_path(task).read_bytes(), task


@pytest.mark.parametrize("task", DEMO_TASKS)
def test_text_and_labels_are_unchanged_by_the_field_columns(shipped, task):
    expected, columns = TEXT_AND_LABEL_SHA256[task]
    digest = hashlib.sha256()
    for row in shipped[task]:
        kept = {name: row[name] for name in columns}
        digest.update(json.dumps(kept, ensure_ascii=False, sort_keys=True).encode() + b"\n")
    assert digest.hexdigest() == expected


@pytest.mark.parametrize("task", sorted(FIELDS))
def test_field_columns_have_types_and_5_to_15_percent_missing(shipped, task):
    columns, categorical, required = FIELDS[task]
    rows = shipped[task]
    for name in columns:
        values = [row[name] for row in rows]
        present = [v for v in values if v is not None]
        missing = 1 - len(present) / len(values)
        if name in required:
            assert missing == 0, name
        else:
            assert 0.05 <= missing <= 0.15, (name, missing)
        if name in categorical:
            assert all(isinstance(v, str) and v for v in present), name
            assert len(set(present)) >= 2, name
        else:
            assert all(isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 for v in present), name
            assert len(set(present)) >= 2, name
    cells = [row[name] is None for row in rows for name in columns]
    assert 0.04 <= sum(cells) / len(cells) <= 0.15


def _spearman(x: list[float], y: list[float]) -> float:
    rank = lambda v: np.argsort(np.argsort(np.asarray(v, dtype=float)))  # noqa: E731
    return float(np.corrcoef(rank(x), rank(y))[0, 1])


def test_credit_fields_come_from_the_same_applicant_with_noise():
    records = generate_task("credit_text")
    rows = [r for r in records if r.row["revolving_utilization"] is not None and r.row["annual_income"] is not None]
    # Same latent factors: bureau utilisation and delinquencies rise with the true default probability.
    p = [r.meta["p_default"] for r in rows]
    assert _spearman([r.row["revolving_utilization"] for r in rows], p) > 0.2
    assert _spearman([r.row["delinquencies_24m"] for r in rows], p) > 0.2
    # Stated figures are noisy: the loan-to-stated-income ratio tracks the generator's true ratio, not exactly.
    lti = [r.row["loan_amount"] / max(r.row["annual_income"], 6000) for r in rows]
    true_lti = [r.meta["lti"] for r in rows]
    assert 0.8 < _spearman(lti, true_lti) < 0.999
    assert any(abs(a - b) / b > 0.1 for a, b in zip(lti, true_lti, strict=True))


