"""Hostile input to training: huge cells, a run folder of someone else's files, a reused run folder, configs the
encoder cannot honour and overrides built to crash the parser. Each test fails on code without the matching guard."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from conftest import REPO, make_credit_records, tiny_overrides, write_jsonl

from finrisk_nlp.cli.main import main as cli_main
from finrisk_nlp.cli.recipe import run_recipe
from finrisk_nlp.config import load_config
from finrisk_nlp.data.windows import char_budget
from finrisk_nlp.errors import ConfigError

CONFIG = REPO / "recipes" / "configs" / "credit_text.yaml"
FAST = ["train.epochs=1", "eval.explain_examples=0"]


def _train(tiny_model_dir: Path, data: Path, out: Path, *extra: str) -> int:
    return run_recipe(tiny_overrides(tiny_model_dir, data, out) + FAST + list(extra), CONFIG)


def test_training_cuts_a_huge_cell_before_tokenising(tmp_path, tiny_model_dir, monkeypatch):
    """One multi-megabyte cell is cut to what the windows can read as it is read, as scoring does; on code without
    the cut the tokenizer was handed the whole cell (about 135 bytes of memory per character)."""
    import finrisk_nlp.data.loaders as loaders

    rows = make_credit_records(24)
    rows[0]["text"] = "missed payments " + "word " * 400_000 + "lost job."  # 2 MB
    data = write_jsonl(tmp_path / "loans.jsonl", rows)
    seen: list[int] = []
    real = loaders.window_encodings

    def spy(tokenizer, texts, *args, **kwargs):
        seen.append(max(len(t) for t in texts))
        return real(tokenizer, texts, *args, **kwargs)

    monkeypatch.setattr(loaders, "window_encodings", spy)
    assert _train(tiny_model_dir, data, tmp_path / "run", "model.max_chunks=2") == 0
    assert seen and max(seen) <= char_budget(32, 2)


def test_output_dir_holding_the_users_files_is_refused_unless_overwrite(tmp_path, tiny_model_dir, caplog):
    data = write_jsonl(tmp_path / "loans.jsonl", make_credit_records(24))
    home = tmp_path / "documents"
    (home / "model").mkdir(parents=True)
    (home / "model" / "thesis.docx").write_text("two years of work")
    (home / "notes.txt").write_text("mine")
    assert _train(tiny_model_dir, data, home) == 2
    assert "holds files a training run did not write (model, notes.txt)" in caplog.text
    assert "train.overwrite=true" in caplog.text
    assert (home / "model" / "thesis.docx").read_text() == "two years of work"
    assert not (home / "checkpoints").exists()

    assert _train(tiny_model_dir, data, home, "train.overwrite=true") == 0
    assert (home / "notes.txt").read_text() == "mine"  # what a run does not write is left alone
    assert (home / "model" / "finrisk_model.json").is_file()


@pytest.mark.parametrize("output_dir", ["/", "", "~", "."], ids=["root", "empty", "home", "home-cwd"])
def test_root_empty_and_home_output_dirs_are_refused_at_validate_time(output_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="output_dir"):
        load_config(None, [f"output_dir={output_dir}"])


def test_a_reused_run_folder_never_mixes_two_runs(tmp_path, tiny_model_dir, caplog):
    """An earlier run's checkpoint trained with another config is not resumed (on code without the check
    ``train.resume=latest`` continued it silently), and a fresh run replaces the earlier run whole."""
    data = write_jsonl(tmp_path / "loans.jsonl", make_credit_records(48))
    run = tmp_path / "run"
    assert _train(tiny_model_dir, data, run, "train.checkpoint_every=2", "train.keep_checkpoints=5",
                  "train.epochs=2") == 0
    earlier = sorted(p.name for p in (run / "checkpoints").glob("step-*"))
    assert len(earlier) >= 3

    assert _train(tiny_model_dir, data, run, "train.lr=1e-3", "train.resume=latest") == 2
    assert "was trained with another config (" in caplog.text
    assert "train.lr: 0.005 then, 0.001 now" in caplog.text
    assert "train.resume=null" in caplog.text

    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert _train(tiny_model_dir, data, run, "train.lr=1e-3", "train.checkpoint_every=3") == 0
    assert "holds an earlier run" in caplog.text
    now = sorted(p.name for p in (run / "checkpoints").glob("step-*"))
    assert now == ["step-0000003", "step-0000006"], now  # none of the earlier run's checkpoints survive
    index = json.loads((run / "checkpoints" / "index.json").read_text())
    assert sorted(index) == now
    assert json.loads((run / "checkpoints" / now[-1] / "run_config.json").read_text())["train"]["lr"] == 1e-3


def test_resume_with_the_same_config_still_works(tmp_path, tiny_model_dir, caplog):
    data = write_jsonl(tmp_path / "loans.jsonl", make_credit_records(48))
    run = tmp_path / "run"
    assert _train(tiny_model_dir, data, run, "train.checkpoint_every=2") == 0
    with caplog.at_level(logging.INFO):
        assert _train(tiny_model_dir, data, run, "train.checkpoint_every=2", "train.resume=latest") == 0
    assert "resumed from" in caplog.text


@pytest.mark.parametrize("override, expected", [
    ("model.max_length=1000000000", "model.max_length=1000000000 is more than the 128 positions"),
    ("train.lr=nan", "train.lr must be a finite number > 0, got nan"),
    ("train.lr=inf", "train.lr must be a finite number > 0, got inf"),
    ("train.lr=-1e-3", "train.lr must be a finite number > 0"),
])
def test_validate_checks_values_against_the_encoder(override, expected, tmp_path, tiny_model_dir, caplog):
    data = write_jsonl(tmp_path / "loans.jsonl", make_credit_records(24))
    argv = ["validate", "--config", str(CONFIG), *tiny_overrides(tiny_model_dir, data, tmp_path / "run"), override]
    assert cli_main(argv) == 2
    assert expected in caplog.text


@pytest.mark.parametrize("value, expected", [
    ("1" * 100_000, "train.lr must be a finite number > 0, got inf"),
    ("[" * 5_000 + "]" * 5_000, "train.lr: expected a number, got '[[[["),
])
def test_giant_and_deep_overrides_are_config_errors(value, expected, caplog):
    assert cli_main(["validate", f"train.lr={value}"]) == 2
    assert expected in caplog.text
    assert "Traceback" not in caplog.text and len(caplog.text) < 2_000  # the value is shown cut, not whole


def test_a_deeply_nested_or_huge_config_file_is_a_config_error(tmp_path):
    deep = tmp_path / "deep.yaml"
    deep.write_text("train: " + "[" * 5_000 + "]" * 5_000 + "\n")
    with pytest.raises(ConfigError, match="too large or too deeply nested"):
        load_config(deep)
    digits = tmp_path / "digits.yaml"
    digits.write_text("seed: " + "7" * 100_000 + "\n")
    with pytest.raises(ConfigError, match="too large or too deeply nested"):
        load_config(digits)


@pytest.mark.skipif(not Path("/sys/fs").is_dir(), reason="needs Linux sysfs as a place nobody may write")
def test_a_read_only_output_dir_is_a_clear_error(tmp_path, tiny_model_dir, caplog):
    data = write_jsonl(tmp_path / "loans.jsonl", make_credit_records(24))
    assert _train(tiny_model_dir, data, Path("/sys/finrisk-hostile-test/run")) == 2
    assert "Operation not permitted" in caplog.text and "output_dir" in caplog.text
