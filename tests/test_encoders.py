"""Every BERT-style architecture the project promises: tiny random encoders built from a config (no download),
trained by the recipe, saved, reloaded with identical logits, used for prediction, published and loaded again."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from conftest import make_credit_records, tiny_overrides, write_jsonl

from finrisk_nlp.evaluation.run_metrics import task_view

SMALL = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 37,
         "max_position_embeddings": 128}
ARCHITECTURES = {
    "bert": SMALL,
    "roberta": SMALL,
    "xlm-roberta": SMALL,
    "electra": {**SMALL, "embedding_size": 16},  # a projection between embeddings and encoder, as in ELECTRA
    "deberta-v2": {**SMALL, "relative_attention": True, "position_buckets": 16, "pos_att_type": ["p2c", "c2p"],
                   "position_biased_input": False},
    "distilbert": {"dim": 32, "n_layers": 2, "n_heads": 4, "hidden_dim": 37, "max_position_embeddings": 128},
    "modernbert": {**SMALL, "intermediate_size": 48, "global_attn_every_n_layers": 1, "local_attention": 16},
}
EXPECTED_TARGETS = {
    "bert": {"query", "key", "value", "dense"}, "roberta": {"query", "key", "value", "dense"},
    "xlm-roberta": {"query", "key", "value", "dense"}, "electra": {"query", "key", "value", "dense"},
    "deberta-v2": {"query_proj", "key_proj", "value_proj", "dense"},
    "distilbert": {"q_lin", "k_lin", "v_lin", "out_lin", "lin1", "lin2"}, "modernbert": {"Wqkv", "Wo", "Wi"},
}


def save_tiny_encoder(model_type: str, tokenizer, out: Path) -> Path:
    from transformers import AutoConfig, AutoModel

    ids = {"pad_token_id": tokenizer.pad_token_id}
    if model_type == "modernbert":
        ids.update(cls_token_id=tokenizer.cls_token_id, sep_token_id=tokenizer.sep_token_id,
                   bos_token_id=tokenizer.cls_token_id, eos_token_id=tokenizer.sep_token_id)
    config = AutoConfig.for_model(model_type, vocab_size=len(tokenizer), **ARCHITECTURES[model_type], **ids)
    torch.manual_seed(0)
    AutoModel.from_config(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def encoders(tmp_path_factory, tiny_tokenizer) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("encoders")
    return {name: save_tiny_encoder(name, tiny_tokenizer, root / name) for name in ARCHITECTURES}


@pytest.mark.parametrize("model_type", list(ARCHITECTURES))
def test_lora_auto_targets_and_exact_reload(model_type, encoders, tmp_path):
    from finrisk_nlp.config import LoraSettings, ModelConfig
    from finrisk_nlp.modeling import ModelMetadata, TaskMetadata, build_model, load_model, save_model
    from finrisk_nlp.tasks import get_task

    task = get_task("credit_text")
    torch.manual_seed(0)
    model, tokenizer = build_model(ModelConfig(name_or_path=str(encoders[model_type]), max_length=32),
                                   LoraSettings(r=4), {task.name: task})
    targeted = {n.split(".lora_A")[0].rsplit(".", 1)[-1] for n, _ in model.named_parameters() if ".lora_A." in n}
    assert targeted == EXPECTED_TARGETS[model_type]
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(torch.randn_like(p) * 0.3)
    enc = tokenizer(["missed payments after job loss", "steady salary", "loan for a car"], padding=True,
                    return_tensors="pt")
    model.eval()
    with torch.no_grad():
        before = model(**enc, doc_index=torch.tensor([0, 0, 1]), num_docs=2).logits
    meta = ModelMetadata(tasks={task.name: TaskMetadata(task)}, base_model=str(encoders[model_type]), max_length=32,
                         lora=True)
    save_model(model, tokenizer, meta, tmp_path / "model")
    reloaded, tok2, _ = load_model(tmp_path / "model")
    with torch.no_grad():
        after = reloaded(**tok2(["missed payments after job loss", "steady salary", "loan for a car"], padding=True,
                               return_tensors="pt"), doc_index=torch.tensor([0, 0, 1]), num_docs=2).logits
    torch.testing.assert_close(after, before, rtol=0, atol=0)


@pytest.mark.parametrize("model_type", list(ARCHITECTURES))
def test_recipe_trains_predicts_publishes_and_loads(model_type, encoders, tmp_path, monkeypatch):
    from finrisk_nlp.cli.recipe import run_recipe
    from finrisk_nlp.inference.predictor import Predictor
    from finrisk_nlp.registry.local import ModelRegistry

    data = write_jsonl(tmp_path / "loans.jsonl", make_credit_records(32))
    out = tmp_path / "run"
    config = Path(__file__).resolve().parent.parent / "recipes" / "configs" / "credit_text.yaml"
    argv = tiny_overrides(encoders[model_type], data, out) + [
        "train.epochs=1", "train.max_steps=3", "eval.explain_examples=0", "model.max_chunks=2", "model.stride=4"]
    assert run_recipe(argv, config) == 0
    texts = ["missed payments and lost job, the applicant has a bank account", "steady salary"]
    local = Predictor.load(out).predict_proba(texts)
    registry = ModelRegistry(tmp_path / "registry")
    version = registry.publish(out, "credit")
    monkeypatch.setenv("FINRISK_REGISTRY", str(registry.root))
    published = Predictor.load(f"registry:credit@{version}").predict_proba(texts)
    assert local.shape == (2, 2) and abs(local.sum(axis=1) - 1).max() < 1e-6
    torch.testing.assert_close(torch.from_numpy(published), torch.from_numpy(local), rtol=0, atol=1e-6)
    metrics = task_view(json.loads((out / "metrics.json").read_text()))
    assert metrics["test"]["num_examples"] == 8


def test_unknown_architecture_without_linear_layers_names_what_it_found():
    from finrisk_nlp.errors import ModelLoadError
    from finrisk_nlp.modeling.targets import resolve_target_modules

    encoder = torch.nn.Sequential(torch.nn.Embedding(10, 4), torch.nn.Conv1d(4, 4, 1))
    expected = ("has no torch.nn.Linear layer for LoRA (module types: ['Conv1d', 'Embedding', 'Sequential']); "
                "train it in full with lora.enabled=false")
    with pytest.raises(ModelLoadError, match=re.escape(expected)):
        resolve_target_modules(encoder, ["auto"])
