"""The evaluation report of a training run: ``RUN_DIR/report.md`` with plots in ``RUN_DIR/report/``.

Written by the main process at the end of every recipe run (``accelerate launch recipes/aml_alert.py``) next
to ``metrics.json``: headline and per-class metrics with label names, the operating point, calibration
before/after, long-document chunking and PII redaction counts, and three PNG plots (confusion matrix at the
operating point, precision-recall curve with the operating point marked, reliability diagram). Plots need
matplotlib (``pip install finrisk_nlp[report]``); without it the report says so and keeps the tables.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import precision_recall_curve

from finrisk_nlp.evaluation.metrics import risk_reliability_bins
from finrisk_nlp.evaluation.thresholds import REVIEW, decide
from finrisk_nlp.formatting import fmt
from finrisk_nlp.provenance import write_text_atomic
from finrisk_nlp.tasks import Task

logger = logging.getLogger(__name__)

REPORT_DIR = "report"
PLOTS = {"confusion_matrix": "Confusion matrix at the operating point (test)",
         "precision_recall": "Precision-recall curve with the operating point (test)",
         "reliability": "Reliability of P(risk class) before and after calibration (test)"}


@dataclass
class ReportInputs:
    """Test-split arrays the plots are drawn from.

    Attributes:
        task: label names and task kind.
        labels: document labels (class ids or multi-hot rows).
        probs_raw: probabilities before calibration.
        probs: calibrated probabilities (what the model returns).
        threshold: the stored operating threshold (None: arg-max decisions).
    """

    task: Task
    labels: np.ndarray
    probs_raw: np.ndarray
    probs: np.ndarray
    threshold: dict[str, Any] | None


def _flags(decision: Any, name: str) -> bool:
    """Whether a decision flags ``name``: a label, a list of labels (multi-label) or ``"review"`` (no flag)."""
    return name in decision if isinstance(decision, list) else decision == name


def _curves(inputs: ReportInputs) -> list[tuple[str, np.ndarray, np.ndarray, tuple[float, float] | None]]:
    """(label, scores, 0/1 targets, operating (recall, precision)) for each curve to draw."""
    task, probs, labels = inputs.task, inputs.probs, np.asarray(inputs.labels)
    decisions = decide(probs, task, inputs.threshold)
    names = [task.labels[task.positive_index]] if task.is_binary else list(task.labels)
    out = []
    for name in names:
        k = task.labels.index(name)
        target = labels[:, k].astype(int) if task.multi_label else (labels.astype(int) == k).astype(int)
        flagged = np.array([_flags(d, name) for d in decisions], dtype=bool)
        tp = int((flagged & (target == 1)).sum())
        point = (tp / max(int(target.sum()), 1), tp / max(int(flagged.sum()), 1)) if flagged.any() else None
        out.append((name, probs[:, k], target, point))
    return out


def _confusion(inputs: ReportInputs) -> tuple[np.ndarray, list[str], list[str], str]:
    """Counts of decisions at the operating point: true label x decided label, or for multi-label tasks
    label x (TP, FN, FP, TN). Returns the matrix, row names, column names and the column axis title."""
    task, labels = inputs.task, np.asarray(inputs.labels)
    decisions = decide(inputs.probs, task, inputs.threshold)
    if task.multi_label:
        rows = []
        for k, name in enumerate(task.labels):
            truth = labels[:, k] > 0.5
            flagged = np.array([_flags(d, name) for d in decisions], dtype=bool)
            rows.append([(truth & flagged).sum(), (truth & ~flagged).sum(), (~truth & flagged).sum(),
                         (~truth & ~flagged).sum()])
        return np.asarray(rows, dtype=int), list(task.labels), ["TP", "FN", "FP", "TN"], "outcome"
    columns = list(task.labels) + ([REVIEW] if REVIEW in decisions else [])
    matrix = np.zeros((len(task.labels), len(columns)), dtype=int)
    for truth, decision in zip(labels.astype(int), decisions, strict=True):
        matrix[truth, columns.index(decision)] += 1
    return matrix, list(task.labels), columns, "decision"


def _plot_all(out_dir: Path, inputs: ReportInputs) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    task = inputs.task
    written = []
    matrix, rows, cols, col_title = _confusion(inputs)
    fig, ax = plt.subplots(figsize=(2.0 + 0.8 * len(cols), 1.5 + 0.5 * len(rows)))
    ax.imshow(matrix, cmap="Blues")
    for (i, j), value in np.ndenumerate(matrix):
        ax.text(j, i, str(value), ha="center", va="center")
    ax.set_xticks(range(len(cols)), cols, rotation=45, ha="right")
    ax.set_yticks(range(len(rows)), rows)
    ax.set_xlabel(col_title)
    ax.set_ylabel("true label")
    ax.set_title(PLOTS["confusion_matrix"], fontsize=9)
    fig.tight_layout()
    fig.savefig(out_dir / "confusion_matrix.png", dpi=110)
    plt.close(fig)
    written.append("confusion_matrix")

    fig, ax = plt.subplots(figsize=(5, 4))
    for name, scores, target, point in _curves(inputs):
        if target.sum() == 0:
            continue
        precision, recall, _ = precision_recall_curve(target, scores)
        (line,) = ax.plot(recall, precision, label=name)
        if point is not None:
            ax.plot(*point, marker="o", markersize=8, color=line.get_color(), markeredgecolor="black")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.set_title(PLOTS["precision_recall"] + "\n(dot: operating point)", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out_dir / "precision_recall.png", dpi=110)
    plt.close(fig)
    written.append("precision_recall")

    fig, ax = plt.subplots(figsize=(5, 4))
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect calibration")
    for probs, name in ((inputs.probs_raw, "before"), (inputs.probs, "after")):
        bins = risk_reliability_bins(probs, inputs.labels, task)
        ax.plot(bins["probability"], bins["frequency"], marker="o", label=f"{name} calibration")
    risk = f"P({task.labels[task.positive_index]})" if task.is_binary else "P(class), every class one-vs-rest"
    ax.set_xlabel(f"predicted {risk}")
    ax.set_ylabel("observed frequency")
    ax.set_title(PLOTS["reliability"], fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out_dir / "reliability.png", dpi=110)
    plt.close(fig)
    written.append("reliability")
    return written


def _change(row: dict[str, Any] | None) -> str:
    if not row:
        return ""
    return f"{row['estimate']:+.3f} [{row['low']:+.3f}, {row['high']:+.3f}] {row['verdict']}"


def _calibration_lines(cal: dict[str, Any]) -> list[str]:
    """The calibration section from a :func:`~.calibration.fit_calibration` report: raw and calibrated side by
    side on validation (calibrated out of fold) and on test, with paired intervals of each change."""
    chosen = f"`{cal['method']}`" + (" (chosen by `auto`)" if cal.get("requested") == "auto" else "")
    fitted = cal.get("fitted_on", "validation")
    lines = ["", "## Calibration", "", f"Method {chosen}, fitted on {fitted}; probabilities returned by the model "
             "are calibrated."]
    if cal.get("cv_nll"):
        lines += ["", f"Held-out NLL in {cal['folds']}-fold cross-validation inside {fitted}:", "",
                  "| method | NLL |", "|---|---|"] + [f"| {m} | {v:.4f} |" for m, v in cal["cv_nll"].items()]
    comparison = cal.get("comparison") or {}
    if comparison:
        val, test = comparison.get("validation") or {}, comparison.get("test") or {}
        lines += ["", f"Raw and calibrated probabilities of the same documents. On {fitted} the calibrated column is "
                  "cross-validated (each document calibrated by a map fitted without it), never in-sample. Change = "
                  "calibrated minus raw with a paired bootstrap 95% interval; lower is better for ECE, Brier and "
                  "NLL, and an interval that holds 0 is no measurable change. Accuracy and macro-F1 are of the "
                  "most probable label (argmax), not of the operating threshold.", "",
                  f"| metric | {fitted} raw | {fitted} calibrated (cross-validated) | change | test raw | "
                  "test calibrated | change |", "|---|---|---|---|---|---|---|"]
        for key in ("ece", "brier", "nll", "accuracy_at_argmax", "macro_f1_at_argmax"):
            lines.append(f"| {key} | {fmt((val.get('raw') or {}).get(key))} | "
                         f"{fmt((val.get('calibrated') or {}).get(key))} | "
                         f"{_change((val.get('change') or {}).get(key))} | {fmt((test.get('raw') or {}).get(key))} | "
                         f"{fmt((test.get('calibrated') or {}).get(key))} | "
                         f"{_change((test.get('change') or {}).get(key))} |")
        if not val:
            lines += ["", f"{fitted.capitalize()} was too small to cross-validate the calibration: no honest "
                      f"{fitted} comparison is shown."]
        return lines
    # reports written before the side-by-side comparison: the in-sample numbers, labelled as such
    lines += ["", "| validation (in-sample) | before | after |", "|---|---|---|"]
    for key in ("nll", "ece", "risk_ece", "brier", "mean_risk_probability"):
        lines.append(f"| {key} | {fmt(cal['before'].get(key))} | {fmt(cal['after'].get(key))} |")
    return lines


def _split_lines(splits: dict[str, Any]) -> list[str]:
    """The data-splits section: kind, rows and periods per split, and every row left out and why."""
    if not splits:
        return []
    rows, periods = splits.get("rows") or {}, splits.get("periods") or {}
    lines = ["", "## Data splits", "", f"Split kind `{splits.get('kind')}`"
             + (f", time column `{splits['time_column']}`" if splits.get("time_column") else "")
             + (f", group column `{splits['group_column']}`" if splits.get("group_column") else "") + ".", "",
             "| split | rows | first | last |", "|---|---|---|---|"]
    for name, count in rows.items():
        period = periods.get(name) or {}
        lines.append(f"| {name} | {count} | {period.get('min', '')} | {period.get('max', '')} |")
    if "out_of_time" in splits:
        lines += ["", "Every evaluation split starts after train ends (out of time)." if splits["out_of_time"] else
                  "**Not out of time**: validation or test starts before train ends."]
    groups = splits.get("groups") or {}
    if groups.get("rows_dropped"):
        lines += ["", f"Rows dropped: {groups['rows_dropped']} rows of {groups['spanning_groups']} group(s) that "
                      f"span a time cut ({groups.get('rule', 'dated before the split their group belongs to')})."]
    dedup = splits.get("dedup") or {}
    dropped = {name: c.get("dropped", 0) for name, c in dedup.items() if isinstance(c, dict) and c.get("dropped")}
    if dropped:
        lines += ["", "Repeated texts dropped (`data.dedup=drop`): "
                      + ", ".join(f"{name} {n}" for name, n in dropped.items()) + "."]
    near = {name: c["near_duplicates"] for name, c in dedup.items() if isinstance(c, dict) and c.get("near_duplicates")}
    if near:
        lines += ["", "Near-duplicates kept (word Jaccard >= 0.8 against an earlier split's text): "
                      + ", ".join(f"{name} {n}" for name, n in near.items()) + "; their metrics are optimistic."]
    return lines


def _markdown(
    results: dict[str, Any], inputs: ReportInputs, plots: list[str], plot_note: str | None, extra_sections: list[str]
) -> str:
    task, test = inputs.task, results["test"]
    lines = [f"# Evaluation report: {task.name}", "",
             f"Labels: {', '.join(f'`{name}`' for name in task.labels)}"
             + (f" (risk class: `{task.labels[task.positive_index]}`)" if task.is_binary else "")
             + (" (multi-label)" if task.multi_label else ""), *_split_lines(results.get("splits") or {}), "",
             "## Test metrics", "",
             "Like is compared with like: validation at the best epoch is uncalibrated, so test is shown both raw "
             "and calibrated. Accuracy and macro-F1 here are of the most probable label (argmax); the decisions "
             "at the operating threshold are under Operating point.", "",
             "| metric | validation (raw, best epoch) | test (raw) | test (calibrated) |", "|---|---|---|---|"]
    validation, test_raw = results.get("validation") or {}, results.get("test_raw") or {}
    for key in ("num_examples", "accuracy", "macro_f1", "roc_auc", "pr_auc", "ece", "ece_positive", "brier"):
        shown = f"{key} (argmax)" if key in ("accuracy", "macro_f1") else key
        lines.append(f"| {shown} | {fmt(validation.get(key))} | {fmt(test_raw.get(key))} | {fmt(test.get(key))} |")
    baseline = results.get("majority_baseline") or {}
    lines += ["", f"Majority-class baseline: accuracy {fmt(baseline.get('accuracy'))}, "
                  f"macro_f1 {fmt(baseline.get('macro_f1'))}.", "",
              "## Per class (test, calibrated, most probable label: argmax)", "",
              "| label | precision | recall | f1 | support |", "|---|---|---|---|---|"]
    for name, row in test["per_class"].items():
        lines.append(f"| {name} | {fmt(row['precision'])} | {fmt(row['recall'])} | {fmt(row['f1'])} | "
                     f"{row['support']} |")

    op, threshold = test.get("operating_point") or {}, results.get("threshold")
    lines += ["", "## Operating point", ""]
    if threshold:
        fitted = (results.get("calibration") or {}).get("fitted_on", "validation")
        lines += [f"Target `{threshold['target']}`, tuned on calibrated {fitted} probabilities.", "",
                  f"| label | threshold | {fitted} precision | {fitted} recall | target met | "
                  "test precision | test recall |", "|---|---|---|---|---|---|---|"]
        for name, row in threshold["by_label"].items():
            test_row = (op.get("per_label") or {}).get(name, op)
            value = "above 1 (flags nothing)" if row["value"] > 1 else f"{row['value']:.4f}"
            lines.append(f"| {name} | {value} | {fmt(row['precision'])} | {fmt(row['recall'])} | "
                         f"{'yes' if row['target_met'] else 'no'} | {fmt(test_row.get('precision'))} | "
                         f"{fmt(test_row.get('recall'))} |")
        cost = threshold.get("cost", next((r["cost"] for r in threshold["by_label"].values() if "cost" in r), None))
        if cost is not None:
            lines += ["", f"Mean cost per document of the decisions made (misses and false alerts at the stated "
                          f"costs): {fitted} {fmt(cost)}, test {fmt(op.get('expected_cost'))}."]
        if threshold.get("search"):
            lines += ["", f"Risk-class thresholds tuned jointly on the decisions themselves "
                          f"({threshold['search']['method']}, {threshold['search']['evaluated']} candidate sets)."]
    else:
        lines.append(f"Decision: the most probable label. Test macro precision {fmt(op.get('precision'))}, "
                     f"macro recall {fmt(op.get('recall'))}.")

    cal = results.get("calibration") or {}
    if "temperature" in cal and "ece_before" in cal:
        lines += ["", "## Calibration", "",
                  f"Temperature scaling fitted on validation: T = {cal['temperature']:.3f} (probabilities returned "
                  "by the model are calibrated).", "", "| split | ECE before | ECE after |", "|---|---|---|"]
        for split in ("validation", "test"):
            lines.append(f"| {split} | {fmt(cal['ece_before'][split])} | {fmt(cal['ece_after'][split])} |")
    elif cal.get("before"):
        lines += _calibration_lines(cal)

    intervals = test.get("intervals") or {}
    if intervals:
        lines += ["", "## Uncertainty (test, bootstrap 95% intervals)", "", "| metric | estimate | interval |",
                  "|---|---|---|"]
        for key, (low, high) in intervals.items():
            estimate = op.get("recall") if key == "recall" else test.get(key)
            lines.append(f"| {key} | {fmt(estimate)} | {fmt(low)} to {fmt(high)} |")
    if "coverage" in op:
        lines += ["", f"Abstention: {fmt(op['coverage'])} of test documents decided automatically, "
                      f"{op['reviewed']} sent to review; error rate on the decided ones "
                      f"{fmt(op['decided_error_rate'])}."]

    chunking = results.get("chunking") or {}
    if chunking:
        lines += ["", "## Long documents", "",
                  f"Windows of the model's max_length tokens, stride {chunking['stride']}, at most "
                  f"{chunking['max_chunks']} per document, pooled by `{chunking.get('pooling')}`.", "",
                  "| split | documents with more than one window | most windows used |", "|---|---|---|"]
        for split in ("validation", "test"):
            row = chunking[split]
            lines.append(f"| {split} | {row['num_chunked_documents']} | {row['max_chunks_used']} |")

    pii = results.get("pii_redactions")
    lines += ["", "## PII redaction", ""]
    if pii is None:
        lines.append("Off (`data.redact_pii: false`): texts were used as given.")
    else:
        lines += ["Identifiers replaced by placeholders before tokenisation (all splits):", "",
                  "| type | count |", "|---|---|"] + [f"| {k} | {v} |" for k, v in pii.items()]

    for section in extra_sections:
        lines += ["", section.rstrip("\n")]

    lines += ["", "## Plots", ""]
    lines += [f"- [{PLOTS[name]}]({REPORT_DIR}/{name}.png)" for name in plots]
    if plot_note:
        lines.append(plot_note)
    return "\n".join(lines) + "\n"


def write_report(
    output_dir: str | Path, results: dict[str, Any], inputs: ReportInputs, extra_sections: list[str] | None = None
) -> Path:
    """Write ``report.md`` and the PNG plots; call on the main process only.

    Args:
        output_dir: the run directory.
        results: one task's final metrics (``tasks.<name>`` of ``metrics.json``).
        inputs: test-split probabilities and labels for the plots.
        extra_sections: further markdown sections (fairness slices, example explanations).

    Returns:
        The path of ``report.md``.
    """
    output_dir = Path(output_dir)
    plot_dir = output_dir / REPORT_DIR
    plot_dir.mkdir(parents=True, exist_ok=True)
    plots: list[str] = []
    note = None
    try:
        plots = _plot_all(plot_dir, inputs)
    except ImportError:
        note = "Plots skipped: matplotlib is not installed (`pip install finrisk_nlp[report]`)."
        logger.info(note)
    path = output_dir / "report.md"
    write_text_atomic(path, _markdown(results, inputs, plots, note, extra_sections or []))
    return path
