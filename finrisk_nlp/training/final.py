"""The end of a training run: reload the best model, calibrate it, pick its operating point, test and report.

    accelerate launch recipes/credit_text.py      # RUN_DIR/{model/,metrics.json,report.md,fairness.md}

For every task the saved best model is reloaded (which also proves that it loads), calibration and the operating
threshold are fitted on validation (or on the calibration split of ``data.calibration_fraction``) and stored in
the model's ``finrisk_model.json``, and the calibrated model is evaluated on test: metrics, operating point,
fairness slices, report with plots and example explanations.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from accelerate import Accelerator
from accelerate.logging import get_logger

from finrisk_nlp.config import RecipeConfig
from finrisk_nlp.evaluation.bootstrap import bootstrap_intervals
from finrisk_nlp.evaluation.calibration import (
    Calibration,
    cross_validated_probs,
    fit_calibration,
    logits_to_probs,
)
from finrisk_nlp.evaluation.calibration_check import compare_calibration
from finrisk_nlp.evaluation.fairness import render_fairness_markdown, slice_metrics
from finrisk_nlp.evaluation.metrics import (
    compute_metrics,
    format_summary,
    majority_baseline,
    operating_point_metrics,
)
from finrisk_nlp.evaluation.report import ReportInputs, write_report
from finrisk_nlp.evaluation.thresholds import parse_target, tune_thresholds
from finrisk_nlp.modeling import ModelMetadata, load_model, save_model
from finrisk_nlp.modeling.metadata import Decision
from finrisk_nlp.modeling.reference_texts import write_reference_texts
from finrisk_nlp.provenance import write_text_atomic
from finrisk_nlp.tasks import Task
from finrisk_nlp.training.inference import DocumentScores, predict_split
from finrisk_nlp.training.task_data import TaskData

logger = get_logger(__name__)


def document_probs(scores: DocumentScores, task: Task) -> np.ndarray:
    """Uncalibrated probabilities (float64) of the documents' logits."""
    return logits_to_probs(scores.logits, task.multi_label)


def check_count(metrics: dict[str, Any], expected: int, split: str) -> None:
    if metrics["num_examples"] != expected:
        raise RuntimeError(
            f"{split}: gathered {metrics['num_examples']} predictions for {expected} examples; "
            "evaluation must count every example exactly once"
        )


def calibrate_task(val: DocumentScores, test: DocumentScores, task: Task, cfg: RecipeConfig,
                   fitted_on: str = "validation",
                   ) -> tuple[Calibration, dict[str, Any], dict[str, Any] | None, np.ndarray, np.ndarray]:
    """Fit the calibration and then the operating threshold on ``val``: the validation split, or the
    calibration split of ``data.calibration_fraction`` (named by ``fitted_on``).

    Returns:
        (calibration, its report, threshold, raw test probabilities, calibrated test probabilities).
    """
    calibration, report = fit_calibration(val.logits, val.labels, task, cfg.calibration.method, cfg.seed)
    report["fitted_on"] = fitted_on
    held_out = cross_validated_probs(calibration.method, val.logits, val.labels, task, cfg.seed)
    threshold = tune_thresholds(
        calibration.apply(val.logits), val.labels, task, parse_target(cfg.threshold.target, cfg.threshold.costs),
        risk_classes=cfg.threshold.risk_classes or None, review_band=cfg.threshold.review_band,
        conformal_alpha=cfg.threshold.conformal_alpha, conformal_probs=held_out)
    test_raw, test_cal = document_probs(test, task), calibration.apply(test.logits)
    report["comparison"] = {"test": compare_calibration(test_raw, test_cal, test.labels, task, seed=cfg.seed)}
    if held_out is not None:
        report["comparison"]["validation"] = compare_calibration(document_probs(val, task), held_out, val.labels,
                                                                 task, seed=cfg.seed)
    return calibration, report, threshold, test_raw, test_cal


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
        fit_split = "calibration" if "calibration" in item.loaders else "validation"
        with accelerator.autocast():
            val = predict_split(best, item.loaders[fit_split], accelerator, name, f"{fit_split} {name}")
            test = predict_split(best, item.loaders["test"], accelerator, name, f"test {name}")
        calibration, report, threshold, test_raw, test_cal = calibrate_task(val, test, task, cfg, fit_split)
        meta = meta.with_decision(name, Decision(calibration=calibration.to_dict(), threshold=threshold))
        metrics = compute_metrics(test_cal, test.labels, task)
        check_count(metrics, len(item.splits["test"]), f"{name} test")
        metrics["operating_point"] = operating_point_metrics(test_cal, test.labels, task, threshold)
        metrics["intervals"] = bootstrap_intervals(test_cal, test.labels, task, threshold, seed=cfg.seed)
        metrics.update(test.chunking_summary())
        before, after = report.get("before", {}), report.get("after", {})
        accelerator.print(
            f"{name}: calibration {report.get('method')} (chosen on validation: {cfg.calibration.method}), "
            f"validation NLL {before.get('nll', float('nan')):.4f} -> {after.get('nll', float('nan')):.4f}")
        shown = f"{name} " if len(data) > 1 else ""  # a one-task run's console lines name no task
        baseline = majority_baseline(test.labels, task)
        accelerator.print(shown + format_summary(metrics, "test, calibrated"))
        accelerator.print(f"{shown}test majority-class baseline: accuracy {baseline['accuracy']:.3f} | "
                          f"macro_f1 {baseline['macro_f1']:.3f}")
        chunking = {"max_chunks": cfg.model.max_chunks, "stride": cfg.model.stride, "pooling": cfg.model.pooling,
                    "validation": val.chunking_summary(), "test": test.chunking_summary()}
        raw = compute_metrics(test_raw, test.labels, task)
        results[name] = {"test": metrics, "test_raw": {k: v for k, v in raw.items() if not isinstance(v, dict | list)},
                         "test_intervals": metrics["intervals"],
                         "majority_baseline": baseline, "threshold": threshold,
                         "calibration": report, "chunking": chunking, "splits": item.split_summary,
                         "fitted": rows_fitted(item, fit_split, threshold),
                         "primary_metric": task.primary_metric}
        if item.test_slices:
            results[name]["fairness"] = slice_metrics(test_cal, test.labels, item.test_slices, task,
                                                      cfg.eval.min_slice_size)
            for warning in results[name]["fairness"]["warnings"]:
                logger.warning(f"fairness ({name}): {warning}")
        inputs[name] = ReportInputs(task=task, labels=test.labels, probs_raw=test_raw, probs=test_cal,
                                    threshold=threshold)
    if accelerator.is_main_process:
        meta.write(model_dir)
        saved = {name: (item.splits["validation"][item.task.text_column], item.splits["validation"]["labels"])
                 for name, item in data.items()}
        write_reference_texts(model_dir, saved, f"validation split of {output_dir}")
        if cfg.save_merged:
            save_model(best, tokenizer, meta, output_dir / "model_merged", merged=True)
            write_reference_texts(output_dir / "model_merged", saved, f"validation split of {output_dir}")
    accelerator.wait_for_everyone()
    return results, inputs, best, tokenizer


def rows_fitted(item: TaskData, fit_split: str, threshold: dict[str, Any] | None) -> dict[str, str]:
    """Which rows fitted what, for the model card: epoch selection, calibration, threshold, conformal sets."""
    def rows(split: str) -> str:
        return f"{split} ({len(item.splits[split])} rows)"

    out = {"epoch_selection": rows("validation"), "calibration": rows(fit_split)}
    if threshold:
        out["threshold"] = rows(fit_split)
        if threshold.get("conformal"):
            out["conformal"] = rows(fit_split) + (", calibrated out of fold" if threshold["conformal"].get(
                "out_of_fold") else "")
    out["test"] = rows("test") + ": used for nothing but the reported metrics"
    return out


def write_reports(output_dir: Path, per_task: dict[str, dict[str, Any]], inputs: dict[str, ReportInputs],
                  explanations: dict[str, list[Any]]) -> None:
    """``report.md`` of each task (``metrics.json``'s ``tasks.<name>``), fairness.md. A run of one task writes its
    report as ``report.md``; a run of several writes one under ``reports/<task>/`` each, and a ``report.md`` that
    links them."""
    from finrisk_nlp.evaluation.explain import render_explanation_markdown

    def sections(name: str) -> list[str]:
        out = [render_fairness_markdown(per_task[name]["fairness"])] if "fairness" in per_task[name] else []
        if explanations.get(name):
            out.append(render_explanation_markdown(explanations[name]))
        return out

    fairness = [render_fairness_markdown(r["fairness"]) for r in per_task.values() if "fairness" in r]
    if fairness:
        write_text_atomic(output_dir / "fairness.md", "\n\n".join(fairness))
    folders = {name: output_dir for name in per_task} if len(per_task) == 1 else {
        name: output_dir / "reports" / name for name in per_task}
    for name, result in per_task.items():
        write_report(folders[name], result, inputs[name], extra_sections=sections(name))
    if len(per_task) == 1:
        return
    lines = ["# Multi-task run", "", "| task | primary metric | test | report |", "|---|---|---|---|"]
    for name, result in per_task.items():
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
    try:
        import captum  # noqa: F401  (an optional extra)
    except ImportError:
        from finrisk_nlp.evaluation.explain import CAPTUM_MISSING

        logger.warning(f"example explanations skipped ({CAPTUM_MISSING}); the run goes on without them")
        return []
    try:
        from finrisk_nlp.evaluation.explain import InMemoryModel, explain

        task = inputs.task
        risk = inputs.probs[:, task.positive_index] if task.is_binary else inputs.probs.max(axis=1)
        chosen = [int(i) for i in np.argsort(-risk, kind="stable")[: cfg.eval.explain_examples]]
        test = item.splits["test"]
        # A model with fields is explained on whole records (text + fields); a text-only one on its texts.
        records = test.select(chosen).to_list() if item.fields is not None else [test[task.text_column][i]
                                                                                  for i in chosen]
        meta = ModelMetadata.read(meta_dir).for_task(item.name)
        # The model as trained (adapters not merged) with what was saved beside it, as `finrisk explain` loads it.
        view = InMemoryModel(task, model, tokenizer, meta.max_length, meta.task_metadata().fields,
                             meta.head.field_dropout)
        return explain(view, records, n_steps=cfg.eval.explain_steps)
    except ImportError as exc:  # captum is an optional extra
        logger.warning(f"example explanations skipped ({exc}); install finrisk_nlp[explain] to include them")
        return []

