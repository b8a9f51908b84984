"""finrisk export: merged and ONNX exports with recorded parity, the onnx backend, and the int8 quality gate."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from conftest import make_credit_records
from runs import train_tiny_run

from finrisk_nlp.cli.main import main as cli_main
from finrisk_nlp.errors import FinriskError, ModelLoadError
from finrisk_nlp.export.exporter import export_model
from finrisk_nlp.inference import onnx_model
from finrisk_nlp.inference.onnx_model import ENCODER_INT8_ONNX, ENCODER_ONNX, OnnxDocumentModel, head_logits
from finrisk_nlp.inference.parity import BUILT_IN_TEXTS
from finrisk_nlp.inference.predictor import Predictor
from finrisk_nlp.modeling.classifier import DocumentHead
from finrisk_nlp.modeling.layout import EXPORT_MANIFEST
from finrisk_nlp.scoring.engine import ScoreOptions, score_documents

pytest.importorskip("onnxruntime")

# Short texts, a long one (several windows), an empty-ish one: padding and window pooling both matter.
TEXTS = [*BUILT_IN_TEXTS[:5], "ok", "late payment, high debt and lost job. " * 30]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, tiny_model_dir) -> Path:
    # Temperature scaling keeps calibrated probabilities as smooth as the logits; an isotonic map fitted on 12
    # validation documents of a barely trained model has steps that turn 1e-7 logit noise into 1e-4.
    return train_tiny_run(tiny_model_dir, tmp_path_factory.mktemp("export") / "run", "calibration.method=temperature")


def _probs(predictor: Predictor, batch_size: int = 3) -> np.ndarray:
    return predictor.predict_proba(TEXTS, batch_size=batch_size)


def test_numpy_head_matches_the_torch_head():
    torch.manual_seed(0)
    vectors = torch.randn(7, 16)
    doc_index = torch.tensor([0, 2, 0, 1, 2, 2, 0])
    for pooling in ("attention", "mean", "max"):
        head = DocumentHead(16, 3, pooling, dropout=0.1).eval()
        if head.score is not None:  # trained attention scores are not zero
            torch.nn.init.normal_(head.score.weight)
        weights = {k: v.numpy() for k, v in head.state_dict().items()}
        expected = head(vectors, doc_index, 3).detach().numpy()
        np.testing.assert_allclose(head_logits(weights, vectors.numpy(), doc_index.numpy(), 3, pooling), expected,
                                   atol=1e-6)


def test_merged_export_records_parity_and_predicts_like_the_lora_model(run_dir, tmp_path):
    out = tmp_path / "merged"
    manifest = export_model(str(run_dir), out, fmt="merged")
    assert (out / "encoder" / "model.safetensors").is_file() and not (out / "adapters").exists()
    parity = json.loads((out / EXPORT_MANIFEST).read_text())["parity"]
    assert parity == manifest["parity"]
    assert 0 <= parity["max_abs_logit_diff"] <= 1e-4 and parity["num_texts"] > 0
    assert parity["texts"] == [f"validation split of {run_dir}, saved with {run_dir / 'model'}"]  # saved by training
    assert json.loads((out / "finrisk_model.json").read_text())["lora"] is False
    np.testing.assert_allclose(_probs(Predictor.load(out)), _probs(Predictor.load(run_dir)), atol=1e-5)


def test_onnx_export_and_backend_give_the_torch_probabilities(run_dir, tmp_path, monkeypatch):
    out = tmp_path / "onnx"
    assert cli_main(["export", str(run_dir), "--format", "onnx", "--out", str(out)]) == 0
    manifest = json.loads((out / EXPORT_MANIFEST).read_text())
    assert manifest["format"] == "onnx" and manifest["quantize"] is None
    assert manifest["parity"]["max_abs_logit_diff"] <= 1e-4
    assert {ENCODER_ONNX, "heads.safetensors", "finrisk_model.json", "tokenizer.json"} <= {
        p.name for p in out.iterdir()}
    torch_probs = _probs(Predictor.load(run_dir))
    exported = Predictor.load(out, backend="onnx")
    assert isinstance(exported.model, OnnxDocumentModel)
    np.testing.assert_allclose(_probs(exported, batch_size=5), torch_probs, atol=1e-5)
    assert exported.predict(TEXTS)[0]["decision"] == Predictor.load(run_dir).predict(TEXTS)[0]["decision"]
    # any model reference, exported on load: a run directory and a registry version
    np.testing.assert_allclose(_probs(Predictor.load(run_dir, backend="onnx")), torch_probs, atol=1e-5)
    from finrisk_nlp.registry.local import ModelRegistry

    registry = tmp_path / "registry"
    ModelRegistry(registry).publish(run_dir, "credit")
    monkeypatch.setenv("FINRISK_REGISTRY", str(registry))
    np.testing.assert_allclose(_probs(Predictor.load("registry:credit", backend="onnx")), torch_probs, atol=1e-5)
    int8 = Predictor.open(out, backend="onnx", quantize="int8")  # an fp32 export, quantised on load (no gate)
    assert int8.model.encoder_path.name == ENCODER_INT8_ONNX and not (out / ENCODER_INT8_ONNX).exists()
    assert np.abs(_probs(int8) - torch_probs).max() > 0  # really a different graph
    with pytest.raises(ModelLoadError, match=re.escape("is an ONNX export; load it with backend='onnx'")):
        Predictor.load(out)


def test_broken_parity_fails_the_export_and_writes_nothing(run_dir, tmp_path, monkeypatch):
    def off_by_a_little(*args, **kwargs):
        return head_logits(*args, **kwargs) + 1e-3

    monkeypatch.setattr(onnx_model, "head_logits", off_by_a_little)
    out = tmp_path / "onnx"
    with pytest.raises(ModelLoadError, match=re.escape("the ONNX graph does not match the PyTorch model: max |logit "
                                                       "difference| 0.001 > 0.0001. Nothing was written")):
        export_model(str(run_dir), out, fmt="onnx")
    assert not out.exists() and not list(tmp_path.glob(".onnx*"))
    assert cli_main(["export", str(run_dir), "--format", "onnx", "--out", str(out)]) == 2


def _flip_int8(monkeypatch) -> None:
    """A forced quality drop: the int8 graph's document logits come out reversed."""
    classify = OnnxDocumentModel.classify

    def flipped(self, *args, **kwargs):
        logits = classify(self, *args, **kwargs)
        return -logits if self.encoder_path.name == ENCODER_INT8_ONNX else logits

    monkeypatch.setattr(OnnxDocumentModel, "classify", flipped)


def test_int8_gate_refuses_a_quality_drop_unless_forced(run_dir, tmp_path, monkeypatch):
    _flip_int8(monkeypatch)
    out = tmp_path / "int8"
    with pytest.raises(FinriskError, match=re.escape("int8 quantisation costs too much quality: credit_text: "
                                                     "decision agreement")) as info:
        export_model(str(run_dir), out, fmt="onnx", quantize="int8")
    assert "pass --force to accept it" in str(info.value)
    assert not out.exists()

    manifest = export_model(str(run_dir), out, fmt="onnx", quantize="int8", force=True)
    gate = manifest["int8_gate"]
    assert gate["forced"] and gate["min_agreement"] == 0.995 and gate["max_f1_drop"] == 0.005
    report = gate["tasks"][0]
    assert not report["passed"] and report["agreement"] < 0.995 and report["macro_f1_reduced"] is not None
    assert (out / ENCODER_INT8_ONNX).is_file() and (out / ENCODER_ONNX).is_file()
    assert Predictor.load(out, backend="onnx").model.encoder_path.name == ENCODER_INT8_ONNX
    assert Predictor.load(out, backend="onnx", quantize="none").model.encoder_path.name == ENCODER_ONNX
    with pytest.raises(FinriskError, match=re.escape("int8 quantisation costs too much quality")):
        Predictor.load(out, backend="onnx", precision="int8")  # the Python API passes the same gate


def test_int8_gate_without_labels_checks_agreement_only(run_dir, tmp_path):
    texts = tmp_path / "texts.txt"
    texts.write_text("\n".join(TEXTS) + "\n")
    manifest = export_model(str(run_dir), tmp_path / "int8", fmt="onnx", quantize="int8", texts_file=texts,
                            force=True)
    report = manifest["int8_gate"]["tasks"][0]
    assert report["source"] == str(texts) and report["num_texts"] == len(TEXTS)
    assert report["macro_f1_fp32"] is None and 0.0 <= report["agreement"] <= 1.0


def _docs(directory: Path, n: int = 6) -> Path:
    directory.mkdir()
    for i, record in enumerate(make_credit_records()[:n]):
        (directory / f"doc{i}.txt").write_text(record["text"] * (1 + 5 * (i % 2)))
    return directory


def test_score_backends_agree_and_int8_gate_guards_scoring(run_dir, tmp_path, monkeypatch):
    docs = _docs(tmp_path / "docs")
    tables = {}
    for backend in ("torch", "onnx"):
        out = tmp_path / f"{backend}.parquet"
        assert score_documents(str(run_dir), ScoreOptions([str(docs)], str(out), batch_size=4, cpu=True,
                                                          backend=backend)).complete
        tables[backend] = pq.read_table(out).to_pandas()
    assert list(tables["torch"]["decision"]) == list(tables["onnx"]["decision"])
    np.testing.assert_allclose(tables["onnx"]["p_default"], tables["torch"]["p_default"], atol=1e-5)

    _flip_int8(monkeypatch)
    options = ScoreOptions([str(docs)], str(tmp_path / "int8.parquet"), cpu=True, backend="onnx", quantize="int8")
    with pytest.raises(FinriskError, match=re.escape("int8 quantisation costs too much quality")):
        score_documents(str(run_dir), options)
    options.force = True
    assert score_documents(str(run_dir), options).complete


def test_bad_arguments_and_a_missing_extra_say_what_to_do(run_dir, tmp_path, monkeypatch):
    with pytest.raises(FinriskError, match=re.escape("--quantize int8 needs --format onnx")):
        export_model(str(run_dir), tmp_path / "x", fmt="merged", quantize="int8")
    with pytest.raises(ModelLoadError, match=re.escape("but --task 'aml_alert' was asked for")):
        export_model(str(run_dir), tmp_path / "x", fmt="merged", task="aml_alert")
    with pytest.raises(FinriskError, match=re.escape("--texts '/nowhere.txt' does not exist")):
        export_model(str(run_dir), tmp_path / "x", fmt="merged", texts_file="/nowhere.txt")
    with pytest.raises(ModelLoadError, match=re.escape("backend 'tensorrt' is unknown")):
        Predictor.load(run_dir, backend="tensorrt")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    expected = ("finrisk export --format onnx needs onnxruntime and onnx, which are not installed; run "
                "`pip install 'finrisk_nlp[onnx]'`")
    with pytest.raises(ModelLoadError, match=re.escape(expected)):
        export_model(str(run_dir), tmp_path / "x", fmt="onnx")
    assert not (tmp_path / "x").exists()
