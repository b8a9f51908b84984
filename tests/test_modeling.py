import re

import pytest
import torch

from finrisk_nlp.config import LoraSettings, ModelConfig
from finrisk_nlp.errors import ModelLoadError
from finrisk_nlp.modeling import Head, ModelMetadata, TaskMetadata, build_model, load_model, save_model
from finrisk_nlp.modeling.classifier import pool_windows
from finrisk_nlp.modeling.layout import HEADS_FILE
from finrisk_nlp.tasks import get_task

CREDIT = get_task("credit_text")
TEXTS = ["missed payments after the applicant lost job", "steady salary and good savings", "loan for a car"]


def _build(model_dir, pooling="attention", **lora):
    torch.manual_seed(0)
    return build_model(ModelConfig(name_or_path=str(model_dir), max_length=32, pooling=pooling),
                       LoraSettings(r=4, **lora), {CREDIT.name: CREDIT})


def _perturb_trainable(model):
    """LoRA B and the attention scores start at zero; give every trainable tensor non-trivial values so a lost
    weight would show."""
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(torch.randn_like(p) * 0.5)


def _logits(model, tokenizer):
    model.eval()
    enc = tokenizer(TEXTS, padding=True, return_tensors="pt")
    # Two "documents": the first two texts as windows of one document, the third alone.
    with torch.no_grad():
        return model(**enc, doc_index=torch.tensor([0, 0, 1]), num_docs=2).logits


def _meta(model_dir, lora=True, **head):
    return ModelMetadata(tasks={CREDIT.name: TaskMetadata(CREDIT)}, base_model=str(model_dir), max_length=32,
                         lora=lora, head=Head(**head))


def test_only_adapters_and_heads_are_trainable(tiny_model_dir):
    model, _ = _build(tiny_model_dir)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n or n.startswith("heads.") for n in trainable)
    assert any(n.startswith("heads.credit_text.out") for n in trainable)
    assert not any("word_embeddings" in n or "pooler" in n for n in trainable)
    # auto targets: attention and MLP Linear layers of BERT, never a classifier head
    targeted = {n.split(".lora_")[0].rsplit(".", 1)[-1] for n in trainable if "lora_A" in n}
    assert targeted == {"query", "key", "value", "dense"}


@pytest.mark.parametrize("pooling", ["attention", "mean", "max"])
def test_save_reload_gives_identical_document_logits(tmp_path, tiny_model_dir, pooling):
    model, tokenizer = _build(tiny_model_dir, pooling=pooling)
    _perturb_trainable(model)
    before = _logits(model, tokenizer)
    save_model(model, tokenizer, _meta(tiny_model_dir, pooling=pooling), tmp_path / "model")
    assert (tmp_path / "model" / "adapters" / "shared" / "adapter_model.safetensors").is_file()
    assert (tmp_path / "model" / HEADS_FILE).is_file()
    assert not list(tmp_path.glob("**/*.bin")) and not list(tmp_path.glob(".model.tmp*"))
    reloaded, tok2, meta2 = load_model(tmp_path / "model")
    torch.testing.assert_close(_logits(reloaded, tok2), before, rtol=0, atol=0)
    assert meta2.task_metadata().task.labels == ("repaid", "default")
    assert meta2 == _meta(tiny_model_dir, pooling=pooling)  # every saved fact reads back as it was


def test_pooling_combines_windows_of_a_document_in_any_order():
    vectors = torch.tensor([[1.0, 0.0], [3.0, 4.0], [5.0, -1.0]])
    doc_index = torch.tensor([1, 0, 1])
    mean = pool_windows(vectors, doc_index, 2, "mean")
    torch.testing.assert_close(mean, torch.tensor([[3.0, 4.0], [3.0, -0.5]]))
    top = pool_windows(vectors, doc_index, 2, "max")
    torch.testing.assert_close(top, torch.tensor([[3.0, 4.0], [5.0, 0.0]]))
    weighted = pool_windows(vectors, doc_index, 2, "attention", scores=torch.tensor([0.0, 7.0, 100.0]))
    torch.testing.assert_close(weighted, torch.tensor([[3.0, 4.0], [5.0, -1.0]]))


def test_merged_model_matches_adapter_and_needs_no_peft(tmp_path, tiny_model_dir):
    model, tokenizer = _build(tiny_model_dir)
    _perturb_trainable(model)
    before = _logits(model, tokenizer)
    save_model(model, tokenizer, _meta(tiny_model_dir), tmp_path / "merged", merged=True)
    assert not (tmp_path / "merged" / "adapters").exists()
    assert (tmp_path / "merged" / "encoder" / "model.safetensors").is_file()
    merged, tok2, meta = load_model(tmp_path / "merged")
    assert meta.lora is False
    torch.testing.assert_close(_logits(merged, tok2), before, rtol=1e-4, atol=1e-5)


def test_save_replaces_atomically(tmp_path, tiny_model_dir):
    model, tokenizer = _build(tiny_model_dir)
    for _ in range(2):
        save_model(model, tokenizer, _meta(tiny_model_dir), tmp_path / "model")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_clear_errors_for_bad_models(tmp_path, tiny_model_dir):
    with pytest.raises(ModelLoadError, match="has no finrisk_model.json"):
        load_model(tmp_path)
    with pytest.raises(ModelLoadError, match=re.escape("lora.target_modules ['nonexistent'] are not Linear layers "
                                                       "of this bert encoder; its Linear layers are ['dense', 'key', "
                                                       "'query', 'value']")):
        _build(tiny_model_dir, target_modules=["nonexistent"])
    with pytest.raises(ModelLoadError, match="could not load the encoder"):
        _build(tmp_path / "missing")


def test_incomplete_model_dir_is_refused_with_the_missing_files(tmp_path, tiny_model_dir):
    model, tokenizer = _build(tiny_model_dir)
    save_model(model, tokenizer, _meta(tiny_model_dir), tmp_path / "model")
    (tmp_path / "model" / HEADS_FILE).unlink()
    with pytest.raises(ModelLoadError, match="is incomplete: .*heads.safetensors"):
        load_model(tmp_path / "model")


def test_explicit_dotted_targets_and_all_linear_are_accepted(tiny_model_dir):
    model, _ = _build(tiny_model_dir, target_modules=["intermediate.dense", "query"])
    names = {n for n, p in model.named_parameters() if "lora_A" in n}
    assert any("intermediate.dense" in n for n in names) and any("query" in n for n in names)
    assert not any("attention.output.dense" in n for n in names)
    model, _ = _build(tiny_model_dir, target_modules=["all-linear"])
    assert any("attention.output.dense.lora_A" in n for n, _ in model.named_parameters())


def test_full_finetuning_trains_everything_and_reloads(tmp_path, tiny_model_dir):
    torch.manual_seed(0)
    model, tokenizer = build_model(ModelConfig(name_or_path=str(tiny_model_dir), max_length=32),
                                   LoraSettings(enabled=False), {CREDIT.name: CREDIT})
    assert all(p.requires_grad for p in model.parameters())
    before = _logits(model, tokenizer)
    save_model(model, tokenizer, _meta(tiny_model_dir, lora=False), tmp_path / "model")
    reloaded, tok2, _ = load_model(tmp_path / "model")
    torch.testing.assert_close(_logits(reloaded, tok2), before, rtol=0, atol=0)


def test_loading_an_encoder_with_a_pooler_prints_no_load_report(tiny_model_dir, caplog):
    import logging

    from finrisk_nlp.modeling.build import load_encoder

    class Records(logging.Handler):
        def __init__(self) -> None:
            super().__init__()
            self.messages: list[str] = []

        def emit(self, record: logging.LogRecord) -> None:
            self.messages.append(record.getMessage())

    # transformers' loggers do not propagate to the root logger that caplog listens on; its own root sees them all
    report = logging.getLogger("transformers")
    records = Records()
    report.addHandler(records)
    caplog.set_level("WARNING", logger="finrisk_nlp")
    try:
        encoder = load_encoder(str(tiny_model_dir))  # the checkpoint has a pooler; the bare encoder leaves it out
    finally:
        report.removeHandler(records)
    assert getattr(encoder, "pooler", None) is None
    assert not [m for m in records.messages if "LOAD REPORT" in m or "not sharded" in m]
    assert not [r for r in caplog.records if r.name == "finrisk_nlp"]


def test_encoder_weights_missing_from_a_checkpoint_are_named_in_one_warning(tmp_path, tiny_model_dir, caplog):
    import shutil

    from safetensors.torch import load_file, save_file

    from finrisk_nlp.modeling.build import load_encoder

    damaged = shutil.copytree(tiny_model_dir, tmp_path / "damaged")
    weights = load_file(str(damaged / "model.safetensors"))
    dropped = next(k for k in weights if k.endswith("layer.1.output.dense.weight"))
    save_file({k: v for k, v in weights.items() if k != dropped}, str(damaged / "model.safetensors"),
              metadata={"format": "pt"})
    caplog.set_level("WARNING", logger="finrisk_nlp")
    load_encoder(str(damaged))
    warnings = [r.getMessage() for r in caplog.records if r.name == "finrisk_nlp"]
    assert len(warnings) == 1 and "1 weight(s) missing" in warnings[0]
    assert dropped.removeprefix("bert.").split("layer.1.")[1] in warnings[0] and "pooler" not in warnings[0]
