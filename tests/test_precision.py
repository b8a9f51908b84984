"""--precision auto|fp32|bf16|int8: native bf16 detection, the quality gate on every reduced precision, selective
int8, LoRA merged at load, and the flag on finrisk score / finrisk serve / Predictor.load / training."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import make_credit_records
from peft import PeftModel
from runs import train_tiny_run

from finrisk_nlp import precision as precision_module
from finrisk_nlp.cli.main import main as cli_main
from finrisk_nlp.cli.score import main as score_main
from finrisk_nlp.config import load_config
from finrisk_nlp.errors import FinriskError
from finrisk_nlp.inference import reduced_precision
from finrisk_nlp.inference.loading import load_for_inference
from finrisk_nlp.inference.predictor import Predictor
from finrisk_nlp.precision import CpuSupport, read_cpu_flags, resolve_precision
from finrisk_nlp.training.accelerator import mixed_precision

TEXTS = [r["text"] for r in make_credit_records(12, seed=3)]
NATIVE = CpuSupport(bf16=True, vnni=True, amx=False, source="test")
EMULATED = CpuSupport(bf16=False, vnni=False, amx=False, source="test")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, tiny_model_dir) -> Path:
    return train_tiny_run(tiny_model_dir, tmp_path_factory.mktemp("precision") / "run")


def _fake_cpu(monkeypatch, support: CpuSupport) -> None:
    monkeypatch.setattr(precision_module, "cpu_support", lambda: support)


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    x86 = tmp_path / "x86"
    x86.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16 avx512_vnni\n\nprocessor\t: 1\n")
    arm = tmp_path / "arm"
    arm.write_text("processor\t: 0\nFeatures\t: fp asimd asimddp bf16\n")
    assert {"avx512_bf16", "avx512_vnni"} <= read_cpu_flags(x86)
    assert "bf16" in read_cpu_flags(arm)
    assert read_cpu_flags(tmp_path / "missing") is None
    assert "native bf16" in precision_module.cpu_support().describe()


def test_auto_stays_fp32_without_native_bf16_and_forced_bf16_warns(monkeypatch, caplog, tmp_path):
    _fake_cpu(monkeypatch, EMULATED)
    with caplog.at_level(logging.INFO, logger="finrisk_nlp"):
        assert resolve_precision("auto", "cpu") == "fp32"
        assert resolve_precision("bf16", "cpu") == "bf16"
    assert "precision auto -> fp32 on cpu (native bf16 no" in caplog.text
    assert "torch emulates it, which is slower than fp32" in caplog.text
    cfg = load_config(None, ["cpu=true", f"output_dir={tmp_path}"])
    assert cfg.train.mixed_precision == "auto" and mixed_precision(cfg) == "no"

    _fake_cpu(monkeypatch, NATIVE)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="finrisk_nlp"):
        assert resolve_precision("auto", "cpu") == "bf16"
        assert resolve_precision("auto", "cpu", backend="onnx") == "fp32"
    assert "emulates" not in caplog.text
    assert mixed_precision(cfg) == "bf16"
    # `accelerate launch` without --mixed_precision exports "no": auto still picks bf16; a reduced precision the
    # launcher names is left to it, and an explicit train.mixed_precision=no keeps fp32
    monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", "no")
    assert mixed_precision(cfg) == "bf16"
    monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", "fp16")
    assert mixed_precision(cfg) is None
    fp32 = load_config(None, ["cpu=true", f"output_dir={tmp_path}", "train.mixed_precision=no"])
    assert mixed_precision(fp32) == "no"
    with pytest.raises(ValueError, match="precision 'fp8' is unknown"):
        resolve_precision("fp8")


def test_lora_is_merged_once_at_load_with_the_unmerged_probabilities(run_dir):
    unmerged = Predictor.load(run_dir, merge=False)
    merged = Predictor.load(run_dir)
    assert isinstance(unmerged.model.encoder, PeftModel) and not isinstance(merged.model.encoder, PeftModel)
    np.testing.assert_allclose(merged.predict_proba(TEXTS), unmerged.predict_proba(TEXTS), atol=1e-5)
    assert merged.metadata.lora  # the fingerprint still covers the base model
    served = load_for_inference(str(run_dir))
    assert not isinstance(served.model.encoder, PeftModel) and served.precision == "fp32"


def test_bf16_runs_the_encoder_in_bf16_and_records_its_gate(run_dir, monkeypatch):
    _fake_cpu(monkeypatch, NATIVE)
    fp32 = Predictor.load(run_dir)
    low = Predictor.load(run_dir, precision="auto", force=True)
    assert low.precision == "bf16" and low.precision_record["requested"] == "auto"
    assert {p.dtype for p in low.model.encoder.parameters()} == {torch.bfloat16}
    assert {p.dtype for p in low.model.heads.parameters()} == {torch.float32}
    assert {p.dtype for p in fp32.model.parameters()} == {torch.float32}  # the original is left as it was
    gate = low.precision_record["gate"]
    assert gate["precision"] == "bf16" and gate["num_texts"] > 0 and gate["source"].startswith("validation split")
    assert gate["passed"] == (not gate["problems"]) and gate["min_agreement"] == 0.995
    assert np.abs(low.predict_proba(TEXTS) - fp32.predict_proba(TEXTS)).max() < 0.05


def test_the_gate_refuses_a_bad_reduced_precision_model_unless_forced(run_dir, monkeypatch):
    to_bf16 = reduced_precision.to_bf16

    def broken(predictor):  # a bf16 model whose decisions flip: what the gate is for
        low = to_bf16(predictor)
        for head in low.model.heads.values():
            head.out.weight.data.neg_()
            head.out.bias.data.neg_()
        return low

    monkeypatch.setattr(reduced_precision, "to_bf16", broken)
    with pytest.raises(FinriskError, match=re.escape("bf16 costs too much quality: credit_text: decision agreement")):
        Predictor.load(run_dir, precision="bf16")
    forced = Predictor.load(run_dir, precision="bf16", force=True)
    assert forced.precision == "bf16" and forced.precision_record["gate"]["forced"]
    assert not forced.precision_record["gate"]["passed"]


def test_int8_keeps_the_most_sensitive_layer_groups_in_fp32_until_the_gate_passes(run_dir, monkeypatch):
    quality_gate = reduced_precision.quality_gate
    calls = []

    def strict(fp32, low, ref, **kwargs):  # passes once two groups are kept in fp32
        report = quality_gate(fp32, low, ref, **kwargs)
        kept = sum(isinstance(m, torch.nn.Linear) for name, m in low.model.named_modules()
                   if name.startswith("encoder.") and ".layer." in name)
        calls.append(kept)
        report.problems = [] if len(calls) >= 3 else ["too few layers kept"]
        return report

    monkeypatch.setattr(reduced_precision, "quality_gate", strict)
    low = Predictor.load(run_dir, precision="int8", device="cpu")
    kept = low.precision_record["int8_layer_groups_kept_fp32"]
    groups = reduced_precision.linear_groups(Predictor.load(run_dir).model)
    assert len(groups) == 6 and len(kept) == 2 and set(kept) <= set(groups)  # 2 layers x attention, ffn in/out
    assert calls[0] == 0 and calls[-1] == sum(len(groups[g]) for g in kept)  # kept groups stayed nn.Linear
    quantised = {n for n, m in low.model.named_modules() if isinstance(m, torch.ao.nn.quantized.dynamic.Linear)}
    assert quantised == {n for g, names in groups.items() if g not in kept for n in names}
    replayed = reduced_precision.replay_precision(Predictor.load(run_dir), low.precision_record)
    np.testing.assert_allclose(replayed.predict_proba(TEXTS), low.predict_proba(TEXTS), atol=1e-6)


def test_precision_arguments_are_checked_with_the_fix(run_dir):
    with pytest.raises(FinriskError, match=re.escape("--precision 'fp16' is unknown")):
        Predictor.load(run_dir, precision="fp16")
    with pytest.raises(FinriskError, match=re.escape("--quantize int8 and --precision bf16 disagree")):
        Predictor.load(run_dir, precision="bf16", quantize="int8")
    pytest.importorskip("onnxruntime")
    with pytest.raises(FinriskError, match=re.escape("use --backend torch for bf16")):
        Predictor.load(run_dir, backend="onnx", precision="bf16")


def test_score_and_serve_take_precision(run_dir, tmp_path, monkeypatch):
    docs = tmp_path / "docs"
    docs.mkdir()
    for i, text in enumerate(TEXTS[:4]):
        (docs / f"d{i}.txt").write_text(text)
    out = tmp_path / "bf16.parquet"
    args = [str(run_dir), str(docs), "--out", str(out), "--cpu", "--batch-size", "4"]
    assert score_main([*args, "--precision", "bf16", "--force"]) == 0
    manifest = json.loads(Path(f"{out}.parts/manifest.json").read_text())
    assert manifest["fingerprint"]["precision"] == "bf16" and manifest["precision"]["gate"]["precision"] == "bf16"
    assert score_main([*args, "--precision", "fp32"]) == 2  # another precision never finishes these parts

    seen = {}
    monkeypatch.setattr("finrisk_nlp.service.rest.serve", lambda model, **kwargs: seen.update(kwargs))
    assert cli_main(["serve", str(run_dir), "--precision", "int8", "--texts", "t.txt", "--force"]) == 0
    assert seen["precision"] == "int8" and seen["texts_file"] == "t.txt" and seen["force"]

    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from finrisk_nlp.service.rest import build_app

    predictor = load_for_inference(str(run_dir), precision="bf16", force=True)
    with TestClient(build_app(predictor, {"ref": "x", "version": "1", "fingerprint": "sha256:0"})) as client:
        assert client.get("/health").json()["precision"] == "bf16"
