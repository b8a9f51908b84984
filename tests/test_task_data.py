"""Each task's data is built whole and never changes: splits, loaders by split name, sampler and loss together."""

import dataclasses

import pytest
from accelerate import Accelerator
from conftest import REPO, tiny_overrides

from finrisk_nlp.config import load_config
from finrisk_nlp.training.task_data import TaskData, build_task_data, load_task_data

CONFIG = REPO / "recipes" / "configs" / "credit_text.yaml"


def test_task_data_is_complete_and_frozen(tmp_path, tiny_model_dir, tiny_tokenizer, credit_file):
    cfg = load_config(CONFIG, tiny_overrides(tiny_model_dir, credit_file, tmp_path / "run"))
    accelerator = Accelerator(cpu=True)
    splits = load_task_data(cfg, accelerator)
    data = build_task_data(cfg, splits, tiny_tokenizer, accelerator)

    (item,) = data.values()
    assert isinstance(item, TaskData) and item.task == splits["credit_text"].task
    assert list(item.loaders) == ["train", "validation", "test"]
    assert item.sampler is item.loaders["train"].sampler and item.loss is not None
    assert sum(len(b["labels"]) for b in item.loaders["validation"]) == len(item.splits["validation"])
    with pytest.raises(dataclasses.FrozenInstanceError):
        item.loss = None
    with pytest.raises(TypeError):  # the loaders mapping is read-only too
        item.loaders["train"] = item.loaders["test"]
    assert dataclasses.replace(item, loaders={}).loaders == {} and list(item.loaders) == ["train", "validation", "test"]
