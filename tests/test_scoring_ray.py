"""``finrisk score --engine ray``: same rows as the local scorer, restart after a killed driver, object stores,
a missing extra. One local Ray with 2 CPUs is started for the whole module."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from conftest import REPO
from runs import kill_once_a_part_is_written
from test_scoring import _errors, _expected, _id_table, _inputs, _many_docs, _score, archive_set  # noqa: F401

from finrisk_nlp.scoring.ray_engine import plan_read_units


@pytest.fixture(scope="module")
def ray_address():
    ray = pytest.importorskip("ray")
    pytest.importorskip("ray.data")
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray.get_runtime_context().gcs_address
    if started:
        ray.shutdown()


def _ray(*extra: str) -> tuple[str, ...]:
    return ("--engine", "ray", "--ray-readers", "1", "--ray-actors", "1", *extra)


def _same_rows(a_path: Path, b_path: Path) -> None:
    a, b = pq.read_table(a_path).to_pandas(), pq.read_table(b_path).to_pandas()
    assert list(a["doc_id"]) == list(b["doc_id"]) and list(a["decision"]) == list(b["decision"])
    assert list(a["num_chunks"]) == list(b["num_chunks"]) and list(a["truncated"]) == list(b["truncated"])
    np.testing.assert_allclose(a[["p_repaid", "p_default"]], b[["p_repaid", "p_default"]], atol=1e-6)
    assert _errors(a_path) == _errors(b_path)


def test_read_units_shard_containers_and_keep_input_order(archive_set, tmp_path):  # noqa: F811
    single = tmp_path / "one.txt"
    single.write_text("steady salary.")
    units = plan_read_units([str(archive_set["tree"]), str(single), str(archive_set["zip"]), str(single)], 3)
    assert [(u.item, u.shard, u.num_shards) for u in units] == [
        (0, 0, 3), (0, 1, 3), (0, 2, 3), (1, 0, 1), (2, 0, 3), (2, 1, 3), (2, 2, 3)]  # the repeated input once
    from finrisk_nlp.errors import DataError

    with pytest.raises(DataError, match=re.escape("does not exist; pass a directory, glob, archive or table")):
        plan_read_units([str(tmp_path / "missing")], 2)
    with pytest.raises(DataError, match=re.escape("matches no object; check the prefix or pattern")):
        plan_read_units([f"file://{archive_set['tree']}/*.nothing"], 2)
    with pytest.raises(DataError, match=re.escape("does not exist; pass an object, a prefix or a glob")):
        plan_read_units([f"file://{tmp_path}/missing"], 2)
    remote = plan_read_units([f"file://{archive_set['tree']}/loans/2024"], 2)
    assert [u.path.rsplit("/", 2)[-2:] for u in remote] == [["2024", "a.txt"], ["2024", "memo.docx"],
                                                          ["q1", "b.md"]]  # files before folders, like a tree


def test_missing_ray_extra_exits_2_naming_the_install(trained_run, archive_set, tmp_path, monkeypatch,  # noqa: F811
                                                      caplog):
    monkeypatch.setitem(sys.modules, "ray", None)  # what an environment without the extra gives
    out = tmp_path / "s.parquet"
    assert _score(trained_run, [str(archive_set["tree"])], out, "--engine", "ray") == 2
    assert "pip install 'finrisk_nlp[ray]'" in caplog.text and "--engine local" in caplog.text
    assert not out.exists() and not Path(f"{out}.parts/manifest.json").exists()
    assert _score(trained_run, [str(archive_set["tree"])], out, "--ray-actors", "2") == 2
    assert "--ray-actors only apply to --engine ray" in caplog.text


def test_ray_engine_writes_the_rows_of_the_local_scorer(trained_run, archive_set, ray_address,  # noqa: F811
                                                       tmp_path):
    local, on_ray = tmp_path / "local.parquet", tmp_path / "ray.parquet"
    inputs = _inputs(archive_set)
    assert _score(trained_run, inputs, local) == 0
    assert _score(trained_run, inputs, on_ray, *_ray("--ray-readers", "2")) == 0
    _same_rows(local, on_ray)
    good, bad = _expected(archive_set)
    assert len(pq.read_table(on_ray)) == len(good) and set(_errors(on_ray)) == set(bad)
    manifest = json.loads(Path(f"{on_ray}.parts/manifest.json").read_text())
    assert manifest["complete"] and manifest["engine"] == "ray"
    # The same parts directory takes either engine: the local scorer finds nothing left to do.
    assert _score(trained_run, inputs, on_ray) == 0
    _same_rows(local, on_ray)


def test_ray_engine_carries_the_id_column_as_the_local_scorer_does(trained_run, archive_set, ray_address,  # noqa: F811
                                                                    tmp_path):
    table = _id_table(tmp_path / "apps.jsonl")
    local, on_ray = tmp_path / "local.parquet", tmp_path / "ray.parquet"
    inputs = [str(table), str(archive_set["zip"])]
    assert _score(trained_run, inputs, local, "--id-column", "app_id") == 0
    assert _score(trained_run, inputs, on_ray, *_ray("--id-column", "app_id")) == 0
    _same_rows(local, on_ray)
    a, b = (pq.read_table(path).column("app_id").to_pylist() for path in (local, on_ray))
    assert a == b and [i for i in b if i is not None] == ["101", "102"]
    errors = [json.loads(line) for line in on_ray.with_name("ray.errors.jsonl").read_text().splitlines()]
    assert [e["app_id"] for e in errors if e["source"] == f"{table}!/2"] == ["103"]


def test_object_store_inputs_are_named_by_uri(trained_run, archive_set, ray_address, tmp_path):  # noqa: F811
    local, remote = tmp_path / "local.parquet", tmp_path / "remote.parquet"
    tree, zip_path = archive_set["tree"], archive_set["zip"]
    assert _score(trained_run, [str(tree), str(zip_path)], local) == 0
    assert _score(trained_run, [f"file://{tree}", f"file://{zip_path}"], remote, *_ray()) == 0
    a, b = pq.read_table(local).to_pandas(), pq.read_table(remote).to_pandas()
    assert list("file://" + a["doc_id"]) == list(b["doc_id"])  # same order, same content hashes
    np.testing.assert_allclose(a["p_default"], b["p_default"], atol=1e-6)
    assert {"file://" + k: v for k, v in _errors(local).items()} == _errors(remote)


@pytest.mark.e2e
def test_killed_driver_resumes_to_the_rows_of_a_clean_run(trained_run, ray_address, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    n = 150
    for _attempt in range(3):  # if the run ends before the kill lands, retry with more documents
        docs = _many_docs(tmp_path / f"docs{n}", n)
        killed = tmp_path / f"killed{n}.parquet"
        parts = Path(f"{killed}.parts")
        cmd = [sys.executable, "-m", "finrisk_nlp.cli.main", "score", str(trained_run), str(docs), "--out",
               str(killed), "--cpu", "--batch-size", "2", *_ray("--ray-address", ray_address)]
        if kill_once_a_part_is_written(cmd, parts, env, 120) and not killed.exists():
            break
        n *= 4
    else:
        pytest.fail("the scoring run always finished before its driver could be killed")
    from finrisk_nlp.scoring.parts import done_ids

    written = len(done_ids(parts))
    assert 0 < written < n  # killed mid-run: some documents scored, not all
    assert _score(trained_run, [str(docs)], killed, "--batch-size", "2", *_ray()) == 0
    manifest = json.loads((parts / "manifest.json").read_text())
    assert manifest["complete"] and manifest["rows"] == n
    clean = tmp_path / "clean.parquet"
    assert _score(trained_run, [str(docs)], clean, "--batch-size", "2") == 0
    _same_rows(clean, killed)


@pytest.mark.e2e
def test_ray_benchmark_prints_its_table(tiny_model_dir, ray_address, tmp_path):
    cmd = [sys.executable, str(REPO / "benchmarks" / "score_ray.py"), "--quick", "--base-model", str(tiny_model_dir),
           "--ray-address", ray_address, "--work-dir", str(tmp_path)]
    proc = subprocess.run(cmd, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| ")]
    assert [r.split("|")[1].strip() for r in rows[1:]] == ["local (1 process)", "ray: start-up", "ray: scoring"]
    assert "same ids in the same order: True" in proc.stdout
