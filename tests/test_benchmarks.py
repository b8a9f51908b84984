"""The benchmark scripts run end to end in --quick mode on the tiny model and print their tables."""

import os
import subprocess
import sys

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


def table_rows(text):
    """Data rows of the markdown table in ``text``, as lists of cells."""
    lines = [ln for ln in text.splitlines() if ln.startswith("| ")]
    return [[c.strip() for c in ln.strip("|").split("|")] for ln in lines[2:]]  # skip header and alignment


@pytest.mark.e2e
def test_quality_quick_reports_every_method_on_the_same_split(tiny_model_dir, data_dir, tmp_path):
    out = tmp_path / "quality.md"
    stdout = run_script("quality.py", "--quick", "--model", tiny_model_dir, "--data-dir", data_dir, "--out", out)
    rows = table_rows(stdout)
    assert [r[2] for r in rows] == ["tfidf", "lora", "full"]
    assert {r[0] for r in rows} == {"credit_text"} and len({r[1] for r in rows}) == 1  # one split for all
    for row in rows:
        for cell in row[4:7]:  # macro-F1, PR-AUC, recall: probabilities-based scores in [0, 1]
            assert 0.0 <= float(cell) <= 1.0
    lora, full = (int(r[3].replace(",", "")) for r in rows[1:])
    assert 0 < lora < full  # LoRA trains a fraction of the weights
    assert table_rows(out.read_text()) == rows


@pytest.mark.e2e
def test_throughput_quick_compares_finrisk_with_trainer(tiny_model_dir, data_dir, tmp_path):
    out = tmp_path / "throughput.md"
    stdout = run_script("train_throughput.py", "--quick", "--model", tiny_model_dir, "--data-dir", data_dir,
                        "--out", out)
    rows = table_rows(stdout)
    assert [r[0] for r in rows] == ["finrisk", "trainer"]
    assert all(float(r[1]) > 0 and float(r[3]) > 0 and float(r[4]) >= 0 for r in rows)
    assert rows[0][5].startswith("1.00") and float(rows[1][5]) > 0
    assert table_rows(out.read_text()) == rows


def test_throughput_rejects_unknown_method(tiny_model_dir, data_dir):
    done = subprocess.run([sys.executable, str(BENCHMARKS / "train_throughput.py"), "--methods", "finrisk,keras",
                           "--model", str(tiny_model_dir), "--data-dir", str(data_dir)],
                          capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode != 0 and "keras" in done.stderr
