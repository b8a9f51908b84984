"""train.head_lr: the task heads train at their own rate, the adapters at train.lr."""

import pytest
import torch

from finrisk_nlp.config import load_config
from finrisk_nlp.errors import ConfigError
from finrisk_nlp.modeling import build_model
from finrisk_nlp.tasks import get_task
from finrisk_nlp.training.optimizer import build_optimizer


def tiny_classifier(model_dir):
    cfg = load_config(None, [f"model.name_or_path={model_dir}", "lora.r=4", "lora.alpha=8"])
    model, _ = build_model(cfg.model, cfg.lora, {"credit_text": get_task("credit_text")})
    return model


def test_heads_and_adapters_get_their_own_rates_and_every_trainable_parameter_once(tiny_model_dir):
    model = tiny_classifier(tiny_model_dir)
    optimizer = build_optimizer(model, load_config(None, ["train.lr=1e-4", "train.head_lr=3e-3"]).train)
    names = {id(p): n for n, p in model.named_parameters()}
    adapters, heads = optimizer.param_groups
    assert adapters["lr"] == 1e-4 and heads["lr"] == 3e-3
    assert all("lora_" in names[id(p)] for p in adapters["params"])
    assert all(names[id(p)].startswith("heads.") for p in heads["params"])
    grouped = [id(p) for g in optimizer.param_groups for p in g["params"]]
    assert sorted(grouped) == sorted(id(p) for p in model.parameters() if p.requires_grad)


def test_without_head_lr_everything_trains_at_lr(tiny_model_dir):
    model = tiny_classifier(tiny_model_dir)
    optimizer = build_optimizer(model, load_config(None, ["train.lr=2e-4"]).train)
    assert [g["lr"] for g in optimizer.param_groups] == [2e-4]
    assert len(optimizer.param_groups[0]["params"]) == sum(p.requires_grad for p in model.parameters())


def test_one_adam_step_moves_heads_by_head_lr_and_adapters_by_lr(tiny_model_dir):
    torch.manual_seed(0)
    model = tiny_classifier(tiny_model_dir)
    optimizer = build_optimizer(model, load_config(None, ["train.lr=1e-4", "train.head_lr=1e-2",
                                                          "train.weight_decay=0"]).train)
    before = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    ids = torch.randint(5, 90, (4, 12))
    logits = model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits
    torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1, 0, 1])).backward()
    optimizer.step()
    # Adam's first step moves every parameter with a gradient by about its group's rate.
    moved = {n: (p.detach() - before[n]).abs().max().item() for n, p in model.named_parameters() if p.requires_grad}
    assert max(v for n, v in moved.items() if n.startswith("heads.")) == pytest.approx(1e-2, rel=0.05)
    assert max(v for n, v in moved.items() if "lora_B" in n) == pytest.approx(1e-4, rel=0.05)


def test_a_bad_head_lr_is_refused_with_the_setting_named():
    with pytest.raises(ConfigError, match=r"train.head_lr must be a finite number > 0 or null \(train.lr\), got 0"):
        load_config(None, ["train.head_lr=0"])
