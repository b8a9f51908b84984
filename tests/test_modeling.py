import pytest
import torch

from finrisk_nlp.config import LoraSettings, ModelConfig
from finrisk_nlp.errors import ModelLoadError
from finrisk_nlp.modeling.loading import ModelMetadata, build_model, load_model, save_model
from finrisk_nlp.tasks import get_task

CREDIT = get_task("credit_text")
TEXTS = ["missed payments after the applicant lost job", "steady salary and good savings", "loan for a car"]


def _build(model_dir, **lora):
    torch.manual_seed(0)
    return build_model(ModelConfig(name_or_path=str(model_dir), max_length=32), LoraSettings(r=4, **lora), CREDIT)


def _perturb_trainable(model):
    """LoRA B starts at zero; give every trainable tensor non-trivial values so a lost weight would show."""
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(torch.randn_like(p) * 0.5)


def _logits(model, tokenizer):
    model.eval()
    with torch.no_grad():
        return model(**tokenizer(TEXTS, padding=True, return_tensors="pt")).logits


def test_only_adapter_and_new_modules_are_trainable(tiny_model_dir_no_pooler):
    model, _ = _build(tiny_model_dir_no_pooler)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n or "modules_to_save" in n for n in trainable)
    assert any("classifier" in n for n in trainable)
    assert any("pooler" in n for n in trainable), "a pooler missing from the checkpoint must be trained and saved"
    assert not any("word_embeddings" in n or "attention.self.key" in n for n in trainable)


@pytest.mark.parametrize("fixture", ["tiny_model_dir", "tiny_model_dir_no_pooler"])
def test_save_reload_gives_identical_logits(request, tmp_path, fixture):
    model, tokenizer = _build(request.getfixturevalue(fixture))
    _perturb_trainable(model)
    before = _logits(model, tokenizer)
    meta = ModelMetadata(task=CREDIT.__dict__, base_model=str(request.getfixturevalue(fixture)), max_length=32,
                         lora=True)
    save_model(model, tokenizer, meta, tmp_path / "model")
    assert (tmp_path / "model" / "adapter_model.safetensors").is_file()
    assert not list(tmp_path.glob("**/*.bin")) and not list(tmp_path.glob(".model.tmp*"))
    reloaded, tok2, meta2 = load_model(tmp_path)
    torch.testing.assert_close(_logits(reloaded, tok2), before, rtol=0, atol=0)
    assert meta2.to_task().labels == ("repaid", "default")
    assert reloaded.config.id2label == {0: "repaid", 1: "default"}


def test_merged_model_matches_adapter_and_needs_no_peft(tmp_path, tiny_model_dir_no_pooler):
    model, tokenizer = _build(tiny_model_dir_no_pooler)
    _perturb_trainable(model)
    before = _logits(model, tokenizer)
    meta = ModelMetadata(task=CREDIT.__dict__, base_model=str(tiny_model_dir_no_pooler), max_length=32, lora=True)
    save_model(model, tokenizer, meta, tmp_path / "merged", merged=True)
    assert not (tmp_path / "merged" / "adapter_config.json").exists()
    from transformers import AutoModelForSequenceClassification

    plain = AutoModelForSequenceClassification.from_pretrained(tmp_path / "merged")
    torch.testing.assert_close(_logits(plain, tokenizer), before, rtol=1e-5, atol=1e-5)
    _, _, meta2 = load_model(tmp_path / "merged")
    assert meta2.lora is False


def test_save_replaces_atomically(tmp_path, tiny_model_dir):
    model, tokenizer = _build(tiny_model_dir)
    meta = ModelMetadata(task=CREDIT.__dict__, base_model=str(tiny_model_dir), max_length=32, lora=True)
    save_model(model, tokenizer, meta, tmp_path / "model")
    save_model(model, tokenizer, meta, tmp_path / "model")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_clear_errors_for_bad_models(tmp_path, tiny_model_dir):
    with pytest.raises(ModelLoadError, match="is not a finrisk model"):
        load_model(tmp_path)
    with pytest.raises(ModelLoadError, match="could not load base model"):
        build_model(ModelConfig(name_or_path=str(tmp_path / "nope")), LoraSettings(), CREDIT)
    with pytest.raises(ModelLoadError, match="target_modules"):
        build_model(ModelConfig(name_or_path=str(tiny_model_dir)), LoraSettings(target_modules=["nonexistent"]), CREDIT)


def test_full_finetuning_trains_everything(tiny_model_dir):
    model, _ = build_model(ModelConfig(name_or_path=str(tiny_model_dir)), LoraSettings(enabled=False), CREDIT)
    assert all(p.requires_grad for p in model.parameters())


def test_chosen_pretrained_modules_train_in_full_and_reload(tmp_path, tiny_model_dir):
    model, tokenizer = _build(tiny_model_dir, modules_to_save=["pooler"])
    assert any("pooler" in n and p.requires_grad for n, p in model.named_parameters())
    _perturb_trainable(model)
    before = _logits(model, tokenizer)
    meta = ModelMetadata(task=CREDIT.__dict__, base_model=str(tiny_model_dir), max_length=32, lora=True)
    save_model(model, tokenizer, meta, tmp_path / "model")
    reloaded, tok2, _ = load_model(tmp_path)
    torch.testing.assert_close(_logits(reloaded, tok2), before, rtol=0, atol=0)
