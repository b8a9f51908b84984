"""Trained run directories for tests that need one: the real recipe, in-process, on the tiny model (seconds)."""

from __future__ import annotations

from pathlib import Path

from conftest import REPO, make_credit_records, tiny_overrides, write_jsonl


def train_tiny_run(tiny_model_dir: Path, out_dir: Path, *extra: str, data: Path | None = None) -> Path:
    """Run recipes/configs/credit_text.yaml for one epoch; ``out_dir`` becomes the run directory."""
    from finrisk_nlp.recipe import run_recipe

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    data = data or write_jsonl(out_dir.parent / f"{out_dir.name}-loans.jsonl", make_credit_records())
    config = REPO / "recipes" / "configs" / "credit_text.yaml"
    assert run_recipe(tiny_overrides(tiny_model_dir, data, out_dir) + ["train.epochs=1", *extra], config) == 0
    return out_dir
