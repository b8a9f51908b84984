"""The benchmark scripts run end to end in --quick mode on the tiny model and print their tables."""

import importlib
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO, make_credit_records, write_jsonl

BENCHMARKS = REPO / "benchmarks"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench_data")
    write_jsonl(out / "credit_text.jsonl", make_credit_records(160))
    return out


def run_script(name, *args):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, str(BENCHMARKS / name), *map(str, args)], capture_output=True,
                          text=True, env=env, cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def table_rows(text, which=0):
    """Data rows of the ``which``-th markdown table in ``text``, as lists of cells."""
    tables, current = [], []
    for line in [*text.splitlines(), ""]:
        if line.startswith("| "):
            current.append(line)
        elif current:
            tables, current = [*tables, current], []
    return [[c.strip() for c in ln.strip("|").split("|")] for ln in tables[which][2:]]  # skip header and alignment


@pytest.mark.e2e
def test_quality_quick_reports_every_method_on_the_same_split(tiny_model_dir, data_dir, tmp_path):
    out = tmp_path / "quality.md"
    stdout = run_script("quality.py", "--quick", "--model", tiny_model_dir, "--data-dir", data_dir, "--out", out)
    rows = table_rows(stdout)
    assert [r[2] for r in rows] == ["tfidf", "lora", "full"]
    assert {r[0] for r in rows} == {"credit_text"} and len({r[1] for r in rows}) == 1  # one split for all
    for row in rows:
        for cell in (row[4], row[6], row[7], row[8]):  # macro-F1 [CI] at argmax and F1 thr, PR-AUC [CI], recall
            low, high = _interval(cell)
            assert 0.0 <= low <= _value(cell) <= high <= 1.0
    lora, full = (int(r[3].replace(",", "")) for r in rows[1:])
    assert 0 < lora < full  # LoRA trains a fraction of the weights
    assert table_rows(out.read_text()) == rows
    gaps = table_rows(stdout, which=1)
    assert [g[1] for g in gaps] == ["lora - tfidf", "full - tfidf"]
    for gap, row in zip(gaps, rows[1:]):  # finrisk minus TF-IDF, from the rounded table cells
        assert float(gap[2]) == pytest.approx(_value(row[4]) - _value(rows[0][4]), abs=0.0015)
        assert gap[3] == "n/a"  # no ceiling (the data is not the generator's) to measure the room against


@pytest.mark.e2e
def test_quality_reads_own_files_and_prints_the_gap(tiny_model_dir, tmp_path):
    own = tmp_path / "own"
    own.mkdir()
    rows = [{"narrative": r["text"], "flag": "bad" if r["outcome"] == "default" else "good"}
            for r in make_credit_records(120)]
    write_jsonl(own / "loans.jsonl", rows)
    stdout = run_script("quality.py", "--quick", "--model", tiny_model_dir, "--data-dir", own, "--methods",
                        "tfidf,lora", "--text-column", "narrative", "--label-column", "flag", "--positive-label", "bad")
    table = table_rows(stdout)
    assert [(r[0], r[2]) for r in table] == [("loans", "tfidf"), ("loans", "lora")]
    assert all(0.0 <= _value(c) <= 1.0 for r in table for c in (r[4], r[6], r[7], r[8]))
    (gap,) = table_rows(stdout, which=1)
    assert gap[:2] == ["loans", "lora - tfidf"]
    assert float(gap[4]) == pytest.approx(_value(table[1][7]) - _value(table[0][7]), abs=0.0015)  # PR-AUC gap
    # The paired bootstrap of the same comparison: a difference inside its own interval, and a p-value.
    diff, low, high, p = _numbers_after("loans: lora - tfidf pr_auc", stdout)
    assert -1.0 <= low <= diff <= high <= 1.0 and 0.0 <= p <= 1.0
    # ... and of macro-F1 with both at their validation F1 threshold: the difference of that column's cells
    diff, low, high, p = _numbers_after("loans: lora - tfidf macro_f1 @ F1 thr", stdout)
    assert diff == pytest.approx(_value(table[1][6]) - _value(table[0][6]), abs=0.0015)
    assert -1.0 <= low <= diff <= high <= 1.0 and 0.0 <= p <= 1.0
    # Own data trains with the generic recipe (train.epochs=auto): one validation score per epoch it ran.
    curve = _numbers_after("loans: lora validation macro_f1 per epoch", stdout, end=";")
    assert curve and all(0.0 <= score <= 1.0 for score in curve)


def _numbers_after(prefix: str, text: str, end: str = "\n") -> list[float]:
    """The decimals ("+0.012", "0.5", not "95%") of the one output line starting with ``prefix``, up to ``end``."""
    (line,) = [ln for ln in text.splitlines() if ln.startswith(prefix)]
    return [float(x) for x in re.findall(r"(?<![\w.])[+-]?\d+\.\d+", line[len(prefix):].split(end)[0])]


def _value(cell: str) -> float:
    """The estimate of a "0.712 [0.650, 0.770]" cell (or a plain number)."""
    return float(cell.split()[0])


def _interval(cell: str) -> tuple[float, float]:
    if "[" not in cell:
        return _value(cell), _value(cell)
    low, high = cell.split("[", 1)[1].rstrip("]").split(",")
    return float(low), float(high)


def test_quality_own_data_needs_files(tmp_path):
    done = subprocess.run([sys.executable, str(BENCHMARKS / "quality.py"), "--data-dir", str(tmp_path),
                           "--label-column", "flag"], capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode != 0
    assert (f"error: --label-column reads every .csv/.jsonl file in --data-dir, but {tmp_path} has none; pass a "
            "directory holding your labelled files") in done.stderr


@pytest.fixture()
def quality(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    return importlib.import_module("quality")


def test_best_achievable_uses_the_generator_probability_of_each_test_row(quality):
    import datasets

    from finrisk_nlp.data.demo import load_demo
    from finrisk_nlp.tasks import get_task
    from tools.demo_data.generate import LABEL_NOISE_RATE, generate_task

    task = get_task("aml_alert")
    rows = load_demo("aml_alert")[100:160]
    probs, _ = quality.generator_probabilities(task, datasets.Dataset.from_list(rows))
    meta = {r.row["id"]: r.meta["p_escalate"] for r in generate_task("aml_alert")}
    expected = [LABEL_NOISE_RATE + (1 - 2 * LABEL_NOISE_RATE) * meta[r["id"]] for r in rows]
    np.testing.assert_allclose(probs[:, task.positive_index], expected)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)

    rows[0]["disposition"] = "close" if rows[0]["disposition"] == "escalate" else "escalate"
    probs, why = quality.generator_probabilities(task, datasets.Dataset.from_list(rows))
    assert probs is None and isinstance(why, str) and why  # no row, and a reason to print in its place


def test_the_f1_rule_flags_from_the_validation_threshold_and_ignores_calibration(quality):
    from finrisk_nlp.evaluation.metrics import compute_metrics
    from finrisk_nlp.tasks import get_task

    task = get_task("aml_alert")
    pos = task.positive_index
    rng = np.random.default_rng(0)

    def split(n):
        labels = np.where(rng.random(n) < 0.2, pos, 1 - pos)
        score = 1 / (1 + np.exp(-(1.5 * (labels == pos) + rng.normal(size=n) - 2.0)))  # risk probability, < 0.5
        probs = np.zeros((n, 2))
        probs[:, pos], probs[:, 1 - pos] = score, 1 - score
        return probs, labels

    (val, val_labels), (test, labels) = split(400), split(400)
    ruled = quality.at_f1_threshold(test, val, val_labels, task)
    cut = quality.tune_threshold(val[:, pos], (val_labels == pos).astype(int), quality.parse_target("f1"))["value"]
    assert 0.0 < cut < 0.5  # argmax would flag fewer than the F1 rule does
    np.testing.assert_array_equal(ruled[:, pos] == 1, test[:, pos] >= cut)
    np.testing.assert_array_equal(ruled.sum(axis=1), 1.0)

    def shifted(probs, by):  # the same ranking at another level: what calibration to another prevalence does
        logit = np.log(probs[:, pos] / probs[:, 1 - pos]) + by
        out = np.zeros_like(probs)
        out[:, pos] = 1 / (1 + np.exp(-logit))
        out[:, 1 - pos] = 1 - out[:, pos]
        return out

    raised = quality.at_f1_threshold(shifted(test, 2.0), shifted(val, 2.0), val_labels, task)
    assert compute_metrics(shifted(test, 2.0), labels, task)["macro_f1"] != compute_metrics(test, labels, task)[
        "macro_f1"]  # argmax decides differently at the other level
    np.testing.assert_array_equal(raised, ruled)  # the F1 rule does not


def test_best_achievable_for_memo_categories_is_the_clean_category(quality):
    import datasets

    from finrisk_nlp.data.demo import load_demo
    from finrisk_nlp.tasks import get_task
    from tools.demo_data.generate import generate_task

    task = get_task("transaction_memo")
    rows = load_demo("transaction_memo")[:200]
    probs, _ = quality.generator_probabilities(task, datasets.Dataset.from_list(rows))
    clean = {r.row["id"]: r.meta["clean_category"] for r in generate_task("transaction_memo")}
    assert [task.labels[i] for i in probs.argmax(axis=1)] == [clean[r["id"]] for r in rows]
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)


@pytest.mark.e2e
def test_throughput_quick_compares_finrisk_with_trainer(tiny_model_dir, data_dir, tmp_path):
    out = tmp_path / "throughput.md"
    stdout = run_script("train_throughput.py", "--quick", "--model", tiny_model_dir, "--data-dir", data_dir,
                        "--out", out)
    rows = table_rows(stdout)
    assert [r[0] for r in rows] == ["finrisk", "trainer"]
    assert all(float(r[1]) > 0 and float(r[3]) > 0 for r in rows)
    for row in rows:  # RSS when training starts, then the peak by the end of the last step
        assert 0 < float(row[4]) <= float(row[5])
        assert int(row[6].replace(",", "")) > 0
    assert rows[0][7].startswith("1.00") and float(rows[1][7]) > 0
    assert re.search(r"load average \(1/5/15 min\) [\d./]+ before", stdout)
    assert table_rows(out.read_text()) == rows


def test_throughput_rejects_unknown_method(tiny_model_dir, data_dir):
    done = subprocess.run([sys.executable, str(BENCHMARKS / "train_throughput.py"), "--methods", "finrisk,keras",
                           "--model", str(tiny_model_dir), "--data-dir", str(data_dir)],
                          capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode != 0 and "keras" in done.stderr


def test_decision_checks_find_the_optimum_and_report_the_cost_of_the_decisions(tmp_path):
    out = run_script("decision_checks.py", "--cases", 40, "--repeats", 1, "--out", tmp_path / "d.md")
    now, before = table_rows(out, 0)
    assert now[1] == "40/40" and int(before[1].split("/")[0]) <= 40  # every cut point finds the optimum each time
    sample = table_rows(out, 1)[0]
    assert sample[4] == sample[5]  # the joint search reports the cost of its own decisions on validation
    saved = (tmp_path / "d.md").read_text()
    assert table_rows(saved, 0) == [now, before] and table_rows(saved, 1)[0] == sample
