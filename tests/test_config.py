import re
from pathlib import Path

import pytest

from finrisk_nlp.config import RecipeConfig, load_config, parse_cli
from finrisk_nlp.errors import ConfigError

CONFIGS = sorted((Path(__file__).resolve().parent.parent / "recipes" / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_every_shipped_config_loads(path):
    cfg = load_config(path)
    assert isinstance(cfg, RecipeConfig)


def test_overrides_are_typed_and_nested():
    cfg = load_config(None, ["train.lr=5e-3", "lora.r=4", "lora.target_modules=[query, key]", "data.labels=null",
                             "train.max_steps=7", "cpu=true"])
    assert cfg.train.lr == 0.005 and isinstance(cfg.train.lr, float)
    assert cfg.lora.r == 4 and cfg.lora.target_modules == ["query", "key"]
    assert cfg.train.max_steps == 7 and cfg.cpu is True


def test_every_problem_is_reported_at_once():
    with pytest.raises(ConfigError) as info:
        load_config(None, ["lora.rank=4", "train.lr=fast", "train.epochs=0", "train.mixed_precision=fp8"])
    message = str(info.value)
    assert "4 problem(s)" in message
    assert "lora.rank: unknown key; did you mean 'lora.r'?" in message
    assert "train.lr: expected a number, got 'fast'" in message
    assert "train.mixed_precision: expected one of ['auto', 'no', 'fp16', 'bf16'], got 'fp8'" in message
    assert "train.epochs must be >= 1, got 0" in message


def test_unknown_task_lists_registered_tasks():
    with pytest.raises(ConfigError, match="unknown task 'loans'; registered tasks are .*credit_text"):
        load_config(None, ["task=loans"])


def test_cli_rejects_flag_style_overrides(tmp_path):
    with pytest.raises(ConfigError, match=re.escape("(not `--train.epochs 1`)")):
        parse_cli(["--train.epochs", "1"])
    with pytest.raises(ConfigError, match="not found"):
        parse_cli(["--config", str(tmp_path / "missing.yaml")])


def test_yaml_must_be_a_mapping(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match="expected a mapping of keys at the top level"):
        load_config(bad)
