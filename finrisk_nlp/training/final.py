"""The end of a training run: reload the best model, calibrate it, pick its operating point, test and report.

    accelerate launch recipes/credit_text.py      # RUN_DIR/{model/,metrics.json,report.md,fairness.md}

For every task the saved best model is reloaded (which also proves that it loads), calibration and the operating
threshold are fitted on validation and stored in the model's ``finrisk_model.json``, and the calibrated model is
evaluated on test: metrics, operating point, fairness slices, report with plots and example explanations.
"""

from __future__ import annotations

import importlib.util
from dataclasses import asdict
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
from accelerate import Accelerator
from accelerate.logging import get_logger

from finrisk_nlp.config import RecipeConfig
from finrisk_nlp.data.windows import WindowScores
from finrisk_nlp.evaluation.calibration import fit_temperature
from finrisk_nlp.evaluation.fairness import render_fairness_markdown, slice_metrics
from finrisk_nlp.evaluation.metrics import (
    compute_metrics,
    expected_calibration_error,
    format_summary,
    majority_baseline,
    operating_point_metrics,
)
from finrisk_nlp.evaluation.report import ReportInputs, write_report
from finrisk_nlp.evaluation.thresholds import parse_target, tune_thresholds
from finrisk_nlp.modeling import METADATA_FILE, ModelMetadata, load_model, save_model
from finrisk_nlp.provenance import write_json_atomic, write_text_atomic
from finrisk_nlp.tasks import Task
from finrisk_nlp.training.inference import DocumentScores, predict_split
from finrisk_nlp.training.task_data import TaskData

logger = get_logger(__name__)


def document_probs(scores: DocumentScores, task: Task, temperature: float = 1.0) -> np.ndarray:
    """Probabilities (float64) of the documents' logits after temperature scaling."""
    return _as_window_scores(scores).probs(task, "mean", temperature)


def _as_window_scores(scores: DocumentScores) -> WindowScores:
    return WindowScores(logits=scores.logits, doc_index=np.arange(len(scores.labels)), labels=scores.labels)


def check_count(metrics: dict[str, Any], expected: int, split: str) -> None:
    if metrics["num_examples"] != expected:
        raise RuntimeError(
            f"{split}: gathered {metrics['num_examples']} predictions for {expected} examples; "
            "evaluation must count every example exactly once"
        )


def calibrate_task(val: DocumentScores, test: DocumentScores, task: Task, cfg: RecipeConfig,
                   ) -> tuple[dict[str, Any], dict[str, Any], np.ndarray, np.ndarray, np.ndarray]:
    """Fit calibration and the threshold on validation. Returns (calibration report, threshold, raw test probs,
    calibrated validation probs, calibrated test probs)."""
    temperature = fit_temperature(_as_window_scores(val), task, "mean")
    val_raw, val_cal = document_probs(val, task), document_probs(val, task, temperature)
    test_raw, test_cal = document_probs(test, task), document_probs(test, task, temperature)
    threshold = tune_thresholds(val_cal, val.labels, task, parse_target(cfg.threshold.target))
    calibration = {
        "method": "temperature_scaling", "temperature": temperature, "fitted_on": "validation",
        "ece_before": {"validation": expected_calibration_error(val_raw, val.labels, task),
                       "test": expected_calibration_error(test_raw, test.labels, task)},
        "ece_after": {"validation": expected_calibration_error(val_cal, val.labels, task),
                      "test": expected_calibration_error(test_cal, test.labels, task)},
    }
    return calibration, threshold, test_raw, val_cal, test_cal


def evaluate_best(
    accelerator: Accelerator, cfg: RecipeConfig, data: dict[str, TaskData], output_dir: Path,
) -> tuple[dict[str, dict[str, Any]], dict[str, ReportInputs], Any, Any]:
    """Per task: calibrate + threshold on validation, test metrics; store both in the saved model's metadata.

    Returns:
        per-task results, per-task report inputs, and the reloaded best model and tokenizer (for explanations).
    """
    model_dir = output_dir / "model"
    best, tokenizer, meta = load_model(model_dir)
    best.to(accelerator.device)
    results: dict[str, dict[str, Any]] = {}
    inputs: dict[str, ReportInputs] = {}
    for name, item in data.items():
        task = item.task
        with accelerator.autocast():
            val = predict_split(best, item.loaders["validation"], accelerator, name, f"validation {name}")
            test = predict_split(best, item.loaders["test"], accelerator, name, f"test {name}")
        calibration, threshold, test_raw, _, test_cal = calibrate_task(val, test, task, cfg)
        _task_extra(meta, name).update(
            threshold=threshold, calibration={"method": "temperature_scaling",
                                              "temperature": calibration["temperature"]})
        metrics = compute_metrics(test_cal, test.labels, task)
        check_count(metrics, len(item.splits["test"]), f"{name} test")
        metrics["operating_point"] = operating_point_metrics(test_cal, test.labels, task, threshold)
        metrics.update(test.chunking_summary())
        accelerator.print(
            f"{name}: calibration temperature {calibration['temperature']:.3f}, validation ECE "
            f"{calibration['ece_before']['validation']:.3f} -> {calibration['ece_after']['validation']:.3f}")
        accelerator.print((f"{name} " if len(data) > 1 else "") + format_summary(metrics, "test"))
        chunking = {"max_chunks": cfg.model.max_chunks, "stride": cfg.model.stride, "pooling": cfg.model.pooling,
                    "validation": val.chunking_summary(), "test": test.chunking_summary()}
        results[name] = {"test": metrics, "majority_baseline": majority_baseline(test.labels, task),
                         "threshold": threshold, "calibration": calibration, "chunking": chunking,
                         "primary_metric": task.primary_metric}
        if item.test_slices:
            results[name]["fairness"] = slice_metrics(test_cal, test.labels, item.test_slices, task,
                                                      cfg.eval.min_slice_size)
            for warning in results[name]["fairness"]["warnings"]:
                logger.warning(f"fairness ({name}): {warning}")
        inputs[name] = ReportInputs(task=task, labels=test.labels, probs_raw=test_raw, probs=test_cal,
                                    threshold=threshold)
    if accelerator.is_main_process:
        write_json_atomic(model_dir / METADATA_FILE, asdict(meta))
        if cfg.save_merged:
            save_model(best, tokenizer, meta, output_dir / "model_merged", merged=True)
    accelerator.wait_for_everyone()
    return results, inputs, best, tokenizer


def _task_extra(meta: ModelMetadata, name: str) -> dict[str, Any]:
    if meta.multitask:
        return meta.multitask["tasks"][name].setdefault("extra", {})
    return meta.extra


def write_reports(output_dir: Path, results: dict[str, Any], per_task: dict[str, dict[str, Any]],
                  inputs: dict[str, ReportInputs], explanations: dict[str, list[Any]]) -> None:
    """report.md (one task) or report.md linking one report per task under ``reports/<task>/``; fairness.md."""
    from finrisk_nlp.evaluation.explain import render_explanation_markdown

    def sections(name: str) -> list[str]:
        out = [render_fairness_markdown(per_task[name]["fairness"])] if "fairness" in per_task[name] else []
        if explanations.get(name):
            out.append(render_explanation_markdown(explanations[name]))
        return out

    fairness = [render_fairness_markdown(r["fairness"]) for r in per_task.values() if "fairness" in r]
    if fairness:
        write_text_atomic(output_dir / "fairness.md", "\n\n".join(fairness))
    if len(per_task) == 1:
        name = next(iter(per_task))
        write_report(output_dir, results, inputs[name], extra_sections=sections(name))
        return
    lines = ["# Multi-task run", "", "| task | primary metric | test | report |", "|---|---|---|---|"]
    for name, result in per_task.items():
        write_report(output_dir / "reports" / name, {**result, "task": name}, inputs[name],
                     extra_sections=sections(name))
        value = result["test"].get(result["primary_metric"])
        shown = f"{value:.3f}" if isinstance(value, float) else "n/a"
        lines.append(f"| {name} | {result['primary_metric']} | {shown} | [report](reports/{name}/report.md) |")
    write_text_atomic(output_dir / "report.md", "\n".join(lines) + "\n")


def explain_examples(model: Any, tokenizer: Any, meta_dir: Path, item: TaskData, inputs: ReportInputs,
                     cfg: RecipeConfig) -> list[Any]:
    """Word attributions for the test texts the model scores riskiest, so a reviewer sees what it relies on.
    Returns [] (with one log line) when the ``explain`` extra is not installed."""
    if not cfg.eval.explain_examples or not len(inputs.labels):
        return []
    if importlib.util.find_spec("captum") is None:
        logger.warning("example explanations skipped: captum is not installed (pip install 'finrisk_nlp[explain]')")
        return []
    try:
        from finrisk_nlp.evaluation.explain import explain

        task = inputs.task
        risk = inputs.probs[:, task.positive_index] if task.is_binary else inputs.probs.max(axis=1)
        chosen = [int(i) for i in np.argsort(-risk, kind="stable")[: cfg.eval.explain_examples]]
        texts = item.splits["test"][task.text_column]
        meta = ModelMetadata.read(meta_dir).for_task(item.name)
        view = SimpleNamespace(task=task, model=model, tokenizer=tokenizer, metadata=meta,
                               device=next(model.parameters()).device)
        return explain(view, [texts[i] for i in chosen], n_steps=cfg.eval.explain_steps)
    except ImportError as exc:  # captum is an optional extra
        logger.warning(f"example explanations skipped ({exc}); install finrisk_nlp[explain] to include them")
        return []

