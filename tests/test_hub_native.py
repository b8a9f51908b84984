"""A pushed model loads with plain transformers (no finrisk_nlp) and predicts what finrisk_nlp's Predictor does;
nothing of the machine it was pushed from is in the repo."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from conftest import make_credit_records, write_jsonl
from hub_server import FakeHub
from runs import train_tiny_run

TOKEN = "hf_TESTsecretTOKEN0123456789abcdefXYZ"
# Card, IBAN, phone and SSN; long enough for several 32-token windows.
TEXTS = [
    "Applicant lost job in March, missed payments. Card 4111 1111 1111 1111 and IBAN GB82 WEST 1234 5698 7654 32 "
    "were used; call +44 20 7946 0958. " * 3,
    "steady salary, good savings, stable employer.",
    "high debt and medical bills; SSN 123-45-6789, late payment on account no. 12345678. " * 4,
    "the applicant has a bank account, loan for a car, ontime payment history.",
]
# Runs in a fresh interpreter (-I: no PYTHONPATH, no user site) with finrisk_nlp made unimportable.
PLAIN_TRANSFORMERS = """
import json, sys
sys.modules["finrisk_nlp"] = None  # the shared venv has it installed; a Hub user has not
try:
    import finrisk_nlp  # noqa: F401
    raise SystemExit("finrisk_nlp is importable")
except ImportError:
    pass
from transformers import AutoConfig, AutoModelForSequenceClassification, pipeline
repo, texts = sys.argv[1], json.loads(sys.argv[2])
refused = []
for load in (AutoConfig.from_pretrained, AutoModelForSequenceClassification.from_pretrained):
    try:
        load(repo, trust_remote_code=False)
    except ValueError as exc:
        refused.append(str(exc)[:300])
model = AutoModelForSequenceClassification.from_pretrained(repo, trust_remote_code=True)
classify = pipeline("text-classification", model=repo, trust_remote_code=True)
print(json.dumps({"model": model.predict(texts), "pipeline": classify(texts), "refused": refused,
                  "id2label": model.config.id2label, "modules": sorted(m for m, mod in sys.modules.items()
                                                  if mod is not None and m.split(".")[0] == "finrisk_nlp")}))
"""


@pytest.fixture(scope="module")
def leak_root(tmp_path_factory) -> Path:
    """A folder whose unique name must not reach any pushed file."""
    return tmp_path_factory.mktemp(f"leakcheck-{uuid.uuid4().hex[:12]}")


@pytest.fixture(scope="module")
def run_dir(leak_root, tiny_model_dir) -> Path:
    import shutil

    base = leak_root / "base-encoder"
    shutil.copytree(tiny_model_dir, base)
    data = write_jsonl(leak_root / "loans.jsonl", make_credit_records(60, seed=3))
    return train_tiny_run(base, leak_root / "run", "model.max_chunks=3", "calibration.method=platt",
                          "data.redact_pii=true", data=data)


def _env(hub: FakeHub, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "PYTHON"))}
    env.update(HF_ENDPOINT=hub.endpoint, HF_HOME=str(home), HF_HUB_OFFLINE="0", HF_HUB_DISABLE_TELEMETRY="1",
               HF_TOKEN=TOKEN, NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost",
               TOKENIZERS_PARALLELISM="false")
    return env


def _push(hub: FakeHub, home: Path, run_dir: Path, repo: str) -> subprocess.CompletedProcess:
    from conftest import REPO

    env = {**_env(hub, home), "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "finrisk_nlp.cli.main", "registry", "push", str(run_dir),
                           "--hub", repo], env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def pushed(run_dir, leak_root, tmp_path_factory):
    """Push once; load with plain transformers in a clean interpreter outside the repo."""
    home = tmp_path_factory.mktemp("hf-home")
    outside = tmp_path_factory.mktemp("plain-user")
    script = outside / "load.py"
    script.write_text(PLAIN_TRANSFORMERS)
    with FakeHub(TOKEN) as hub:
        push = _push(hub, home, run_dir, "acme/credit-text")
        assert push.returncode == 0, push.stderr[-3000:]
        loaded = subprocess.run([sys.executable, "-I", str(script), "acme/credit-text", json.dumps(TEXTS)],
                                env=_env(hub, home), cwd=outside, capture_output=True, text=True, timeout=300,
                                stdin=subprocess.DEVNULL)
        files = dict(hub.repos["acme/credit-text"].files)
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    return files, json.loads(loaded.stdout.strip().splitlines()[-1])


def test_plain_transformers_predicts_what_the_predictor_does(run_dir, pushed):
    from finrisk_nlp.inference.predictor import Predictor

    files, got = pushed
    predictor = Predictor.load(run_dir)
    expected = predictor.predict(TEXTS)
    assert got["modules"] == []  # finrisk_nlp was never imported: only the repo's own code ran
    assert got["id2label"] == {"0": "repaid", "1": "default"}
    assert [row["num_chunks"] for row in expected] == [3, 1, 3, 1]  # several windows, capped at max_chunks
    assert predictor.calibration.method == "platt" and predictor.redact_pii
    for source in ("model", "pipeline"):
        rows = got[source]
        assert [r["decision"] for r in rows] == [r["decision"] for r in expected], source
        assert [r["num_chunks"] for r in rows] == [r["num_chunks"] for r in expected], source
        for row, want in zip(rows, expected, strict=True):
            assert row["label"] == want["label"]
            for label, p in want["probabilities"].items():
                assert row["probabilities"][label] == pytest.approx(p, abs=1e-5), (source, label)
    assert got["pipeline"][0]["score"] == pytest.approx(max(expected[0]["probabilities"].values()), abs=1e-5)


def test_redaction_matters_for_these_texts(run_dir):
    """Without redaction the PII texts score differently: the parity above covers the redaction step."""
    from finrisk_nlp.inference.predictor import Predictor

    predictor = Predictor.load(run_dir)
    redacted = predictor.predict_proba(TEXTS)
    predictor.redact_pii = False
    raw = predictor.predict_proba(TEXTS)
    assert abs(redacted[0] - raw[0]).max() > 1e-5


def test_without_trust_remote_code_nothing_loads_as_a_classifier(pushed):
    files, got = pushed
    assert len(got["refused"]) == 2 and all("trust_remote_code" in msg for msg in got["refused"])
    config = json.loads(files["config.json"])
    assert config["model_type"] == "finrisk-document-classifier"
    auto = config["auto_map"]["AutoModelForSequenceClassification"]
    assert auto == "modeling_finrisk.FinriskForDocumentClassification"
    # No bare encoder or adapter anywhere in the repo that Auto classes could wrap in a random head.
    assert not any(name.startswith(("encoder/", "adapters/", "merged/")) for name in files)
    assert [name for name in files if name.split("/")[-1] == "config.json"] == ["config.json"]


def test_shipped_code_imports_only_torch_and_transformers_and_redaction_is_generated(pushed):
    import ast

    from finrisk_nlp.data import redaction

    files, _ = pushed
    for name in ("modeling_finrisk.py", "pipeline_finrisk.py", "finrisk_redaction.py"):
        tree = ast.parse(files[name].decode())
        roots = {(a.name if isinstance(n, ast.Import) else n.module or "").split(".")[0]
                 for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom) and not getattr(n, "level", 0)
                 for a in (n.names if isinstance(n, ast.Import) else [n])}
        assert roots <= {"__future__", "torch", "transformers", "inspect", "dataclasses", "typing", "re",
                         "collections", "json", "sys"}, (name, roots)
    shipped = files["finrisk_redaction.py"].decode()
    assert shipped.endswith(Path(redaction.__file__).read_text())  # a copy of the one source, not a rewrite


def test_model_card_validates_with_huggingface_hub(pushed):
    from huggingface_hub import ModelCard

    files, _ = pushed
    card = ModelCard(files["README.md"].decode())
    data = card.data
    assert data.library_name == "transformers" and data.pipeline_tag == "text-classification"
    assert data.license == "apache-2.0" and "custom_code" in data.tags
    assert data.base_model is None  # a local test encoder: no Hub id to link
    results = {r.metric_type: r for r in data.eval_results}
    assert {"accuracy", "f1", "roc_auc", "pr_auc"} <= set(results)
    assert results["f1"].dataset_name == "private" and results["f1"].dataset_split == "test"
    assert results["f1"].task_type == "text-classification"
    assert "95% interval" in results["pr_auc"].metric_name
    assert "## Use with transformers" in card.text and "## Limitations" in card.text


def test_no_pushed_file_holds_a_local_path(pushed, leak_root, run_dir):
    files, _ = pushed
    assert not (run_dir / "model" / "adapters" / "README.md").exists()  # peft's empty template card is not kept
    unique = leak_root.name.split("leakcheck-")[1][:12].encode()
    leaking = {name for name, data in files.items() if unique in data or b"/tmp/" in data
               or str(Path.home()).encode() + b"/" in data}
    assert not leaking
    release = json.loads(files["finrisk_release.json"])
    assert release["source_run"] == "run" and release["format"] == "hub"
    assert {d["path"] for d in release["dataset"]} == {"loans.jsonl"}
    assert json.loads(files["finrisk_model.json"])["base_model"].startswith("base-encoder (sha256 ")


def test_a_push_that_would_leak_the_host_name_is_refused(run_dir, tmp_path, monkeypatch):
    import shutil
    import socket

    from finrisk_nlp.registry.hub import HubError, push_to_hub

    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    monkeypatch.setattr(socket, "gethostname", lambda: "risk-gpu-box-17")
    info = json.loads((copy / "run_info.json").read_text())
    (copy / "run_info.json").write_text(json.dumps({**info, "note": "trained on risk-gpu-box-17"}))
    with FakeHub(TOKEN) as hub:
        with pytest.raises(HubError, match="refusing to push.*run_info.json: 'risk-gpu-box-17'"):
            push_to_hub(copy, "acme/leaky", endpoint=hub.endpoint, token=TOKEN)
    assert hub.requests == [] and hub.repos == {}


def test_export_hf_writes_the_same_repo_layout(run_dir, tmp_path):
    from finrisk_nlp.export.exporter import export_model
    from finrisk_nlp.inference.predictor import Predictor

    out = tmp_path / "credit_hf"
    manifest = export_model(str(run_dir), out, fmt="hf")
    assert manifest["parity"]["max_abs_logit_diff"] <= 1e-4
    assert {"config.json", "model.safetensors", "modeling_finrisk.py", "pipeline_finrisk.py",
            "finrisk_redaction.py", "tokenizer.json"} <= {p.name for p in out.iterdir()}
    assert str(tmp_path) not in "".join(p.read_text(errors="ignore") for p in out.iterdir() if p.suffix == ".json")
    texts = TEXTS[:2]
    assert Predictor.load(out).predict_proba(texts) == pytest.approx(Predictor.load(run_dir).predict_proba(texts),
                                                                     abs=1e-5)


def test_export_hf_refuses_a_model_with_structured_fields_by_name(tmp_path, tiny_model_dir):
    from test_fields import field_records

    from finrisk_nlp.errors import ModelLoadError
    from finrisk_nlp.export.exporter import export_model

    data = write_jsonl(tmp_path / "loans.jsonl", field_records())
    run = train_tiny_run(tiny_model_dir, tmp_path / "run", "data.feature_columns=[income,debt,segment]", data=data)
    with pytest.raises(ModelLoadError, match="task 'credit_text' of this model also reads structured fields"):
        export_model(str(run), tmp_path / "hf", fmt="hf")
    assert not (tmp_path / "hf").exists()
