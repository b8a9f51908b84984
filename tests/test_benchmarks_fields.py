"""The scikit-learn field rows of ``benchmarks/quality.py`` (fields-only, fields + TF-IDF stack) on a small table."""

import importlib

import datasets
import numpy as np
import pytest
from conftest import REPO

from finrisk_nlp.data.demo import load_demo
from finrisk_nlp.tasks import get_task
from tools.demo_data.credit_fields import CREDIT_CATEGORICAL_FIELDS, CREDIT_FIELDS


@pytest.fixture(scope="module")
def baselines():
    import sys

    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        return importlib.import_module("field_baselines")
    finally:
        sys.path.remove(str(REPO / "benchmarks"))


@pytest.fixture(scope="module")
def splits():
    """400 / 150 / 150 shipped credit rows (so the fields carry their real signal), with a ``labels`` column."""
    task = get_task("credit_text")
    rows = [{**r, "labels": task.labels.index(r["outcome"])} for r in load_demo("credit_text")[:700]]
    rows[-1]["purpose"] = "yacht"  # a category train never saw
    return datasets.DatasetDict(train=datasets.Dataset.from_list(rows[:400]),
                                validation=datasets.Dataset.from_list(rows[400:550]),
                                test=datasets.Dataset.from_list(rows[550:]))


def _check(result, n_test):
    probs = result["probs"]
    assert probs.shape == (n_test, 2)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    for key in ("macro_f1", "pr_auc"):
        assert 0.0 <= result["test"][key] <= 1.0
    assert result["rule"].startswith("argmax (")


def test_infer_categorical_takes_declared_or_string_columns(baselines, splits):
    columns = list(CREDIT_FIELDS)
    assert baselines.infer_categorical(splits, columns, None) == list(CREDIT_CATEGORICAL_FIELDS)
    assert baselines.infer_categorical(splits, columns, ["purpose"]) == ["purpose"]


def test_field_frame_keeps_missing_values_missing(baselines, splits):
    frame = baselines.field_frame(splits["train"], list(CREDIT_FIELDS), list(CREDIT_CATEGORICAL_FIELDS))
    raw = splits["train"]["annual_income"]
    assert frame["annual_income"].isna().sum() == sum(v is None for v in raw) > 0
    assert frame["annual_income"].dtype == float
    assert frame["employment_type"].isna().sum() == sum(v is None for v in splits["train"]["employment_type"])


@pytest.mark.parametrize("method", ["run_fields_hgb", "run_fields_lr"])
def test_fields_only_models_score_the_test_split_above_chance(baselines, splits, method):
    task = get_task("credit_text")
    result = getattr(baselines, method)(task, splits, list(CREDIT_FIELDS), list(CREDIT_CATEGORICAL_FIELDS))
    _check(result, len(splits["test"]))
    prevalence = float(np.mean(splits["test"]["labels"]))
    assert result["test"]["pr_auc"] > prevalence + 0.1  # the fields carry signal about the outcome
    trainable = result["parameters"]["trainable"]
    assert trainable is None if method == "run_fields_hgb" else trainable > len(CREDIT_FIELDS)


def test_stack_adds_the_text_log_odds_as_a_feature(baselines, splits):
    task = get_task("credit_text")
    result = baselines.run_fields_tfidf_stack(task, splits, list(CREDIT_FIELDS), list(CREDIT_CATEGORICAL_FIELDS),
                                              text_c=1.0)
    _check(result, len(splits["test"]))
    assert result["rule"].startswith("argmax (text C=1, ")
