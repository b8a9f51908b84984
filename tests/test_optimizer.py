"""The optimizer and schedule: train.head_lr gives the task heads their own rate, the adapters train at train.lr;
each train.optimizer and train.scheduler builds the torch optimizer and transformers schedule it names, a resumed
scheduler stands where an uninterrupted one does, and the old train.lr_schedule still reads."""

import math

import pytest
import torch
import yaml

from finrisk_nlp.config import TrainConfig, load_config, save_config
from finrisk_nlp.errors import ConfigError
from finrisk_nlp.modeling import build_model
from finrisk_nlp.tasks import get_task
from finrisk_nlp.training.epochs import EpochPlan
from finrisk_nlp.training.optimizer import build_optimizer, build_scheduler

PLAN = EpochPlan(auto=True, max_epochs=5, total_steps=6, schedule_steps=10, warmup_steps=2)


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


def tiny_model() -> torch.nn.Module:
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 2))
    model[0].requires_grad_(False)  # a frozen encoder layer, as under LoRA
    return model


@pytest.mark.parametrize("name, fused", [("adamw", None), ("adamw-fused", True)])
def test_each_optimizer_is_torch_adamw_over_the_trainable_parameters(name, fused):
    model = tiny_model()
    optimizer = build_optimizer(model, TrainConfig(optimizer=name, lr=3e-3, weight_decay=0.05))
    assert type(optimizer) is torch.optim.AdamW
    assert optimizer.defaults["fused"] is fused
    (group,) = optimizer.param_groups
    assert group["lr"] == 3e-3 and group["weight_decay"] == 0.05
    assert [id(p) for p in group["params"]] == [id(p) for p in model[1].parameters()]
    model(torch.ones(2, 4)).sum().backward()
    before = model[1].weight.detach().clone()
    optimizer.step()  # the fused kernel runs on this device
    assert not torch.equal(model[1].weight, before)


def rates(scheduler: str, steps: int = 10) -> list[float]:
    optimizer = build_optimizer(tiny_model(), TrainConfig(lr=1.0))
    lr_scheduler = build_scheduler(optimizer, PLAN, TrainConfig(scheduler=scheduler))
    out = [lr_scheduler.get_last_lr()[0]]
    for _ in range(steps):
        optimizer.step()
        lr_scheduler.step()
        out.append(lr_scheduler.get_last_lr()[0])
    return out


def test_each_scheduler_warms_up_then_follows_its_curve_over_the_scheduled_steps():
    warmup, total = PLAN.warmup_steps, PLAN.schedule_steps  # laid over the cap's 10 steps, not the run's 6
    for name, after_warmup in [("linear", lambda s: (total - s) / (total - warmup)),
                               ("cosine", lambda s: 0.5 * (1 + math.cos(math.pi * (s - warmup) / (total - warmup)))),
                               ("constant", lambda s: 1.0)]:
        curve = rates(name)
        assert curve[:warmup + 1] == pytest.approx([0.0, 0.5, 1.0])
        assert curve[warmup:] == pytest.approx([after_warmup(s) for s in range(warmup, total + 1)], abs=1e-12), name
    assert rates("linear")[4] < rates("cosine")[4]  # the choices differ


@pytest.mark.parametrize("scheduler", ["linear", "cosine", "constant"])
def test_a_rebuilt_scheduler_continues_at_the_resumed_step(scheduler):
    optimizer = build_optimizer(tiny_model(), TrainConfig(lr=1.0))
    resumed = build_scheduler(optimizer, PLAN, TrainConfig(scheduler=scheduler), done_steps=7)
    assert resumed.get_last_lr()[0] == pytest.approx(rates(scheduler)[7], abs=1e-12)
    resumed.step()
    assert resumed.get_last_lr()[0] == pytest.approx(rates(scheduler)[8], abs=1e-12)


def test_the_old_lr_schedule_key_is_read_as_scheduler_with_a_deprecation_warning(tmp_path):
    with pytest.warns(FutureWarning, match=r"train.lr_schedule is deprecated .* train.scheduler='constant'"):
        cfg = load_config(None, ["train.lr_schedule=constant"])
    assert cfg.train.scheduler == "constant"
    save_config(cfg, tmp_path / "config.yaml")  # a run folder records the new name only
    train = yaml.safe_load((tmp_path / "config.yaml").read_text())["train"]
    assert train["scheduler"] == "constant" and "lr_schedule" not in train
    with pytest.warns(FutureWarning):  # the same value under both names is not a conflict
        assert load_config(None, ["train.lr_schedule=linear", "train.scheduler=linear"]).train.scheduler == "linear"


def test_old_and_new_names_that_disagree_and_unknown_choices_are_config_errors():
    with pytest.raises(ConfigError) as err:
        load_config(None, ["train.lr_schedule=constant", "train.scheduler=cosine", "train.optimizer=sgd"])
    text = str(err.value)
    assert "train.lr_schedule='constant' and train.scheduler='cosine' disagree" in text
    assert "keep train.scheduler only" in text
    assert "train.optimizer: expected one of ['adamw', 'adamw-fused'], got 'sgd'" in text
    assert "unknown key" not in text  # the old name is not also reported as unknown
