"""`finrisk registry push RUN_DIR --hub ORG/NAME` against a real HTTP server on loopback speaking the Hub API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import REPO
from hub_server import FakeHub
from runs import train_tiny_run

from finrisk_nlp.provenance import sha256_file
from finrisk_nlp.registry.model_card import parse_model_card

TOKEN = "hf_TESTsecretTOKEN0123456789abcdefXYZ"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, tiny_model_dir) -> Path:
    return train_tiny_run(tiny_model_dir, tmp_path_factory.mktemp("trained") / "run", "save_merged=true")


def _finrisk(hub: FakeHub, home: Path, *args: str, token: str | None = TOKEN) -> subprocess.CompletedProcess:
    """The real CLI in a fresh interpreter: huggingface_hub reads HF_ENDPOINT when it is imported."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(HF_ENDPOINT=hub.endpoint, HF_HOME=str(home), HF_HUB_OFFLINE="0", HF_HUB_DISABLE_TELEMETRY="1",
               PYTHONPATH=str(REPO), NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
    if token:
        env["HF_TOKEN"] = token
    return subprocess.run([sys.executable, "-m", "finrisk_nlp.cli.main", *args],
                          env=env, capture_output=True, text=True, timeout=180)


def _push(hub: FakeHub, home: Path, *args: str, token: str | None = TOKEN) -> subprocess.CompletedProcess:
    return _finrisk(hub, home, "registry", "push", *args, token=token)


def test_push_uploads_release_and_card_to_a_private_repo(run_dir, tmp_path):
    with FakeHub(TOKEN) as hub:
        proc = _push(hub, tmp_path / "hf", str(run_dir), "--hub", "acme/credit-text")
    assert proc.returncode == 0, proc.stderr
    assert "pushed" in proc.stdout
    repo = hub.repos["acme/credit-text"]
    assert repo.private and repo.create_payload["visibility"] == "private"
    assert len(repo.commits) == 1

    files = repo.files
    for name in ("config.json", "model.safetensors", "modeling_finrisk.py", "pipeline_finrisk.py",
                 "finrisk_redaction.py", "finrisk_model.json", "tokenizer_config.json",
                 "config.yaml", "metrics.json", "README.md", "finrisk_release.json", "finrisk_manifest.json"):
        assert name in files, name
    assert not any(name.startswith(("checkpoints/", "merged/", "adapters/", "encoder/")) for name in files)
    config = yaml.safe_load(files["config.yaml"])
    assert config["output_dir"] == "run" and config["model"]["name_or_path"].startswith("tiny_bert")
    assert config["train"] == yaml.safe_load((run_dir / "config.yaml").read_text())["train"]
    manifest = json.loads(files["finrisk_manifest.json"])["files"]
    assert set(manifest) == set(files) - {"finrisk_manifest.json"}

    header, body = parse_model_card(files["README.md"].decode())
    assert header["library_name"] == "transformers" and header["pipeline_tag"] == "text-classification"
    assert "base_model" not in header  # the tiny base model is a local path, which the Hub cannot link
    assert "# acme/credit-text" in body and "`default` (positive / risk class)" in body

    # The token goes in the Authorization header and nowhere else.
    assert {path for _, path, _ in hub.requests} == {
        "/api/models/acme/credit-text", "/api/repos/create", "/api/validate-yaml",
        "/api/models/acme/credit-text/preupload/main", "/api/models/acme/credit-text/commit/main"}
    assert all(h.get("authorization") == f"Bearer {TOKEN}" for _, _, h in hub.requests)
    assert TOKEN not in proc.stdout + proc.stderr
    assert not any(TOKEN.encode() in content for content in files.values())


def test_push_merged_and_to_the_local_registry_in_one_go(run_dir, tmp_path):
    with FakeHub(TOKEN) as hub:
        proc = _push(hub, tmp_path / "hf", str(run_dir), "--hub", "acme/credit-text", "--merged",
                     "--name", "credit-text", "--root", str(tmp_path / "registry"))
    assert proc.returncode == 0, proc.stderr
    files = hub.repos["acme/credit-text"].files
    assert "model.safetensors" in files and not any(name.startswith("merged/") for name in files)  # always merged
    assert json.loads(files["finrisk_model.json"])["lora"] is False
    local = tmp_path / "registry" / "credit-text" / "versions" / "1"
    assert sha256_file(local / "merged" / "encoder" / "model.safetensors") == sha256_file(
        run_dir / "model_merged" / "encoder" / "model.safetensors")
    assert TOKEN not in proc.stdout + proc.stderr


def test_public_flag_and_existing_public_repo(run_dir, tmp_path):
    with FakeHub(TOKEN) as hub:
        assert _push(hub, tmp_path / "hf", str(run_dir), "--hub", "acme/open", "--public").returncode == 0
        refused = _push(hub, tmp_path / "hf", str(run_dir), "--hub", "acme/open")
        commits_after_refusal = len(hub.repos["acme/open"].commits)
        again = _push(hub, tmp_path / "hf", str(run_dir), "--hub", "acme/open", "--public")
    assert refused.returncode == 2
    assert (f"acme/open already exists on {hub.endpoint} and is PUBLIC: pushing would publish this model, its "
            "metrics and model card to everyone. Nothing was pushed. If that is intended, push again with "
            "--public (registry.private=false in a recipe config)") in refused.stderr
    assert commits_after_refusal == 1
    assert again.returncode == 0, again.stderr
    assert again.stderr.count("acme/open is a PUBLIC repo: everyone can download what is pushed now") == 1
    assert hub.repos["acme/open"].private is False
    assert len(hub.repos["acme/open"].commits) == 2


def test_existing_private_repo_stays_private_and_takes_pushes(run_dir, tmp_path):
    with FakeHub(TOKEN) as hub:
        assert _push(hub, tmp_path / "hf", str(run_dir), "--hub", "acme/closed").returncode == 0
        again = _push(hub, tmp_path / "hf", str(run_dir), "--hub", "acme/closed")
        public = _push(hub, tmp_path / "hf", str(run_dir), "--hub", "acme/closed", "--public")
    assert again.returncode == 0 and "PUBLIC" not in again.stderr
    assert public.returncode == 0 and "acme/closed already exists and is private: it stays private" in public.stderr
    assert hub.repos["acme/closed"].private is True and len(hub.repos["acme/closed"].commits) == 3


def test_push_of_an_incomplete_run_reaches_no_hub(run_dir, tmp_path):
    import shutil

    incomplete = tmp_path / "run"
    shutil.copytree(run_dir, incomplete)
    (incomplete / "model" / "tokenizer.json").unlink()
    with FakeHub(TOKEN) as hub:
        proc = _push(hub, tmp_path / "hf", str(incomplete), "--hub", "acme/credit-text")
    assert proc.returncode == 2
    assert "cannot be published: loading it needs tokenizer.json or" in proc.stderr
    assert hub.repos == {} and hub.requests == []


def test_bad_token_and_missing_token_fail_clearly(run_dir, tmp_path):
    wrong = "hf_WRONGsecretTOKEN9876543210zyx"
    with FakeHub(TOKEN) as hub:
        refused = _push(hub, tmp_path / "hf", str(run_dir), "--hub", "acme/credit-text", token=wrong)
        missing = _push(hub, tmp_path / "hf", str(run_dir), "--hub", "acme/credit-text", token=None)
    assert refused.returncode == 2 and "HTTP 401" in refused.stderr
    assert wrong not in refused.stdout + refused.stderr
    assert missing.returncode == 2 and "no Hugging Face token" in missing.stderr
    assert hub.repos == {}


def test_load_from_the_hub_predicts_like_the_run_dir_and_refuses_a_corrupted_file(run_dir, tmp_path):
    from finrisk_nlp.inference.predictor import Predictor

    texts = ["missed payments, lost job.", "steady salary, good savings."]
    expected = Predictor.load(run_dir).predict_proba(texts)[:, 1]
    with FakeHub(TOKEN) as hub:
        assert _push(hub, tmp_path / "hf", str(run_dir), "--hub", "acme/credit-text").returncode == 0
        loaded = _finrisk(hub, tmp_path / "hf", "predict", "--json", "hub:acme/credit-text", *texts)
        files = hub.repos["acme/credit-text"].files
        config = "config.json"
        files[config] = files[config].replace(b'"pooling": "attention"', b'"pooling": "mean"')
        hub.repos["acme/credit-text"].commits.append({"summary": "tamper"})
        tampered = _finrisk(hub, tmp_path / "hf-fresh", "predict", "hub:acme/credit-text", *texts)
    assert loaded.returncode == 0, loaded.stderr
    got = [json.loads(line)["probabilities"]["default"] for line in loaded.stdout.splitlines()]
    assert got == pytest.approx(expected.tolist(), abs=1e-5)  # the LoRA adapter is merged into the encoder
    assert tampered.returncode == 2
    assert "checksum mismatch" in tampered.stderr and "config.json" in tampered.stderr
    assert TOKEN not in loaded.stdout + loaded.stderr + tampered.stdout + tampered.stderr
