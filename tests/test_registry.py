"""Local model registry: publish, list, promote, load by reference, checksums, immutability, crash safety."""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import REPO, make_credit_records, write_jsonl
from runs import train_tiny_run

from finrisk_nlp.cli.main import main as cli_main
from finrisk_nlp.errors import ModelLoadError
from finrisk_nlp.modeling.metadata import Head, ModelMetadata, TaskMetadata
from finrisk_nlp.provenance import sha256_file
from finrisk_nlp.registry.local import ModelRegistry, RegistryError, diff_versions, resolve_model_ref
from finrisk_nlp.registry.release import MANIFEST_FILE, check_model_files, required_model_files
from finrisk_nlp.tasks import get_task

TEXTS = ["steady salary, loan for a car.", "missed payments, lost job, family of four."]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, tiny_model_dir) -> Path:
    return train_tiny_run(tiny_model_dir, tmp_path_factory.mktemp("trained") / "run")


@pytest.fixture()
def registry(tmp_path) -> ModelRegistry:
    return ModelRegistry(tmp_path / "registry")


def test_publish_holds_model_metadata_fingerprint_and_manifest(run_dir, registry):
    assert registry.publish(run_dir, "credit-text") == 1
    folder = registry.version_dir("credit-text", 1)
    for name in ("finrisk_model.json", "adapters/shared/adapter_model.safetensors",
                 "adapters/shared/adapter_config.json", "heads.safetensors", "tokenizer_config.json",
                 "config.yaml", "metrics.json", "run_info.json", "README.md", "finrisk_release.json", MANIFEST_FILE):
        assert (folder / name).is_file(), name
    assert not any("checkpoint" in p.as_posix() for p in folder.rglob("*"))
    assert (folder / "config.yaml").read_bytes() == (run_dir / "config.yaml").read_bytes()
    release = json.loads((folder / "finrisk_release.json").read_text())
    train_file = yaml.safe_load((run_dir / "config.yaml").read_text())["data"]["train_file"]
    assert release["dataset"][0]["sha256"] == sha256_file(train_file)
    run_info = json.loads((run_dir / "run_info.json").read_text())
    assert release["git_commit"] == run_info["git_commit"] and release["versions"] == run_info["versions"]
    manifest = json.loads((folder / MANIFEST_FILE).read_text())["files"]
    published = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()} - {MANIFEST_FILE}
    assert set(manifest) == published
    assert all(manifest[f] == sha256_file(folder / f) for f in manifest)


def test_versions_count_up_and_list_promote_show_diff(run_dir, registry, capsys):
    root = str(registry.root)
    assert cli_main(["registry", "push", str(run_dir), "--name", "credit-text", "--root", root]) == 0
    assert cli_main(["registry", "push", str(run_dir), "--root", root]) == 0  # name from the task: credit-text
    assert registry.versions("credit-text") == [1, 2]
    assert cli_main(["registry", "promote", "credit-text", "1", "--stage", "production"]) == 2  # wrong root: error
    assert cli_main(["registry", "promote", "credit-text", "1", "--stage", "production", "--root", root]) == 0
    assert cli_main(["registry", "promote", "credit-text", "2", "--stage", "production", "--root", root]) == 0
    assert registry.resolve("credit-text", "production") == 2
    history = json.loads((registry.root / "credit-text" / "aliases.json").read_text())["history"]
    assert [(h["version"], h["previous"]) for h in history] == [(1, None), (2, 1)]
    assert cli_main(["registry", "promote", "credit-text", "7", "--stage", "production", "--root", root]) == 2
    capsys.readouterr()

    assert cli_main(["registry", "list", "--root", root]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[:3] for line in lines] == [["credit-text", "1", "-"], ["credit-text", "2", "production"]]
    assert cli_main(["registry", "show", "credit-text@production", "--root", root]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["version"] == 2 and shown["stages"] == ["production"]
    assert shown["metrics"] == json.loads((run_dir / "metrics.json").read_text())
    # Same run twice: only the publication metadata can differ, never metrics or config.
    assert diff_versions(registry, "credit-text", "1", "2") == {"metrics": {}, "config": {}}


def test_diff_reports_metric_and_config_changes(run_dir, registry, tmp_path, tiny_model_dir, capsys):
    more = write_jsonl(tmp_path / "more.jsonl", make_credit_records(60, seed=3))
    other = train_tiny_run(tiny_model_dir, tmp_path / "run2", "lora.r=2", data=more)
    registry.publish(run_dir, "credit-text")
    registry.publish(other, "credit-text")
    changes = diff_versions(registry, "credit-text", "1", "2")
    assert changes["config"]["lora.r"] == (4, 2)
    assert changes["metrics"]["test.num_examples"][0] != changes["metrics"]["test.num_examples"][1]
    assert cli_main(["registry", "diff", "credit-text", "1", "2", "--root", str(registry.root)]) == 0
    assert "lora.r" in capsys.readouterr().out


def test_load_by_alias_predicts_like_the_run_dir(run_dir, registry, monkeypatch, capsys):
    from finrisk_nlp.inference.predictor import Predictor

    version = registry.publish(run_dir, "credit-text")
    registry.promote("credit-text", version, "production")
    monkeypatch.setenv("FINRISK_REGISTRY", str(registry.root))
    expected = Predictor.load(run_dir).predict_proba(TEXTS)
    for ref in ("registry:credit-text@production", "registry:credit-text@1", "registry:credit-text"):
        assert Predictor.load(ref).predict_proba(TEXTS) == pytest.approx(expected, abs=1e-6)
    assert cli_main(["predict", "--json", "registry:credit-text@production", *TEXTS]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["probabilities"]["default"] for r in rows] == pytest.approx(expected[:, 1].tolist(), abs=1e-6)


def test_unknown_references_fail_clearly(registry, tmp_path):
    with pytest.raises(ModelLoadError, match="nothing is published as 'nope'"):
        resolve_model_ref("registry:nope@production", registry_root=registry.root)
    with pytest.raises(ModelLoadError, match="not a finrisk model"):
        resolve_model_ref(tmp_path)


def test_tampered_file_is_refused(run_dir, registry):
    registry.publish(run_dir, "credit-text")
    weights = registry.version_dir("credit-text", 1) / "adapters" / "shared" / "adapter_model.safetensors"
    expected = sha256_file(weights)
    weights.chmod(0o644)  # published files are read-only; an attacker or a careless script changes that first
    with weights.open("r+b") as f:
        f.seek(200)
        byte = f.read(1)
        f.seek(200)
        f.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(ModelLoadError) as err:
        resolve_model_ref("registry:credit-text@1", registry_root=registry.root)
    message = str(err.value)
    assert "adapters/shared/adapter_model.safetensors" in message and expected in message
    assert sha256_file(weights) in message
    assert "publish the run again" in message


def test_added_file_is_refused(run_dir, registry):
    registry.publish(run_dir, "credit-text")
    (registry.version_dir("credit-text", 1) / "extra.py").write_text("import os\n")
    with pytest.raises(ModelLoadError, match="extra.py"):
        resolve_model_ref("registry:credit-text", registry_root=registry.root)


def test_versions_are_immutable(run_dir, registry):
    registry.publish(run_dir, "credit-text")
    before = sha256_file(registry.version_dir("credit-text", 1) / "README.md")
    with pytest.raises(RegistryError, match="already exists"):
        registry.publish(run_dir, "credit-text", version=1)
    assert cli_main(["registry", "push", str(run_dir), "--version", "1", "--root", str(registry.root)]) == 2
    assert sha256_file(registry.version_dir("credit-text", 1) / "README.md") == before
    assert (registry.version_dir("credit-text", 1) / "README.md").stat().st_mode & 0o222 == 0  # read-only
    assert registry.publish(run_dir, "credit-text") == 2


def test_crash_during_copy_leaves_no_partial_version(run_dir, registry, monkeypatch):
    registry.publish(run_dir, "credit-text")
    real_copy = shutil.copy2
    calls = {"n": 0}

    def failing_copy(src, dst, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk full")
        return real_copy(src, dst, *args, **kwargs)

    monkeypatch.setattr(shutil, "copy2", failing_copy)
    with pytest.raises(OSError, match="disk full"):
        registry.publish(run_dir, "credit-text")
    monkeypatch.setattr(shutil, "copy2", real_copy)
    assert registry.versions("credit-text") == [1]
    assert sorted(p.name for p in (registry.root / "credit-text").iterdir()) == ["versions"]
    assert registry.publish(run_dir, "credit-text") == 2


def test_killed_publisher_leaves_no_partial_version(run_dir, registry):
    """A publisher SIGKILLed in the middle of copying: nothing visible, and the next publish gets number 2."""
    registry.publish(run_dir, "credit-text")
    script = (
        "import os, shutil, signal, sys\n"
        "from finrisk_nlp.registry.local import ModelRegistry\n"
        "real, n = shutil.copy2, [0]\n"
        "def copy(*a, **k):\n"
        "    n[0] += 1\n"
        "    if n[0] == 4:\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "    return real(*a, **k)\n"
        "shutil.copy2 = copy\n"
        "ModelRegistry(sys.argv[1]).publish(sys.argv[2], 'credit-text')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", script, str(registry.root), str(run_dir)], env=env, timeout=120)
    assert proc.returncode == -9
    model_dir = registry.root / "credit-text"
    assert any(p.name.startswith(".staging-") for p in model_dir.iterdir())  # the torn copy, hidden
    assert registry.versions("credit-text") == [1]
    assert registry.publish(run_dir, "credit-text") == 2
    assert sorted(p.name for p in model_dir.iterdir()) == ["versions"]  # the dead publisher's staging is gone


def test_recipe_publishes_at_the_end_of_training(tmp_path, tiny_model_dir, credit_file):
    root = tmp_path / "reg"
    run = train_tiny_run(tiny_model_dir, tmp_path / "run", "registry.push=true", f"registry.root={root}",
                         data=credit_file)
    registry = ModelRegistry(root)
    assert registry.versions("credit-text") == [1]
    published = registry.version_dir("credit-text", 1)
    assert (published / "metrics.json").read_bytes() == (run / "metrics.json").read_bytes()


def test_multitask_fingerprint_covers_every_task(tmp_path):
    from finrisk_nlp.data.tables import demo_train_file
    from finrisk_nlp.provenance import sha256_file
    from finrisk_nlp.registry.release import dataset_fingerprint

    alerts = tmp_path / "alerts.jsonl"
    alerts.write_text('{"text": "cash deposits", "disposition": "close"}\n')
    config = {"task": "credit_text", "data": {},
              "multitask": {"tasks": ["credit_text", "aml_alert"], "data": {"aml_alert": {"train_file": str(alerts)}}}}
    entries = {(e["task"], e["role"]): e for e in dataset_fingerprint(config, tmp_path)}
    assert set(entries) == {("credit_text", "train"), ("aml_alert", "train")}
    assert entries["credit_text", "train"]["sha256"] == sha256_file(demo_train_file("credit_text"))
    assert entries["aml_alert", "train"]["sha256"] == sha256_file(alerts)


@pytest.mark.parametrize("removed", ["adapters/shared/adapter_model.safetensors", "adapters/shared/adapter_config.json",
                                     "heads.safetensors", "tokenizer.json", "tokenizer_config.json"])
def test_push_refuses_a_model_that_cannot_be_loaded(run_dir, tmp_path, removed):
    incomplete = tmp_path / "run"
    shutil.copytree(run_dir, incomplete)
    (incomplete / "model" / removed).unlink()
    root = tmp_path / "registry"
    assert cli_main(["registry", "push", str(incomplete), "--root", str(root)]) == 2
    assert not root.exists()  # nothing written, not even the name's folder
    with pytest.raises(ModelLoadError, match=re.escape(f"{incomplete / 'model'} cannot be published: loading it "
                                                       f"needs {removed}")) as err:
        ModelRegistry(root).publish(incomplete, "credit-text")
    assert "nothing was published" in str(err.value)
    assert not root.exists()


def test_required_files_follow_the_metadata(tmp_path):
    tasks = {name: TaskMetadata(get_task(name)) for name in ("credit_text", "aml_alert")}
    soft = ModelMetadata(tasks=tasks, base_model="m", max_length=32, lora=True,
                         head=Head(strategy="soft", shared_adapter=True))
    full_weights = ModelMetadata(tasks=tasks, base_model="m", max_length=32, lora=False)
    required = required_model_files(tmp_path, soft)
    for entry in required:
        target = tmp_path / entry.split("|")[0]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("{}")
    check_model_files(tmp_path, soft)  # complete: no error
    assert {"heads.safetensors", "adapters/shared/adapter_model.safetensors",
            "adapters/aml_alert/adapter_config.json"} <= set(required)
    (tmp_path / "adapters" / "aml_alert" / "adapter_model.safetensors").unlink()
    with pytest.raises(ModelLoadError, match=re.escape("needs adapters/aml_alert/adapter_model.safetensors, which "
                                                       "is missing")):
        check_model_files(tmp_path, soft)
    full = required_model_files(tmp_path, full_weights)
    assert "encoder/model.safetensors" in full and "encoder/config.json" in full
    assert not any("adapter" in entry for entry in full)
    (tmp_path / "encoder").mkdir(exist_ok=True)
    (tmp_path / "encoder" / "model.safetensors.index.json").write_text(json.dumps(
        {"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}))
    sharded = required_model_files(tmp_path, full_weights)
    assert "encoder/model-00002-of-00002.safetensors" in sharded and "encoder/model.safetensors" not in sharded


def _fake_versions(registry: ModelRegistry, name: str, count: int) -> None:
    for number in range(1, count + 1):
        folder = registry.root / name / "versions" / str(number)
        folder.mkdir(parents=True)
        (folder / MANIFEST_FILE).write_text('{"files": {}}')


def _promote_many(root: str, worker: int, count: int, barrier) -> None:
    registry = ModelRegistry(root)
    barrier.wait()
    for i in range(count):
        registry.promote("credit-text", 1 + (worker + i) % 3, f"stage-{worker}")


def test_concurrent_promotes_keep_every_stage_and_history_entry(registry):
    _fake_versions(registry, "credit-text", 3)
    workers, count = 4, 10
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(workers)
    procs = [context.Process(target=_promote_many, args=(str(registry.root), w, count, barrier))
             for w in range(workers)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=60)
    assert [proc.exitcode for proc in procs] == [0] * workers
    state = json.loads((registry.root / "credit-text" / "aliases.json").read_text())
    assert sorted(state["aliases"]) == [f"stage-{w}" for w in range(workers)]
    assert len(state["history"]) == workers * count
    for w in range(workers):  # each worker's entries chain: every one's previous is the one before it
        mine = [h for h in state["history"] if h["stage"] == f"stage-{w}"]
        assert [h["previous"] for h in mine] == [None] + [h["version"] for h in mine[:-1]]
        assert state["aliases"][f"stage-{w}"] == mine[-1]["version"]


@pytest.mark.parametrize("number", [0, -1])
def test_push_refuses_a_version_number_below_one(run_dir, registry, number):
    with pytest.raises(RegistryError, match=re.escape(f"--version must be a positive number, got {number}")):
        registry.publish(run_dir, "credit-text", version=number)
    assert cli_main(["registry", "push", str(run_dir), "--version", str(number), "--root", str(registry.root)]) == 2
    assert not registry.root.exists()


def test_changed_base_weights_are_refused(tmp_path, tiny_model_dir, credit_file):
    from finrisk_nlp.inference.loading import model_fingerprint
    from finrisk_nlp.inference.predictor import Predictor
    from finrisk_nlp.registry.base_model import base_model_fingerprint

    base = tmp_path / "base"
    shutil.copytree(tiny_model_dir, base)
    run = train_tiny_run(base, tmp_path / "run", data=credit_file)
    registry = ModelRegistry(tmp_path / "registry")
    registry.publish(run, "credit-text")
    expected = base_model_fingerprint(base)
    manifest = json.loads((registry.version_dir("credit-text", 1) / MANIFEST_FILE).read_text())
    assert manifest["base_model"] == {"path": str(base), "sha256": expected}
    resolve_model_ref("registry:credit-text", registry_root=registry.root)  # the base is as published: loads
    predictor = Predictor.load(run)
    scoring_before = model_fingerprint(str(run), predictor)

    weights = base / "model.safetensors"  # other weights of the same size, as a swapped base model would be
    data = bytearray(weights.read_bytes())
    data[-4] ^= 0xFF
    weights.write_bytes(bytes(data))
    found = base_model_fingerprint(base)
    assert found != expected
    with pytest.raises(ModelLoadError) as err:
        resolve_model_ref("registry:credit-text", registry_root=registry.root)
    message = str(err.value)
    assert f"the base model {base} (at {base}) changed since" in message
    assert f"expected fingerprint {expected}, found {found}" in message
    assert "restore the original base model files at that path, or retrain" in message
    assert model_fingerprint(str(run), predictor) != scoring_before
