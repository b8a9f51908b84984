"""Training at scale on CPU: FSDP auto-wrap units, DeepSpeed accumulation agreeing with the run, launch modes that
cannot run refused, gradient checkpointing and attention implementations, and accumulation over 2 processes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import REPO, make_credit_records, tiny_overrides, write_jsonl
from runs import launch_two_cpu_processes
from test_encoders import ARCHITECTURES, save_tiny_encoder


def build(model_dir: Path, **model_options):
    from finrisk_nlp.config import LoraSettings, ModelConfig
    from finrisk_nlp.modeling import build_model
    from finrisk_nlp.tasks import get_task

    task = get_task("credit_text")
    torch.manual_seed(0)
    return build_model(ModelConfig(name_or_path=str(model_dir), max_length=32, **model_options),
                       LoraSettings(r=4, dropout=0.0), {task.name: task})


@pytest.fixture(scope="module")
def no_dropout_model_dir(tmp_path_factory, tiny_tokenizer) -> Path:
    """The tiny BERT without dropout, so that two runs differ only in how the work is split."""
    from transformers import BertConfig, BertModel

    out = tmp_path_factory.mktemp("tiny_bert_no_dropout")
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(tiny_tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=37, max_position_embeddings=128, hidden_dropout_prob=0.0,
                        attention_probs_dropout_prob=0.0)
    BertModel(config, add_pooling_layer=False).save_pretrained(out)
    tiny_tokenizer.save_pretrained(out)
    return out


@pytest.mark.parametrize("model_type", list(ARCHITECTURES))
def test_fsdp_transformer_wrap_shards_each_encoder_layer_and_not_the_embeddings(model_type, tiny_tokenizer,
                                                                                tmp_path):
    from accelerate.utils import FullyShardedDataParallelPlugin
    from accelerate.utils.fsdp_utils import fsdp2_prepare_auto_wrap_policy

    model, _ = build(save_tiny_encoder(model_type, tiny_tokenizer, tmp_path / model_type))
    # The layer class is left unset, as in accelerate_configs/fsdp.yaml: accelerate reads `_no_split_modules`.
    plugin = FullyShardedDataParallelPlugin(fsdp_version=2, auto_wrap_policy="transformer_based_wrap")
    policy = fsdp2_prepare_auto_wrap_policy(plugin, model)
    units = [module for module in model.modules() if policy(module)]
    assert len(units) == 2, model._no_split_modules  # both layers of the tiny encoder, each its own unit
    assert all(any("lora_A" in name for name, _ in unit.named_parameters()) for unit in units)
    embeddings = model.get_input_embeddings()
    # accelerate shards the input embeddings separately; a unit holding them would be sharded twice and fail
    assert not any(embeddings is m for unit in units for m in unit.modules())


def test_deepspeed_takes_accumulation_and_clipping_from_the_run(monkeypatch, tmp_path):
    from finrisk_nlp.config import RecipeConfig
    from finrisk_nlp.errors import ConfigError
    from finrisk_nlp.training.accelerator import deepspeed_plugin

    cfg = RecipeConfig()
    cfg.train.grad_accum_steps, cfg.train.max_grad_norm = 4, 0.5
    assert deepspeed_plugin(cfg) is None  # not launched with DeepSpeed
    monkeypatch.setenv("ACCELERATE_USE_DEEPSPEED", "true")
    plugin = deepspeed_plugin(cfg)
    assert plugin.deepspeed_config["gradient_accumulation_steps"] == 4
    assert plugin.deepspeed_config["gradient_clipping"] == 0.5

    monkeypatch.setenv("ACCELERATE_GRADIENT_ACCUMULATION_STEPS", "1")  # `gradient_accumulation_steps: 1` in the yaml
    message = ("the accelerate config (deepspeed_config.gradient_accumulation_steps) or launcher "
               "(--gradient_accumulation_steps) says 1 but train.grad_accum_steps=4")
    with pytest.raises(ConfigError, match=re.escape(message)):
        deepspeed_plugin(cfg)
    monkeypatch.setenv("ACCELERATE_GRADIENT_ACCUMULATION_STEPS", "4")
    assert deepspeed_plugin(cfg).deepspeed_config["gradient_accumulation_steps"] == 4

    ds_json = tmp_path / "ds.json"
    ds_json.write_text(json.dumps({"gradient_accumulation_steps": 2, "zero_optimization": {"stage": 2}}))
    monkeypatch.delenv("ACCELERATE_GRADIENT_ACCUMULATION_STEPS")
    monkeypatch.setenv("ACCELERATE_DEEPSPEED_CONFIG_FILE", str(ds_json))
    with pytest.raises(ConfigError, match=re.escape("the DeepSpeed config file sets gradient_accumulation_steps=2 "
                                                    "but train.grad_accum_steps=4; set it to \"auto\"")):
        deepspeed_plugin(cfg)
    ds_json.write_text(json.dumps({"gradient_accumulation_steps": "auto", "zero_optimization": {"stage": 2}}))
    assert deepspeed_plugin(cfg).deepspeed_config["gradient_accumulation_steps"] == 4


def test_fsdp_asked_for_on_cpu_processes_is_refused(monkeypatch, tmp_path):
    from finrisk_nlp.config import load_config
    from finrisk_nlp.errors import ConfigError
    from finrisk_nlp.training.accelerator import build_accelerator

    cfg = load_config(REPO / "recipes/configs/credit_text.yaml", [f"output_dir={tmp_path}", "cpu=true"])
    monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")
    with pytest.raises(ConfigError, match=re.escape("accelerate launch asked for FSDP (ACCELERATE_USE_FSDP=true) but "
                                                    "these processes run as")):
        build_accelerator(cfg)


def test_gradient_checkpointing_runs_and_gives_the_same_gradients(no_dropout_model_dir, monkeypatch):
    import transformers.modeling_utils as checkpoint

    calls = []
    original = checkpoint.checkpoint  # what transformers' layers call when checkpointing is on

    def counting(*args, **kwargs):
        calls.append(kwargs.get("use_reentrant"))
        return original(*args, **kwargs)

    monkeypatch.setattr(checkpoint, "checkpoint", counting)
    ids = torch.randint(5, 60, (3, 12))
    grads = {}
    for enabled in (False, True):
        model, _ = build(no_dropout_model_dir, gradient_checkpointing=enabled)
        model.train()
        loss = model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits.square().mean()
        loss.backward()
        grads[enabled] = {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}
        assert all(g is not None for g in grads[enabled].values())
    # once per encoder layer, non-reentrant (the reentrant kind gives frozen-embedding LoRA models no gradients)
    assert calls == [False, False]
    assert grads[True].keys() == grads[False].keys()
    for name, grad in grads[False].items():
        torch.testing.assert_close(grads[True][name], grad, atol=1e-6, rtol=1e-5, msg=name)
    assert any(g.abs().sum() > 0 for n, g in grads[True].items() if "lora_B" in n)


def test_eager_and_sdpa_attention_give_the_same_logits(no_dropout_model_dir):
    ids = torch.randint(5, 60, (3, 12))
    mask = torch.ones_like(ids)
    mask[1, 7:] = 0  # padding exercises the attention mask in both implementations
    logits = {}
    for implementation in ("eager", "sdpa"):
        model, _ = build(no_dropout_model_dir, attn_implementation=implementation)
        assert model.config._attn_implementation == implementation
        model.eval()
        with torch.no_grad():
            logits[implementation] = model(input_ids=ids, attention_mask=mask).logits
    torch.testing.assert_close(logits["eager"], logits["sdpa"], atol=1e-5, rtol=1e-4)


def train_losses(run_dir: Path) -> list[float]:
    events = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [e["loss"] for e in events if e["event"] == "train"]


@pytest.mark.e2e
def test_two_processes_with_accumulation_match_one_process_with_twice_the_batch(tmp_path, no_dropout_model_dir):
    from finrisk_nlp.cli.recipe import run_recipe

    # 48 rows -> 24 training rows: 3 whole steps of 8 documents per epoch on both sides (no padded last batch).
    data = write_jsonl(tmp_path / "loans.jsonl", make_credit_records(48))
    common = ["train.epochs=2", "train.grad_accum_steps=2", "lora.dropout=0", "train.group_by_length=false",
              "train.checkpoint_every=null"]
    one = tmp_path / "one"
    assert run_recipe([*tiny_overrides(no_dropout_model_dir, data, one), *common, "train.batch_size=4"],
                      REPO / "recipes/configs/credit_text.yaml") == 0
    two = tmp_path / "two"
    launch_two_cpu_processes("credit_text", [*tiny_overrides(no_dropout_model_dir, data, two), *common,
                                             "train.batch_size=2"], two, cwd=tmp_path)
    single, ddp = train_losses(one), train_losses(two)
    assert len(single) == len(ddp) == 6
    assert json.loads((two / "run_info.json").read_text())["gradient_accumulation_steps"] == 2
    assert max(abs(a - b) for a, b in zip(single, ddp)) < 1e-4, (single, ddp)
    assert single[0] != single[-1]  # the model did learn: equal losses are not an artefact of a frozen model


@pytest.mark.e2e
def test_fsdp_config_on_cpu_stops_with_the_reason(tmp_path, tiny_model_dir):
    data = write_jsonl(tmp_path / "loans.jsonl", make_credit_records(48))
    accelerate = str(Path(sys.executable).with_name("accelerate"))
    cmd = [accelerate, "launch", "--config_file", str(REPO / "accelerate_configs" / "fsdp.yaml"),
           "--num_processes", "2", "--mixed_precision", "no", str(REPO / "recipes" / "credit_text.py"),
           *tiny_overrides(tiny_model_dir, data, tmp_path / "run"), "train.max_steps=2"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode != 0
    assert "accelerate launch asked for FSDP (ACCELERATE_USE_FSDP=true) but these processes run as MULTI_CPU" \
        in result.stderr + result.stdout
    assert not (tmp_path / "run" / "model").exists()


def test_gpu_check_says_it_needs_a_gpu_and_its_worker_reports_a_table_row(tmp_path, tiny_model_dir, monkeypatch):
    import importlib

    if torch.cuda.is_available():
        pytest.skip("on a GPU machine the script runs the real check")
    env = {**os.environ, "PY": sys.executable, "OUT": str(tmp_path / "check")}
    done = subprocess.run(["bash", str(REPO / "benchmarks" / "gpu_check.sh")], capture_output=True, text=True,
                          env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "gpu_check needs a CUDA GPU" in done.stdout and not (tmp_path / "check").exists()

    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    gpu_check = importlib.import_module("gpu_check")
    out = tmp_path / "out"
    out.mkdir()
    write_jsonl(out / "train.jsonl", make_credit_records(40))
    write_jsonl(out / "eval.jsonl", make_credit_records(12, seed=1))
    gpu_check.main(["worker", "--out", str(out), "--model", str(tiny_model_dir), "--mode", "single-fp32",
                    "--steps", "3", "--batch-size", "4", "cpu=true", "lora.r=4",
                    "train.mixed_precision='no'"])  # auto would be bf16 on a CPU with native bf16
    gpu_check.main(["skip", "--out", str(out), "--model", "m", "--mode", "deepspeed-zero2",
                    "--reason", "not installed"])
    (row, skipped) = [line.strip("|").split("|") for line in gpu_check.table(out).splitlines()[2:]]
    assert [c.strip() for c in row[:5]] == [tiny_model_dir.name, "single-fp32", "1", "no", "NO"]
    assert float(row[5]) > 0
    assert skipped[5].strip() == "skipped: not installed"
