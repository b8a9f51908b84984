"""Hostile model files: tampered exports, corrupt files offered to the registry, mistyped paths that look like Hub
ids, ids the Hub rejects, odd version numbers. Each test fails on code without the matching guard."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from runs import train_tiny_run

from finrisk_nlp.cli.main import main as cli_main
from finrisk_nlp.errors import ModelLoadError
from finrisk_nlp.export.exporter import export_model
from finrisk_nlp.inference.predictor import Predictor
from finrisk_nlp.registry.local import ModelRegistry, resolve_model_ref

TEXTS = ["Applicant lost his job and missed payments.", "Stable employer, good savings."]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, tiny_model_dir) -> Path:
    return train_tiny_run(tiny_model_dir, tmp_path_factory.mktemp("hostile-exports") / "run")


@pytest.fixture(scope="module")
def merged_export(run_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("exports") / "merged"
    export_model(str(run_dir), out, fmt="merged")
    return out


def _copy(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest)
    for path in dest.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    return dest


def _edit_threshold(folder: Path) -> None:
    meta = json.loads((folder / "finrisk_model.json").read_text())
    meta["extra"]["threshold"] = {**(meta["extra"].get("threshold") or {}), "value": 0.0}
    (folder / "finrisk_model.json").write_text(json.dumps(meta))


def _flip_heads(folder: Path) -> None:
    from safetensors.torch import load_file, save_file

    heads = load_file(str(folder / "heads.safetensors"))
    save_file({k: -v for k, v in heads.items()}, str(folder / "heads.safetensors"), metadata={"format": "pt"})


def _swap_vocab(folder: Path) -> None:
    tokenizer = json.loads((folder / "tokenizer.json").read_text())
    vocab = tokenizer["model"]["vocab"]
    words = list(vocab)
    vocab[words[-1]], vocab[words[-2]] = vocab[words[-2]], vocab[words[-1]]
    (folder / "tokenizer.json").write_text(json.dumps(tokenizer))


TAMPERING = {"heads": (_flip_heads, "heads.safetensors"), "threshold": (_edit_threshold, "finrisk_model.json"),
             "vocab": (_swap_vocab, "tokenizer.json")}


def test_every_export_records_the_sha256_of_its_files(merged_export):
    manifest = json.loads((merged_export / "export_manifest.json").read_text())
    assert manifest["algorithm"] == "sha256"
    assert {"heads.safetensors", "finrisk_model.json", "tokenizer.json", "encoder/model.safetensors"} <= set(
        manifest["files"])


@pytest.mark.parametrize("attack", sorted(TAMPERING))
def test_a_changed_export_file_is_refused_naming_it(attack, merged_export, tmp_path, caplog):
    tamper, name = TAMPERING[attack]
    folder = _copy(merged_export, tmp_path / "export")
    tamper(folder)
    assert cli_main(["predict", str(folder), *TEXTS]) == 2
    assert f"{folder / name} was changed after export" in caplog.text
    with pytest.raises(ModelLoadError, match=name):
        Predictor.load(folder)


def test_a_file_slipped_into_an_export_or_a_stripped_manifest_is_refused(merged_export, tmp_path):
    folder = _copy(merged_export, tmp_path / "export")
    (folder / "special_tokens_map.json.bak").write_text("{}")
    with pytest.raises(ModelLoadError, match="did not write: special_tokens_map.json.bak"):
        Predictor.load(folder)
    stripped = _copy(merged_export, tmp_path / "stripped")
    manifest = json.loads((stripped / "export_manifest.json").read_text())
    del manifest["files"]
    (stripped / "export_manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelLoadError, match="records no file hashes"):
        Predictor.load(stripped)


def test_an_onnx_export_is_sealed_too(run_dir, tmp_path, caplog):
    pytest.importorskip("onnxruntime")
    out = tmp_path / "onnx"
    export_model(str(run_dir), out, fmt="onnx")
    Predictor.load(out, backend="onnx")  # as exported: loads
    _flip_heads(out)
    assert cli_main(["score", str(out), str(tmp_path), "--backend", "onnx", "--out", str(tmp_path / "s.csv")]) == 2
    assert "heads.safetensors was changed after export" in caplog.text


def test_an_export_publishes_to_the_registry_and_loads_from_it(merged_export, tmp_path, monkeypatch):
    root = tmp_path / "registry"
    assert cli_main(["registry", "push", str(merged_export), "--name", "credit-merged", "--root", str(root)]) == 0
    registry = ModelRegistry(root)
    assert registry.versions("credit-merged") == [1]
    info = registry.info("credit-merged", 1)
    assert info["release"]["export"]["format"] == "merged" and info["metrics"]["test"]["num_examples"] > 0
    expected = Predictor.load(merged_export).predict_proba(TEXTS)
    monkeypatch.setenv("FINRISK_REGISTRY", str(root))
    np.testing.assert_allclose(Predictor.load("registry:credit-merged@1").predict_proba(TEXTS), expected, atol=1e-6)


def test_a_tampered_export_is_not_published(merged_export, tmp_path, caplog):
    folder = _copy(merged_export, tmp_path / "export")
    _edit_threshold(folder)
    root = tmp_path / "registry"
    assert cli_main(["registry", "push", str(folder), "--name", "credit-merged", "--root", str(root)]) == 2
    assert "finrisk_model.json was changed after export" in caplog.text
    assert ModelRegistry(root).versions("credit-merged") == []


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


CORRUPTIONS = {
    "adapter": (lambda m: _truncate(m / "adapters" / "shared" / "adapter_model.safetensors"), "adapter_model"),
    "heads": (lambda m: _truncate(m / "heads.safetensors"), "heads.safetensors"),
    "metadata": (lambda m: (m / "finrisk_model.json").write_text('{"task": {"name": '), "finrisk_model.json"),
    "tokenizer": (lambda m: (m / "tokenizer.json").write_text("not a tokenizer \x00\x01"), "tokenizer.json"),
}


@pytest.mark.parametrize("part", sorted(CORRUPTIONS))
def test_push_refuses_corrupt_files_and_predict_exits_2(part, run_dir, tmp_path, caplog):
    corrupt, name = CORRUPTIONS[part]
    run = _copy(run_dir, tmp_path / "run")
    corrupt(run / "model")
    root = tmp_path / "registry"
    assert cli_main(["registry", "push", str(run), "--name", "credit-text", "--root", str(root)]) == 2
    assert name in caplog.text and "corrupt" in caplog.text
    assert ModelRegistry(root).versions("credit-text") == []
    assert not list((root / "credit-text").glob(".staging-*"))
    caplog.clear()
    assert cli_main(["predict", str(run), *TEXTS]) == 2
    assert name in caplog.text and "Traceback" not in caplog.text


def test_a_missing_local_path_shaped_like_a_hub_id_is_never_fetched(tmp_path, monkeypatch, caplog):
    import huggingface_hub

    fetched: list[str] = []
    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda repo, **kw: fetched.append(repo) or str(tmp_path))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelLoadError, match=r"runs/credit_txt: no such directory"):
        resolve_model_ref("runs/credit_txt")
    assert cli_main(["predict", "acme/credit-text", "text"]) == 2
    assert "acme/credit-text: no such directory (a Hugging Face Hub model is named hub:acme/credit-text)" in caplog.text
    assert fetched == []


@pytest.mark.parametrize("ref", ["hub:a/b/c", "hub:--acme/x", "hub:", "hub:" + "x" * 200 + "/y"])
def test_hub_ids_the_hub_rejects_are_clear_errors(ref, caplog):
    assert cli_main(["predict", ref, "text"]) == 2
    assert "is not a valid Hugging Face repo id" in caplog.text and "Traceback" not in caplog.text


@pytest.mark.parametrize("version", ["\u00b2", "\u0663", "1" * 100_000])
def test_odd_version_numbers_are_clear_errors(version, run_dir, tmp_path, monkeypatch, caplog):
    root = tmp_path / "registry"
    ModelRegistry(root).publish(run_dir, "credit-text")
    monkeypatch.setenv("FINRISK_REGISTRY", str(root))
    assert cli_main(["predict", f"registry:credit-text@{version}", "text"]) == 2
    assert "credit-text has no stage" in caplog.text and "versions: [1]" in caplog.text


def test_the_int8_gate_compares_on_the_validation_texts_saved_with_the_model(run_dir, tmp_path, caplog):
    """On code without saved texts an export moved away from its run was gated on 8 built-in sentences."""
    pytest.importorskip("onnxruntime")
    import logging

    from finrisk_nlp.inference.quality_gate import reference_texts
    from finrisk_nlp.modeling import ModelMetadata

    saved = json.loads((run_dir / "model" / "reference_texts.json").read_text())
    texts = saved["tasks"]["credit_text"]["texts"]
    assert saved["redacted"] is True and len(texts) > 8
    assert len(saved["tasks"]["credit_text"]["labels"]) == len(texts)
    moved = _copy(run_dir / "model", tmp_path / "elsewhere" / "credit")  # no run beside it any more
    out = tmp_path / "onnx"
    export_model(str(moved), out, fmt="onnx")
    ref = reference_texts(out, ModelMetadata.read(out), "credit_text")
    assert ref.texts == texts and ref.labels is not None and "saved with" in ref.source
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text(TEXTS[0])
    with caplog.at_level(logging.INFO):
        assert cli_main(["score", str(out), str(docs), "--backend", "onnx", "--quantize", "int8", "--force",
                         "--out", str(tmp_path / "s.csv")]) == 0
    assert f"on {len(texts)} texts (validation split of {run_dir}, saved with {out})" in caplog.text


def test_saved_reference_texts_are_redacted_even_without_data_redaction(tmp_path, tiny_model_dir):
    from conftest import make_credit_records, write_jsonl

    rows = make_credit_records(48)
    for row in rows:
        row["text"] += " Contact jane.doe@example.com or card 4111 1111 1111 1111."
    data = write_jsonl(tmp_path / "loans.jsonl", rows)
    run = train_tiny_run(tiny_model_dir, tmp_path / "run", "data.redact_pii=false", "eval.explain_examples=0",
                         data=data)
    saved = (run / "model" / "reference_texts.json").read_text()
    assert "jane.doe@example.com" not in saved and "4111 1111" not in saved
    assert "[EMAIL]" in saved


READ_ONLY = Path("/sys/finrisk-hostile-test")  # sysfs: even root may not create files there


@pytest.mark.skipif(not Path("/sys/fs").is_dir(), reason="needs Linux sysfs as a place nobody may write")
def test_a_read_only_out_is_a_clear_error(run_dir, caplog):
    assert cli_main(["export", str(run_dir), "--format", "merged", "--out", str(READ_ONLY / "merged")]) == 2
    assert "Operation not permitted" in caplog.text and "choose a writable folder" in caplog.text


def test_a_full_disk_is_a_clear_error_and_leaves_nothing_behind(run_dir, tmp_path, monkeypatch, caplog):
    import errno

    import finrisk_nlp.modeling.saving as saving

    def full(tensors, filename, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", filename)

    monkeypatch.setattr(saving, "save_file", full)
    out = tmp_path / "merged"
    assert cli_main(["export", str(run_dir), "--format", "merged", "--out", str(out)]) == 2
    assert "No space left on device" in caplog.text and "Traceback" not in caplog.text
    assert list(tmp_path.iterdir()) == []  # no half-written export
