"""Text + structured fields in one model: preprocessing fitted on train, fusion in the head, save/reload, predict."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from conftest import make_credit_records, write_jsonl
from runs import train_tiny_run

from finrisk_nlp.data.fields import MISSING_INDEX, UNKNOWN_INDEX, FieldPreprocessor
from finrisk_nlp.errors import DataError


def field_records(n: int = 48, seed: int = 0) -> list[dict]:
    """Credit rows whose fields carry signal too: defaults have high debt to income and sit mostly in 'north'."""
    rng = random.Random(seed)
    rows = make_credit_records(n, seed)
    for i, row in enumerate(rows):
        risky = row["outcome"] == "default"
        income = rng.uniform(2000, 9000) * (10 if i % 7 == 0 else 1)  # heavy tail
        row["income"] = None if i % 11 == 5 else round(income, 2)
        row["debt"] = round(income * (rng.uniform(0.5, 0.9) if risky else rng.uniform(0.05, 0.3)), 2)
        row["segment"] = rng.choice(["retail", "sme"] if risky else ["retail", "premium"])
        if i % 13 == 4:
            row["segment"] = ""
    return rows


@pytest.fixture(scope="module")
def field_run(tmp_path_factory, tiny_model_dir):
    root = tmp_path_factory.mktemp("fields")
    data = write_jsonl(root / "loans.jsonl", field_records())
    return train_tiny_run(tiny_model_dir, root / "run", "train.epochs=2", "data.feature_columns=[income,debt,segment]",
                          "model.fusion=concat", data=data)


def test_preprocessing_is_fitted_on_train_and_round_trips_through_json():
    rows = field_records()
    columns = {c: [r[c] for r in rows] for c in ("income", "debt", "segment")}
    prep = FieldPreprocessor.fit(columns, ["income", "debt", "segment"], None, "loans.jsonl")
    kinds = {s.name: s.kind for s in prep.specs}
    assert kinds == {"income": "numeric", "debt": "numeric", "segment": "categorical"}
    income = prep.specs[0]
    expected_rate = sum(r["income"] is None for r in rows) / 48
    assert income.log and income.stats["missing_rate"] == pytest.approx(expected_rate, abs=1e-6)
    again = FieldPreprocessor.from_dict(json.loads(json.dumps(prep.to_dict())))
    probe = rows[:6] + [{"income": "1200", "debt": None, "segment": "platinum"}, None]
    a, b = prep.transform(probe), again.transform(probe)
    np.testing.assert_array_equal(a.numeric, b.numeric)
    np.testing.assert_array_equal(a.categorical, b.categorical)
    # An unseen category goes to the unknown bucket and is counted; a missing one to its own index.
    assert a.categorical[6, 0] == UNKNOWN_INDEX and a.unseen == {"segment": 1}
    assert a.numeric[6, 3] == 1.0 and a.numeric[6, 1] == 0.0  # debt missing: indicator set, imputed to the median
    assert a.present.tolist() == [True] * 7 + [False] and a.missing[7] == ["income", "debt", "segment"]
    blank = [i for i, r in enumerate(rows[:6]) if r["segment"] == ""]
    assert all(a.categorical[i, 0] == MISSING_INDEX for i in blank)


def test_non_numeric_value_in_a_numeric_field_names_column_and_rows():
    prep = FieldPreprocessor.fit({"income": [1.0, 2.0, 3.0]}, ["income"], [], "train.csv")
    with pytest.raises(DataError, match=r"field 'income' is numeric.*row 2 \('n/a'\)"):
        prep.transform([{"income": 1}, {"income": "n/a"}], "scores.csv")
    with pytest.raises(DataError, match=r"\['salary'\].*not in the data"):
        FieldPreprocessor.fit({"income": [1.0]}, ["income", "salary"], None, "train.csv")


def test_field_config_is_checked():
    from finrisk_nlp.config import load_config
    from finrisk_nlp.errors import ConfigError

    with pytest.raises(ConfigError, match=r"field_dropout must be in \[0, 1\)"):
        load_config(None, ["model.field_dropout=1.0"])
    with pytest.raises(ConfigError, match=r"categorical_columns names \['region'\]"):
        load_config(None, ["data.feature_columns=[income]", "data.categorical_columns=[region]"])


def test_unknown_field_column_stops_training_naming_it(tmp_path, tiny_model_dir, caplog):
    from conftest import REPO, tiny_overrides

    from finrisk_nlp.cli.recipe import run_recipe

    data = write_jsonl(tmp_path / "loans.jsonl", field_records())
    code = run_recipe(tiny_overrides(tiny_model_dir, data, tmp_path / "run") + ["data.feature_columns=[salary]"],
                      REPO / "recipes" / "configs" / "credit_text.yaml")
    assert code == 2 and "['salary']" in caplog.text and not (tmp_path / "run" / "model").exists()


def test_field_model_saves_reloads_identically_and_predicts_records(field_run):
    from finrisk_nlp.serving.predictor import Predictor

    meta = json.loads((field_run / "model" / "finrisk_model.json").read_text())
    assert [f["name"] for f in meta["extra"]["fields"]["fields"]] == ["income", "debt", "segment"]
    assert meta["head"]["fusion"] == "concat"
    records = field_records(8, seed=3)
    first = Predictor.load(field_run).predict(records)
    second = Predictor.load(field_run).predict(records)
    assert [r["probabilities"] for r in first] == [r["probabilities"] for r in second]
    # The fields reach the head: changing one changes the score.
    changed = [{**r, "debt": (r["debt"] or 0) * 5, "segment": "premium"} for r in records]
    after = Predictor.load(field_run).predict(changed)
    assert any(abs(a["probabilities"]["default"] - b["probabilities"]["default"]) > 1e-6
               for a, b in zip(first, after, strict=True))
    odd = Predictor.load(field_run).predict([{**records[0], "segment": "platinum", "income": None}])[0]
    assert odd["unseen_categories"] == ["segment"] and odd["missing_fields"] == ["income"]


def test_report_explains_fields_by_shapley_values_that_add_up(field_run):
    from finrisk_nlp.evaluation.explain import explain, field_shapley
    from finrisk_nlp.serving.predictor import Predictor

    # Exact Shapley values of a known game: v(S) = sum of weights in S + 2 * [0 and 1 both in S].
    game = field_shapley(lambda m: m @ np.array([1.0, 2.0, 3.0]) + 2.0 * (m[:, 0] & m[:, 1]), 3)
    np.testing.assert_allclose(game, [2.0, 3.0, 3.0])
    metrics = json.loads((field_run / "metrics.json").read_text())
    assert {f["name"] for f in metrics["explanations"][0]["fields"]} == {"income", "debt", "segment"}
    assert "fields (exact Shapley" in (field_run / "report.md").read_text()
    predictor = Predictor.load(field_run)
    record = field_records(4, seed=9)[0]
    (exp,) = explain(predictor, [record], n_steps=4)
    # Efficiency: the field scores add up to the (uncalibrated) probability's change from every field missing.
    bare = {**record, "income": None, "debt": None, "segment": None}
    total = sum(f.score for f in exp.fields)
    assert total == pytest.approx(exp.probabilities[exp.label] - p_uncalibrated(predictor, bare, exp.label), abs=1e-5)
    assert p_uncalibrated(predictor, record, exp.label) == pytest.approx(exp.probabilities[exp.label], abs=1e-5)


def p_uncalibrated(predictor, record, label):
    import torch

    from finrisk_nlp.serving.predictor import field_tensors

    texts, fields = predictor.split_records([record])
    columns, doc_index = predictor.encode(texts)
    batch = predictor.tokenizer.pad([{k: v[0] for k, v in columns.items()}], return_tensors="pt")
    with torch.no_grad():
        vectors = predictor.window_vectors(batch)
        logits = predictor.model.classify(vectors, torch.as_tensor(doc_index), 1, task=predictor.task.name,
                                          **field_tensors(fields, vectors.device))
    return float(torch.softmax(logits, -1)[0, predictor.task.labels.index(label)])


def test_bare_documents_are_refused_without_field_dropout(field_run):
    from finrisk_nlp.serving.predictor import Predictor

    with pytest.raises(DataError, match=r"reads the fields \['income', 'debt', 'segment'\].*1 row\(s\) \(2\)"):
        Predictor.load(field_run).predict([field_records(1)[0], "Applicant lost job."])


def test_field_dropout_model_scores_bare_documents_saying_which_fields_were_absent(tmp_path, tiny_model_dir):
    from finrisk_nlp.serving.predictor import Predictor

    data = write_jsonl(tmp_path / "loans.jsonl", field_records())
    run = train_tiny_run(tiny_model_dir, tmp_path / "run", "data.feature_columns=[income,debt,segment]",
                         "model.fusion=gated", "model.field_dropout=0.3", data=data)
    out = Predictor.load(run).predict(["Applicant lost job, missed payments.", field_records(1)[0]])
    assert out[0]["missing_fields"] == ["income", "debt", "segment"]
    assert out[1]["missing_fields"] == [] and 0.0 <= out[0]["probabilities"]["default"] <= 1.0
