"""Installed without the explain extra (captum): training finishes and skips its example explanations; the
`finrisk explain` command says what to install."""

from __future__ import annotations

import json
import logging
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from runs import train_tiny_run

from finrisk_nlp.cli.main import main as cli_main
from finrisk_nlp.evaluation.run_metrics import task_view

INSTALL = "explanations need Captum: pip install 'finrisk_nlp[explain]' (captum==0.9.0)"


def _hide_captum(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every ``import captum...`` fail as it does where the extra is not installed."""
    for name in [n for n in sys.modules if n == "captum" or n.startswith("captum.")] + ["captum", "captum.attr"]:
        monkeypatch.setitem(sys.modules, name, None)


@pytest.fixture(scope="module")
def run_without_captum(tmp_path_factory, tiny_model_dir) -> Path:
    """A recipe run (explain_examples > 0, the default) where captum cannot be imported."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        _hide_captum(monkeypatch)
        return train_tiny_run(tiny_model_dir, tmp_path_factory.mktemp("no_captum") / "run", "eval.explain_examples=2")


def test_a_run_without_captum_finishes_with_metrics_and_report(run_without_captum):
    metrics = task_view(json.loads((run_without_captum / "metrics.json").read_text()))
    assert "test" in metrics and "explanations" not in metrics
    assert (run_without_captum / "report.md").is_file() and (run_without_captum / "run_info.json").is_file()
    assert "Example explanations" not in (run_without_captum / "report.md").read_text()


def test_the_training_explanation_step_returns_nothing_and_logs_once(run_without_captum, monkeypatch, caplog):
    from accelerate import PartialState

    from finrisk_nlp.config import RecipeConfig
    from finrisk_nlp.evaluation.report import ReportInputs
    from finrisk_nlp.tasks import get_task
    from finrisk_nlp.training.final import explain_examples

    PartialState(cpu=True)  # accelerate's logger needs its state
    _hide_captum(monkeypatch)
    task = get_task("credit_text")
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    inputs = ReportInputs(task=task, labels=np.array([0, 1, 0]), probs_raw=probs, probs=probs, threshold=None)
    cfg = RecipeConfig()
    cfg.eval.explain_examples = 2
    with caplog.at_level(logging.INFO, logger="finrisk_nlp.training.final"):
        out = explain_examples(None, None, run_without_captum / "model", None, inputs, cfg)
    assert out == []
    skipped = [r for r in caplog.records if "explanations skipped" in r.getMessage()]
    assert len(skipped) == 1 and INSTALL in skipped[0].getMessage()


def test_explain_command_without_captum_exits_2_with_the_install_command(run_without_captum, monkeypatch, caplog):
    _hide_captum(monkeypatch)
    with caplog.at_level(logging.ERROR):
        assert cli_main(["explain", str(run_without_captum), "missed payments, lost job."]) == 2
    assert any(re.search(re.escape(INSTALL), r.getMessage()) for r in caplog.records)
