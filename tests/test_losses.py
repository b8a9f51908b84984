import numpy as np
import pytest
import torch
import torch.nn.functional as F

from finrisk_nlp.config import LossConfig, load_config
from finrisk_nlp.data.sampling import ClassBalancedSampler, balance_strata
from finrisk_nlp.errors import ConfigError
from finrisk_nlp.tasks import get_task
from finrisk_nlp.training.losses import build_loss, resolve_class_weights

AML = get_task("aml_alert")
TYPOLOGY = get_task("aml_typology")


def test_auto_weights_are_normalised_inverse_frequencies():
    labels = [0] * 30 + [1] * 10
    weights = resolve_class_weights("auto", AML, labels)
    assert weights.tolist() == pytest.approx([40 / 60, 40 / 20])
    assert (weights[np.array(labels)]).mean() == pytest.approx(1.0)  # the average example keeps weight 1
    ml = np.array([[1, 0, 0, 0]] * 3 + [[1, 1, 0, 0]] + [[0, 0, 0, 1]] * 4, dtype=float)
    assert resolve_class_weights("auto", TYPOLOGY, ml).tolist() == pytest.approx([4 / 4, 7 / 1, 8 / 1, 4 / 4])
    assert resolve_class_weights({"escalate": 3.0}, AML, labels).tolist() == [1.0, 3.0]
    with pytest.raises(ConfigError, match=r"unknown label\(s\) \['fraud'\]"):
        resolve_class_weights({"fraud": 2.0}, AML, labels)


def test_loss_matches_torch_references_and_focal_down_weights_easy_examples():
    torch.manual_seed(0)
    logits, labels = torch.randn(64, 2) * 3, torch.randint(0, 2, (64,))
    weighted = build_loss(LossConfig(class_weights={"close": 1.0, "escalate": 4.0}), AML, labels.numpy())
    assert weighted(logits, labels).item() == pytest.approx(
        F.cross_entropy(logits, labels, weight=torch.tensor([1.0, 4.0])).item(), rel=1e-5)
    plain = build_loss(LossConfig(), AML, labels.numpy())(logits, labels)
    focal = build_loss(LossConfig(focal_gamma=2.0), AML, labels.numpy())(logits, labels)
    assert 0 < focal.item() < plain.item()
    easy = torch.tensor([[8.0, -8.0]]), torch.tensor([0])
    hard = torch.tensor([[-1.0, 1.0]]), torch.tensor([0])
    focal_fn = build_loss(LossConfig(focal_gamma=2.0), AML, [0, 1])
    ratio_focal = focal_fn(*easy) / focal_fn(*hard)
    ratio_plain = F.cross_entropy(*easy) / F.cross_entropy(*hard)
    assert ratio_focal < ratio_plain / 100

    targets = (torch.rand(64, 4) < 0.2).float()
    ml_logits = torch.randn(64, 4)
    ml_loss = build_loss(LossConfig(class_weights="auto"), TYPOLOGY, targets.numpy())
    pos_weight = torch.tensor(resolve_class_weights("auto", TYPOLOGY, targets.numpy()), dtype=torch.float32)
    assert ml_loss(ml_logits, targets).item() == pytest.approx(
        F.binary_cross_entropy_with_logits(ml_logits, targets, pos_weight=pos_weight).item(), rel=1e-5)
    assert build_loss(LossConfig(focal_gamma=2.0), TYPOLOGY, targets.numpy())(ml_logits, targets).item() < \
        F.binary_cross_entropy_with_logits(ml_logits, targets).item()


def test_loss_config_is_validated():
    cfg = load_config(None, ["loss.class_weights={close: 1, escalate: 5.5}", "loss.focal_gamma=2"])
    assert cfg.loss.class_weights == {"close": 1.0, "escalate": 5.5} and cfg.loss.focal_gamma == 2.0
    with pytest.raises(ConfigError) as info:
        load_config(None, ["loss.class_weights=inverse", "loss.focal_gamma=-1"])
    assert "loss.class_weights must be null, auto or {label: weight}, got 'inverse'" in str(info.value)
    assert "loss.focal_gamma must be >= 0" in str(info.value)


def test_balanced_sampler_draws_classes_evenly_and_is_deterministic():
    strata = [0] * 90 + [1] * 10
    sampler = ClassBalancedSampler(strata, seed=3)
    first = list(sampler)
    assert first == list(ClassBalancedSampler(strata, seed=3)) and len(first) == 100
    sampler.set_epoch(1)
    assert list(sampler) != first
    draws = [strata[i] for e in range(10) for i in (sampler.set_epoch(e) or sampler)]
    assert 0.4 < np.mean(draws) < 0.6  # the 10% class makes up about half of the draws
    minority_seen = {i for i in first if strata[i] == 1}
    assert len(minority_seen) == 10  # cycles through every minority example before repeating
    assert balance_strata([[1, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]], multi_label=True) == [1, 0, -1]


def test_weighted_sampler_order_survives_resume(tmp_path, tiny_tokenizer):
    """The training loop skips the batches already done after a resume; that only works with a fixed order."""
    import datasets

    from finrisk_nlp.data.loaders import DocumentCollator, build_dataloader

    table = datasets.Dataset.from_dict({"input_ids": [[[2, 10 + i, 3]] for i in range(20)],
                                        "labels": [0] * 16 + [1] * 4})
    def order():
        sampler = ClassBalancedSampler(table["labels"], seed=7)
        sampler.set_epoch(2)
        loader = build_dataloader(table, DocumentCollator(tiny_tokenizer, multi_label=False), 4, shuffle=True,
                                  seed=7, sampler=sampler)
        return [row for batch in loader for row in batch["input_ids"][:, 1].tolist()]
    assert order() == order()
