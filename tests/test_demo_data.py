"""The shipped demo datasets: columns, labels, row counts, and that the generator reproduces them exactly."""

from __future__ import annotations

import pytest

from finrisk_nlp.data.demo import DEMO_TASKS, demo_path, load_demo
from finrisk_nlp.data.demo.generate import DEFAULT_ROWS, generate_task, main
from finrisk_nlp.tasks import get_task

# Columns and row counts as documented in finrisk_nlp/data/demo/README.md.
COLUMNS = {
    "credit_text": ["text", "outcome", "region", "channel", "id"],
    "transaction_memo": ["text", "category", "suspicious", "id"],
    "aml_alert": ["text", "disposition", "typologies", "region", "channel", "id"],
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
