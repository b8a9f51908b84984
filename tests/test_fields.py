"""Text + structured fields in one model: preprocessing fitted on train, fusion in the head, save/reload, predict."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from conftest import REPO, make_credit_records, write_jsonl
from runs import train_tiny_run

from finrisk_nlp.data.fields import MISSING_INDEX, UNKNOWN_INDEX, FieldPreprocessor
from finrisk_nlp.errors import DataError
from finrisk_nlp.evaluation.run_metrics import task_view

REPO_MULTITASK = REPO / "recipes" / "configs" / "multitask.yaml"


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


@pytest.fixture(scope="module")
def dropout_run(tmp_path_factory, tiny_model_dir):
    root = tmp_path_factory.mktemp("fields-dropout")
    data = write_jsonl(root / "loans.jsonl", field_records())
    return train_tiny_run(tiny_model_dir, root / "run", "data.feature_columns=[income,debt,segment]",
                          "model.fusion=gated", "model.field_dropout=0.3", data=data)


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
    from conftest import tiny_overrides

    from finrisk_nlp.cli.recipe import run_recipe

    data = write_jsonl(tmp_path / "loans.jsonl", field_records())
    code = run_recipe(tiny_overrides(tiny_model_dir, data, tmp_path / "run") + ["data.feature_columns=[salary]"],
                      REPO / "recipes" / "configs" / "credit_text.yaml")
    assert code == 2 and "['salary']" in caplog.text and not (tmp_path / "run" / "model").exists()


def test_field_model_saves_reloads_identically_and_predicts_records(field_run):
    from finrisk_nlp.inference.predictor import Predictor

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
    from finrisk_nlp.inference.predictor import Predictor

    # Exact Shapley values of a known game: v(S) = sum of weights in S + 2 * [0 and 1 both in S].
    game = field_shapley(lambda m: m @ np.array([1.0, 2.0, 3.0]) + 2.0 * (m[:, 0] & m[:, 1]), 3)
    np.testing.assert_allclose(game, [2.0, 3.0, 3.0])
    metrics = task_view(json.loads((field_run / "metrics.json").read_text()))
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

    texts, fields = predictor.split_records([record])
    columns, doc_index = predictor.encode(texts)
    batch = predictor.tokenizer.pad([{k: v[0] for k, v in columns.items()}], return_tensors="pt")
    with torch.no_grad():
        vectors = predictor.window_vectors(batch)
        logits = predictor.model.classify(vectors, torch.as_tensor(doc_index), 1, task=predictor.task.name,
                                          **fields.tensors(vectors.device))
    return float(torch.softmax(logits, -1)[0, predictor.task.labels.index(label)])


def test_bare_documents_are_refused_without_field_dropout(field_run):
    from finrisk_nlp.inference.predictor import Predictor

    with pytest.raises(DataError, match=r"reads the fields \['income', 'debt', 'segment'\].*1 row\(s\) \(2\)"):
        Predictor.load(field_run).predict([field_records(1)[0], "Applicant lost job."])


def test_field_dropout_model_scores_bare_documents_saying_which_fields_were_absent(dropout_run):
    from finrisk_nlp.inference.predictor import Predictor

    out = Predictor.load(dropout_run).predict(["Applicant lost job, missed payments.", field_records(1)[0]])
    assert out[0]["missing_fields"] == ["income", "debt", "segment"]
    assert out[1]["missing_fields"] == [] and 0.0 <= out[0]["probabilities"]["default"] <= 1.0


def test_predict_command_takes_json_records_and_refuses_bad_values(field_run, tmp_path, capsys, caplog):
    from finrisk_nlp.cli.main import main as cli_main

    records = field_records(3, seed=5)
    path = write_jsonl(tmp_path / "apps.jsonl", records[1:])
    assert cli_main(["predict", str(field_run), json.dumps(records[0]), "--records", str(path), "--json"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [x["text"] for x in lines] == [r["text"] for r in records] and "missing_fields" in lines[0]
    bad = write_jsonl(tmp_path / "bad.jsonl", [{**records[0], "debt": "lots"}])
    assert cli_main(["predict", str(field_run), "--records", str(bad)]) == 2
    assert "field 'debt' is numeric" in caplog.text and "row 1 ('lots')" in caplog.text


def _score(run, inputs, out, *extra):
    from finrisk_nlp.cli.score import main as score_main

    return score_main([str(run), *map(str, inputs), "--out", str(out), "--cpu", "--batch-size", "4", *extra])


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_scoring_a_table_with_fields_matches_predictor(field_run, tmp_path, suffix, caplog):
    import pandas as pd
    import pyarrow.parquet as pq

    from finrisk_nlp.inference.predictor import Predictor

    records = field_records(10, seed=7)
    records[2]["segment"] = "platinum"
    frame = pd.DataFrame(records)
    table = tmp_path / f"apps{suffix}"
    {".csv": lambda: frame.to_csv(table, index=False), ".jsonl": lambda: write_jsonl(table, records),
     ".parquet": lambda: frame.to_parquet(table)}[suffix]()
    out = tmp_path / "scores.parquet"
    assert _score(field_run, [table], out) == 0
    assert "rows per field: {'segment': 1}" in caplog.text
    scored = pq.read_table(out).to_pandas()
    expected = Predictor.load(field_run).predict(records)
    np.testing.assert_allclose(scored["p_default"], [r["probabilities"]["default"] for r in expected], atol=1e-5)
    assert scored["unseen_categories"].tolist()[2] == "segment"
    assert scored["missing_fields"].tolist() == [";".join(r["missing_fields"]) for r in expected]


def test_scoring_refuses_bad_field_inputs_before_writing_anything(field_run, dropout_run, tmp_path, caplog):
    import pyarrow.parquet as pq

    records = field_records(6, seed=8)
    no_debt = write_jsonl(tmp_path / "no_debt.jsonl", [{k: v for k, v in r.items() if k != "debt"} for r in records])
    out = tmp_path / "scores.parquet"
    assert _score(field_run, [no_debt], out) == 2
    assert "['debt'] is not a column of this table" in caplog.text
    bad = write_jsonl(tmp_path / "bad.jsonl", [{**r, "income": "12k" if i in (1, 4) else r["income"]}
                                              for i, r in enumerate(records)])
    assert _score(field_run, [bad], out) == 2
    assert "field 'income' is numeric, but 2 row(s) hold something else: row 2 ('12k'), row 5 ('12k')" in caplog.text
    texts = tmp_path / "docs"
    texts.mkdir()
    (texts / "a.txt").write_text("Applicant lost job, missed payments.")
    bare = write_jsonl(tmp_path / "bare.jsonl", [{"text": r["text"]} for r in records])
    assert _score(field_run, [bare], out) == 2 and _score(field_run, [texts], out) == 2
    assert "trained without field dropout" in caplog.text
    assert not out.exists() and not list(tmp_path.glob("scores.parquet.parts/part-*"))
    # A model trained with field dropout scores bare documents and says which fields each row lacked.
    assert _score(dropout_run, [bare, texts], out) == 0
    scored = pq.read_table(out).to_pandas()
    assert len(scored) == 7 and set(scored["missing_fields"]) == {"income;debt;segment"}


def test_serve_takes_validated_records_described_in_openapi(field_run):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from finrisk_nlp.inference.predictor import Predictor
    from finrisk_nlp.service.rest import build_app

    predictor = Predictor.load(field_run)
    records = [{k: r[k] for k in ("text", "income", "debt", "segment")} for r in field_records(4, seed=11)]
    with TestClient(build_app(predictor, {"ref": "x", "version": "1", "fingerprint": "f"}, docs=True)) as client:
        ok = client.post("/predict", json={"records": records})
        typo = client.post("/predict", json={"records": [{**records[0], "debts": 1}]})
        not_number = client.post("/predict", json={"records": [{**records[0], "income": "a lot"}]})
        bare = client.post("/predict", json={"records": [{"text": "lost job"}]})
        schema = client.get("/openapi.json").json()
    assert ok.status_code == 200
    want = predictor.predict(records)
    np.testing.assert_allclose([p["probabilities"]["default"] for p in ok.json()["predictions"]],
                               [w["probabilities"]["default"] for w in want], atol=1e-6)
    assert typo.status_code == 422 and "debts" in typo.text
    assert not_number.status_code == 422 and "income" in not_number.text
    assert bare.status_code == 422 and "carry none of the fields" in bare.text
    record = schema["components"]["schemas"]["Record"]["properties"]
    assert set(record) == {"text", "income", "debt", "segment"} and "training range" in record["income"]["description"]


@pytest.mark.parametrize("fusion", ["concat", "gated"])
def test_numpy_head_with_fields_matches_the_torch_head(fusion):
    import torch

    from finrisk_nlp.inference.onnx_model import head_logits
    from finrisk_nlp.modeling.classifier import DocumentHead

    torch.manual_seed(0)
    head = DocumentHead(16, 2, "attention", 0.1, fields={"numeric_width": 4, "categories": [[5, 3]]},
                        fusion=fusion).eval()
    for param in head.parameters():
        torch.nn.init.normal_(param)
    vectors, doc_index = torch.randn(5, 16), torch.tensor([0, 1, 1, 2, 0])
    fields = {"field_numeric": torch.randn(3, 4), "field_categorical": torch.tensor([[0], [1], [4]]),
              "field_present": torch.tensor([1.0, 0.0, 1.0])}
    weights = {k: v.detach().numpy() for k, v in head.state_dict().items()}
    expected = head(vectors, doc_index, 3, **fields).detach().numpy()
    got = head_logits(weights, vectors.numpy(), doc_index.numpy(), 3, "attention",
                      {k: v.numpy() for k, v in fields.items()})
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_onnx_export_of_a_field_model_keeps_parity_over_the_fields(dropout_run, tmp_path):
    pytest.importorskip("onnxruntime")
    from finrisk_nlp.cli.main import main as cli_main
    from finrisk_nlp.inference.predictor import Predictor

    out = tmp_path / "onnx"
    assert cli_main(["export", str(dropout_run), "--format", "onnx", "--out", str(out)]) == 0
    manifest = json.loads((out / "export_manifest.json").read_text())
    assert manifest["parity"]["max_abs_logit_diff"] <= 1e-4
    records = field_records(6, seed=12)
    records[1]["segment"] = "platinum"
    records += ["Applicant lost job, missed payments."]  # a bare document (the model was trained with dropout)
    want = [r["probabilities"]["default"] for r in Predictor.load(dropout_run).predict(records)]
    got = [r["probabilities"]["default"] for r in Predictor.load(out, backend="onnx").predict(records)]
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_registry_and_model_card_list_the_fields_seen_in_training(field_run, tmp_path):
    from finrisk_nlp.registry.local import ModelRegistry

    registry = ModelRegistry(tmp_path / "registry")
    version = registry.publish(field_run, "credit-fields")
    info = registry.info("credit-fields", version)
    fields = {f["name"]: f for f in info["fields"]}
    assert fields["income"]["kind"] == "numeric" and fields["income"]["scaling"] == "signed log1p, then robust"
    assert fields["income"]["missing_rate"] > 0 and fields["income"]["min"] < fields["income"]["max"]
    assert fields["segment"]["kind"] == "categorical" and "retail" in fields["segment"]["top_categories"]
    card = (registry.version_dir("credit-fields", version) / "README.md").read_text()
    assert "## Structured fields" in card and "| `income` | numeric |" in card and "fusion `concat`" in card
    assert "fields (Shapley): `" in card


def test_multi_task_model_keeps_fields_per_task_through_save_and_predictor(tmp_path, tiny_model_dir):
    import torch

    from finrisk_nlp.config import load_config
    from finrisk_nlp.inference.predictor import Predictor
    from finrisk_nlp.modeling import build_model, load_model, save_model
    from finrisk_nlp.tasks import get_task
    from finrisk_nlp.training.engine import build_metadata

    cfg = load_config(REPO_MULTITASK, [f"model.name_or_path={tiny_model_dir}", "lora.r=4", "model.fusion=gated"])
    tasks = {name: get_task(name) for name in cfg.multitask.tasks}
    rows = field_records()
    prep = FieldPreprocessor.fit({c: [r[c] for r in rows] for c in ("income", "segment")}, ["income", "segment"],
                                 None, "loans")
    first = next(iter(tasks))
    model, tokenizer = build_model(cfg.model, cfg.lora, tasks, fields={first: prep.input_layout()})
    with torch.no_grad():
        for param in model.heads.parameters():
            param.normal_(0, 0.5)
    save_model(model.eval(), tokenizer, build_metadata(cfg, tasks, {first: prep}), tmp_path / "model")
    reloaded, _, meta = load_model(tmp_path / "model")
    assert list(meta.field_layouts()) == [first]
    torch.testing.assert_close(reloaded.heads.state_dict(), model.heads.state_dict())
    with_fields = Predictor.load(tmp_path / "model", task=first)
    other = Predictor.load(tmp_path / "model", task=list(tasks)[1])
    assert with_fields.field_names == ["income", "segment"] and other.field_names == []
    record = {"text": "late payment on the loan", "income": 5000, "segment": "sme"}
    a = with_fields.predict([record])[0]["probabilities"]
    b = with_fields.predict([{**record, "income": 500000}])[0]["probabilities"]
    assert a != b and other.predict(["cash at the atm"])[0]["probabilities"]


def test_field_scores_are_shown_in_terminal_html_and_markdown():
    from finrisk_nlp.evaluation.explain import (
        Explanation,
        FieldScore,
        WordScore,
        render_explanation_markdown,
        render_html,
        render_terminal,
    )

    exp = Explanation(text="lost job", label="default", predicted_label="default",
                      probabilities={"default": 0.8, "repaid": 0.2},
                      words=[WordScore("lost", 0, 4, 0.2), WordScore("job", 5, 8, 0.1)],
                      fields=[FieldScore("income", 1200.0, -0.05), FieldScore("debt", None, 0.3),
                              FieldScore("segment", "<b>sme</b>", 0.01)])
    terminal = render_terminal(exp, color=False)
    assert "fields (Shapley, toward default): debt=missing +0.300, income=1200.0 -0.050, segment=<b>sme</b> +0.010" \
        in terminal
    page = render_html([exp])
    assert "<td>debt</td><td>missing</td>" in page and "&lt;b&gt;sme&lt;/b&gt;" in page and "<b>sme</b>" not in page
    markdown = render_explanation_markdown([exp])
    assert "`debt`=missing +0.300" in markdown and exp.to_dict()["fields"][1] == {"name": "debt", "value": None,
                                                                                   "score": 0.3}


def test_validate_command_checks_the_fields(tmp_path, caplog):
    from finrisk_nlp.cli.main import main as cli_main

    rows = field_records()
    rows[7]["debt"] = "unknown"
    data = write_jsonl(tmp_path / "loans.jsonl", rows)
    args = ["validate", f"data.train_file={data}", "data.dedup=warn", "data.min_examples_per_class=2",
            "data.feature_columns=[income,debt,segment]"]
    assert cli_main(args) == 2
    assert "loans.jsonl: field 'debt' is numeric, but 1 row(s) hold something else: row 8 ('unknown')" in caplog.text
    rows[7]["debt"] = 100.0
    write_jsonl(data, rows)
    caplog.clear()
    caplog.set_level("INFO")
    assert cli_main(args) == 0 and "segment (categorical" in caplog.text
