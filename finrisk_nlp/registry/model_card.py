"""Model cards (``README.md``) for published models: ``finrisk registry push RUN_DIR --name credit-text``.

The same card goes into every local registry version and to the Hugging Face Hub. It starts with YAML front
matter that the Hub reads (``base_model``, ``library_name``, ``pipeline_tag``, ``tags``, ``license`` and a
``model-index`` of the test metrics with their bootstrap intervals; the dataset is named ``private`` unless it is
the shipped demo data, so no ``datasets`` entry links to one), followed
by markdown written from the run itself, answering what a model validator asks: intended and out-of-scope uses,
labels, data and its fingerprint, the validation design (split kind, periods, groups, repeated texts), metrics
with confidence intervals, calibration, the operating point and its costs, fairness slices, known limitations
and provenance. Every section reads its key of ``metrics.json`` (or ``finrisk_model.json``'s ``extra``) when
the run wrote it and says what is unknown when an older run did not.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from finrisk_nlp.config import EMBEDDED_MODEL, SPLITS
from finrisk_nlp.evaluation.run_metrics import read_metrics, task_view
from finrisk_nlp.formatting import fmt
from finrisk_nlp.modeling.metadata import Decision, ModelMetadata, TaskMetadata
from finrisk_nlp.tasks import Task

# Hub ids for base models that finrisk_nlp knows under a local name.
HUB_BASE_MODELS = {EMBEDDED_MODEL: f"sentence-transformers/{EMBEDDED_MODEL}"}
DEFAULT_LICENSE = "apache-2.0"
METRIC_KEYS = ("accuracy", "macro_f1", "roc_auc", "pr_auc")
# What each shipped task is for, and uses a validator should rule out; a user's own task gets GENERIC_USES.
TASK_USES: dict[str, tuple[str, tuple[str, ...]]] = {
    "credit_text": (
        "ranking loan applications by the default risk their narrative suggests, so that underwriters review the "
        "riskiest first, as one signal next to a validated credit scorecard",
        ("approving, declining or pricing credit on this score alone, or citing it as the reason in an "
         "adverse-action notice",
         "business, mortgage or other products and markets unlike the applications it was trained on",
         "inferring protected characteristics (age, gender, ethnicity, health) from the narrative")),
    "transaction_memo": (
        "putting card and bank transaction memos into spending categories for analytics, budgeting and as one "
        "input to transaction monitoring (gambling and crypto spending)",
        ("fraud or AML decisions about a single transaction from its category",
         "judging a customer's creditworthiness or conduct from gambling or crypto categories without review",
         "memo formats of other banks, processors or countries before it is re-validated on them")),
    "aml_alert": (
        "ordering the AML alert queue for investigators: which alerts to look at first, from the investigator "
        "narrative",
        ("closing alerts automatically without an investigator's review",
         "deciding whether to file a suspicious activity report",
         "sanctions screening or any other regulatory determination")),
    "aml_typology": (
        "suggesting which money-laundering typologies an alert narrative describes, to route cases to specialists "
        "and support quality review",
        ("a finding that money laundering took place",
         "replacing the investigator's typology assessment in a suspicious activity report",
         "typologies other than the ones listed under Labels")),
}
GENERIC_USES = ("fully automated decisions about customers without human review",
                "populations, products, channels or languages unlike the training data",
                "any purpose other than the task described above")
SPLIT_KINDS = {
    "random": "a random split of one file, stratified by label: validation and test come from the same period and "
              "population as training, so these metrics say nothing about later periods",
    "time": "out of time: trained on the earliest rows by `{time}`, validated and tested on later periods",
    "group": "grouped by `{group}`: no customer/account appears in more than one split",
    "time+group": "out of time by `{time}` and grouped by `{group}`: validation and test are strictly later "
                  "than train and no group is in two splits (a group whose rows span a cut belongs to the latest "
                  "split it reaches; its rows dated in earlier splits were dropped)",
    "files": "validation and test came from their own files",
}


def hub_base_model(base_model: str) -> str | None:
    """The Hub id of a base model, or None for a local path (which the Hub cannot link to)."""
    if base_model in HUB_BASE_MODELS:
        return HUB_BASE_MODELS[base_model]
    if base_model.startswith(("/", ".", "~")) or base_model.count("/") != 1:
        return None
    return base_model


def _metrics_table(metrics: dict[str, Any]) -> str:
    """Validation (raw, best epoch) and test (calibrated) metrics; accuracy and macro-F1 are of the most probable
    label, which is not the operating decision, and are labelled so."""
    shown = [f"{k} (argmax)" if k in ("accuracy", "macro_f1") else k for k in METRIC_KEYS]
    rows = ["| split | examples | " + " | ".join(shown) + " |", "|---" * (len(METRIC_KEYS) + 2) + "|"]
    for split in ("validation", "test"):
        values = metrics.get(split) or {}
        if values:
            cells = " | ".join(fmt(values.get(k), 4) for k in METRIC_KEYS)
            name = {"validation": "validation (raw, best epoch)", "test": "test (calibrated)"}[split]
            rows.append(f"| {name} | {values.get('num_examples', 'n/a')} | {cells} |")
    baseline = metrics.get("majority_baseline") or {}
    if baseline:
        cells = " | ".join(fmt(baseline.get(k), 4) if k in baseline else "" for k in METRIC_KEYS)
        rows.append(f"| test, majority-class baseline |  | {cells} |")
    return "\n".join(rows)


def _per_class_table(test: dict[str, Any]) -> str:
    per_class = test.get("per_class") or {}
    if not per_class:
        return ""
    rows = ["| label | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    for label, m in per_class.items():
        rows.append(f"| {label} | {fmt(m['precision'], 4)} | {fmt(m['recall'], 4)} | {fmt(m['f1'], 4)} | "
                    f"{m['support']} |")
    return "Per class on the test split:\n\n" + "\n".join(rows)


def _threshold_lines(threshold: Any, op: dict[str, Any]) -> list[str]:
    if not isinstance(threshold, dict) or "by_label" not in threshold:  # an older or hand-written shape
        return [f"- **threshold**: `{json.dumps(threshold, default=str)}`"]
    rows = [f"Flag a label when its probability is at or above the threshold, tuned on validation for "
            f"`{threshold.get('target')}`:", "",
            "| label | threshold | validation precision | validation recall | target met |", "|---|---|---|---|---|"]
    for label, t in threshold["by_label"].items():
        rows.append(f"| {label} | {fmt(t.get('value'), 4)} | {fmt(t.get('precision'), 4)} | "
                    f"{fmt(t.get('recall'), 4)} | {'yes' if t.get('target_met', True) else 'no (closest reachable)'} |")
    if op.get("precision") is not None:
        flagged = f", {op['flagged']} texts flagged" if "flagged" in op else ""
        rows += ["", f"On the test split at this threshold: precision {fmt(op['precision'], 4)}, "
                     f"recall {fmt(op.get('recall'), 4)}{flagged}."]
    return rows


def _operating_point(metrics: dict[str, Any], decision: Decision | None, config: dict[str, Any]) -> str:
    """Calibration, threshold and decision costs from ``metrics.json``, else from the model's stored decision."""
    lines: list[str] = []
    calibration = metrics.get("calibration") or (decision.calibration if decision else None)
    if isinstance(calibration, dict) and calibration.get("method"):
        detail = ", ".join(f"{k} {fmt(v, 4)}" for k, v in calibration.items()
                           if k not in ("method", "ece_before", "ece_after") and not isinstance(v, dict | list))
        lines.append(f"- **calibration**: `{calibration['method']}`" + (f" ({detail})" if detail else ""))
        change = ((calibration.get("comparison") or {}).get("test") or {}).get("change") or {}
        if change:
            shown = "; ".join(f"{m} {c['estimate']:+.4f} [{c['low']:+.4f}, {c['high']:+.4f}] {c['verdict']}"
                              for m, c in change.items())
            lines.append(f"- change on test, calibrated minus raw (paired bootstrap 95%): {shown}")
        before, after = (calibration.get(k) or {} for k in ("ece_before", "ece_after"))
        if "test" in before and "test" in after:
            lines.append(f"- expected calibration error on test: {fmt(before['test'], 4)} before, "
                         f"{fmt(after['test'], 4)} after")
    elif calibration:
        lines.append(f"- **calibration**: `{json.dumps(calibration, default=str)}`")
    else:
        lines.append("- **calibration**: none recorded; probabilities are the model's raw softmax/sigmoid outputs")
    threshold = metrics["threshold"] if "threshold" in metrics else (decision.threshold if decision else None)
    costs = (config.get("threshold") or {}).get("costs")
    if costs:
        shown = ", ".join(f"{k} {v}" for k, v in costs.items()) if isinstance(costs, dict) else str(costs)
        lines.append(f"- **decision costs** the operating point was chosen with: {shown}")
    fitted = metrics.get("fitted") or {}
    if fitted:
        names = {"epoch_selection": "best epoch chosen on", "calibration": "calibration map fitted on",
                 "threshold": "operating threshold tuned on", "conformal": "conformal quantile fitted on",
                 "test": "test"}
        lines += ["", "Which rows fitted what:", ""] + [f"- {names.get(k, k)}: {v}" for k, v in fitted.items()]
        if fitted.get("calibration", "").startswith("validation"):
            lines.append("- validation therefore served several fits (epoch, calibration, threshold): its own "
                         "metrics are optimistic; set `data.calibration_fraction` for a split of its own")
    if threshold:
        lines += ["", *_threshold_lines(threshold, (metrics.get("test") or {}).get("operating_point") or {})]
    elif "threshold" in metrics:
        lines.append("- **decision**: the most probable class (no threshold: a multi-class task)")
    else:
        lines += ["", "No operating threshold is stored with this model: the predicted label is the arg-max class "
                      "(multi-label: probability >= 0.5). Choose a threshold on your own validation data before "
                      "using scores for decisions."]
    return "\n".join(lines)


def _dataset_lines(dataset: list[dict[str, Any]]) -> str:
    if not dataset:
        return "- (no data file was recorded)"
    lines = []
    for d in dataset:
        digest = d.get("sha256") or f"unavailable: {d.get('note', '')}"
        size = f", {d['bytes']:,} bytes" if d.get("bytes") is not None else ""
        lines.append(f"- `{d.get('role', 'data')}`: `{d.get('path')}` — sha256 `{digest}`{size}")
    return "\n".join(lines)


def _intended_use(task: Task, name: str) -> str:
    use, out_of_scope = TASK_USES.get(task.name, (None, GENERIC_USES))
    what = use or f"the task it was trained for: {task.description or task.name}"
    command = (f"finrisk predict hub:{name} \"text to score\"" if "/" in name
               else f"finrisk predict registry:{name}@production \"text to score\"")
    return (
        f"Scores `{task.text_column}` texts for the `{task.name}` task: {what}. It helps trained staff "
        "prioritise review; it is decision support, not a decision: outcomes that affect customers need human "
        "review and must follow your model-risk policy.\n\n"
        f"```bash\n{command}\n```\n\n"
        "**Out of scope**:\n\n" + "\n".join(f"- {item}" for item in out_of_scope)
    )


def _plain_transformers(name: str) -> str:
    return (
        "## Use with transformers\n\n"
        "The repo ships its own modeling and pipeline code (`modeling_finrisk.py`, `pipeline_finrisk.py`, "
        "`finrisk_redaction.py`; torch and transformers only): read it, then load with `trust_remote_code=True`. "
        "Redaction, token windows, pooling, calibration and the operating threshold are applied as in finrisk_nlp; "
        "`decision` is the operating decision.\n\n"
        "```python\nfrom transformers import AutoModelForSequenceClassification, pipeline\n\n"
        f"classify = pipeline(\"text-classification\", model=\"{name}\", trust_remote_code=True)\n"
        f"model = AutoModelForSequenceClassification.from_pretrained(\"{name}\", trust_remote_code=True)\n"
        "model.predict([\"text to score\"])  # label, decision, probabilities, num_chunks\n```"
    )


def _validation_design(splits: dict[str, Any]) -> str:
    """Split kind, rows, periods and groups per split, and repeated texts (``metrics.json`` key ``splits``)."""
    if not splits:
        return ("Not recorded: the run predates split reporting. Assume a random split of one file, with no "
                "separation by time or by customer and no check for test texts that repeat training texts.")
    kind = splits.get("kind", "random")
    text = SPLIT_KINDS.get(kind, f"`{kind}`").format(time=splits.get("time_column"),
                                                     group=splits.get("group_column"))
    lines = [f"Split: {text}.", "", "| split | rows | first | last | groups |", "|---|---|---|---|---|"]
    rows, periods, groups = splits.get("rows") or {}, splits.get("periods") or {}, splits.get("groups") or {}
    for split in SPLITS:
        period = periods.get(split) or {}
        lines.append(f"| {split} | {rows.get(split, 'n/a')} | {period.get('min', '')} | {period.get('max', '')} | "
                     f"{groups.get(split, '')} |")
    if groups.get("rows_dropped"):
        lines.append(f"\n{groups['spanning_groups']} group(s) spanned a time cut: {groups['rows_dropped']} of their "
                     "rows, dated before the split the group belongs to, were dropped from the data.")
    if splits.get("out_of_time") is False:
        lines.append("\nValidation or test starts before training ends: this is not an out-of-time evaluation.")
    if groups.get("shared_with_train"):
        lines.append(f"\n{groups['shared_with_train']} validation/test group(s) also occur in training: their "
                     "metrics are optimistic for new customers.")
    dedup = splits.get("dedup") or {}
    found = [(s, c) for s, c in dedup.items() if isinstance(c, dict)]
    if found:
        counts = "; ".join(f"{s}: {c.get('exact', 0)} exact, {c.get('normalised', 0)} after normalising, "
                           f"{c.get('dropped', 0)} dropped" for s, c in found)
        lines.append(f"\nValidation/test texts repeating a training text (normalising masks digits and folds "
                     f"case and whitespace; `data.dedup={dedup.get('mode')}`): {counts}.")
        test = dedup.get("test") or {}
        if "of_validation" in test:
            lines.append(f"\nOf the test repeats, {test['of_validation']} repeat a validation text (not a training "
                         "one).")
        if any("near_duplicates" in c for _, c in found):
            near = "; ".join(f"{s}: {c.get('near_duplicates', 0)} near-duplicate(s), {c.get('within', 0)} repeated "
                             "within the split" for s, c in found)
            lines.append(f"\nReported, not dropped (word Jaccard >= 0.8 against an earlier split's text, and "
                         f"repeats within a split; train repeats {dedup.get('train_within', 0)} of its own texts): "
                         f"{near}.")
    else:
        lines.append("\nRepeated texts between training and validation/test were not checked.")
    return "\n".join(lines)


def _intervals(metrics: dict[str, Any]) -> str:
    intervals = metrics.get("test_intervals") or {}
    test = metrics.get("test") or {}
    valid = {k: v for k, v in intervals.items() if isinstance(v, list | tuple) and len(v) == 2}
    if not valid:
        n = test.get("num_examples")
        width = f" (±{1 / n ** 0.5:.3f} here)" if isinstance(n, int) and n > 0 else ""
        return ("Not computed for this run. As a rule of thumb, a 95% interval of an accuracy-like rate over N "
                f"test examples is up to ±1/√N wide{width}; differences smaller than that are not evidence.")
    rows = ["Uncertainty of the test metrics (`test_intervals` in `metrics.json`):", "",
            "| metric | test | interval |", "|---|---|---|"]
    rows += [f"| {k} | {fmt(test.get(k), 4)} | [{fmt(lo, 4)}, {fmt(hi, 4)}] |" for k, (lo, hi) in valid.items()]
    return "\n".join(rows)


def _num(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, int | float) else "?"


def fields_section(metadata: ModelMetadata) -> str | None:
    """The structured fields a one-task model reads beside the text, with what training saw of each (None: text
    only, or several tasks)."""
    single = _single(metadata)
    if single is None or single.fields is None:
        return None
    raw = single.fields.to_dict()
    head = metadata.head
    lines = ["## Structured fields", "",
             f"The model reads these fields beside the text (fusion `{head.fusion}`, field dropout "
             f"{head.field_dropout}: "
             + ("it may score documents without fields" if head.field_dropout else
                "every input row must carry them; missing values are allowed") + "). Preprocessing was fitted on the "
             "training split only and is stored in `finrisk_model.json`.", "",
             "| field | kind | seen in training | missing in training | preprocessing |", "|---|---|---|---|---|"]
    for spec in raw["fields"]:
        stats = spec.get("stats") or {}
        if spec["kind"] == "numeric":
            seen = f"{_num(stats.get('min'))} to {_num(stats.get('max'))} (median {_num(stats.get('median'))})"
            prep = ("signed log1p, " if spec.get("log") else "") + "median/IQR scaling, missing indicator"
        else:
            top = ", ".join(f"`{c}`" for c in list(stats.get("top_categories") or {})[:5])
            seen = f"{stats.get('num_categories', len(spec.get('categories') or []))} categories: {top}"
            prep = "embedding; unseen values share an unknown bucket"
        rate = stats.get("missing_rate")
        lines.append(f"| `{spec['name']}` | {spec['kind']} | {seen} | "
                     f"{'?' if rate is None else f'{100 * rate:.1f}%'} | {prep} |")
    return "\n".join(lines)


def _review_sections(metrics: dict[str, Any]) -> list[str]:
    """Fairness slices and example evidence, when the run computed them (``eval.slice_columns``, explanations)."""
    from finrisk_nlp.evaluation.fairness import render_fairness_markdown

    sections = [render_fairness_markdown(metrics["fairness"]).rstrip("\n") if metrics.get("fairness") else
                "## Fairness slices\n\nNot computed for this run. Set `eval.slice_columns` (for example "
                "`[region, channel]`) to compare recall, precision and false positive rates across customer groups "
                "before deployment."]
    examples = metrics.get("explanations") or []
    if examples:
        lines = ["## What the model relies on", "",
                 "Words with the largest integrated-gradients attribution for the riskiest test examples:", ""]
        for n, ex in enumerate(examples, 1):
            words = ", ".join(f"`{w['text']}` ({w['score']:+.2f})" for w in ex.get("evidence", [])) or "(none)"
            fields = sorted(ex.get("fields") or [], key=lambda f: -abs(f["score"]))[:3]
            shown = "; fields (Shapley): " + ", ".join(f"`{f['name']}` ({f['score']:+.2f})" for f in fields) if fields \
                else ""
            lines.append(f"{n}. predicted `{ex['predicted_label']}`: {words}{shown}")
        sections.append("\n".join(lines))
    return sections


def _shown_metrics(metadata: ModelMetadata, metrics: dict[str, Any]) -> dict[str, Any]:
    """What the card reads of ``metrics.json``: a one-task model's own task results beside the run's facts; for a
    multi-task model the run's (the means of the primary metrics)."""
    name = metadata.task_names()[0]
    metrics = read_metrics(metrics, name)
    return task_view(metrics, name) if _single(metadata) and name in metrics.get("tasks", {}) else metrics


def _single(metadata: ModelMetadata) -> TaskMetadata | None:
    """The task of a one-task model, whose stored settings the card shows (a multi-task card shows the config's)."""
    return metadata.task_metadata() if len(metadata.tasks) == 1 else None


def _window_limit(metadata: ModelMetadata) -> str:
    """How much of a text the model reads, from each task's stored windows (prediction cuts texts exactly so)."""
    windows = {name: task.windows for name, task in metadata.tasks.items()}
    if len(set(windows.values())) == 1:
        cut = next(iter(windows.values()))
        overlap = f" (overlapping by {cut.stride})" if cut.max_chunks > 1 else ""
        return (f"Reads at most {cut.max_chunks} window(s) of {metadata.max_length} tokens per text{overlap}; "
                "anything later in a long text is ignored.")
    per_task = ", ".join(f"{name}: {cut.max_chunks}" + (f" overlapping by {cut.stride}" if cut.max_chunks > 1 else "")
                         for name, cut in windows.items())
    return (f"Reads at most this many windows of {metadata.max_length} tokens per text ({per_task}); anything later "
            "in a long text is ignored.")


def _limitations(metadata: ModelMetadata, metrics: dict[str, Any], config: dict[str, Any]) -> str:
    """Known limits of this model: generic ones, then those the run's own settings imply."""
    single, data = _single(metadata), config.get("data") or {}
    items = [
        "Trained on the data above only; scores drift when products, channels, language or fraud patterns change. "
        "Monitor them and re-validate before each use on new populations.",
        "English text; other languages, heavy abbreviations or templated notes may score poorly.",
        "The model may reflect biases in historical decisions; check outcomes across customer groups "
        "before deployment (fair-lending and AML rules apply).",
    ]
    if "data" in config and not data.get("train_file"):
        items.append("Trained and evaluated on the synthetic demo data shipped with finrisk_nlp: the metrics describe "
                     "that generator, not real customers. Not for production use.")
    redacted = single.redact_pii if single and single.redact_pii is not None else data.get("redact_pii")
    if redacted:
        items.append("PII redaction is pattern-based (card numbers, IBANs, SSNs, account numbers, emails, phones): "
                     "names, addresses and identifiers in other formats pass through, in training and in scoring.")
    elif redacted is False:
        items.append("Texts were not redacted (`data.redact_pii=false`): the model saw, and may have memorised, "
                     "customer identifiers.")
    items.append(_window_limit(metadata))
    kind = (metrics.get("splits") or {}).get("kind")
    if kind in (None, "random"):
        items.append("No out-of-time or per-customer validation: the test rows come from the same period and "
                     "customers as training (set `data.time_column` / `data.group_column`).")
    dedup = (metrics.get("splits") or {}).get("dedup") or {}
    kept = sum(c.get("normalised", 0) - c.get("dropped", 0) for c in dedup.values() if isinstance(c, dict))
    if kept:
        items.append(f"{kept} validation/test text(s) repeat a training text and were kept: metrics are optimistic.")
    if not (metrics.get("calibration") or (single and single.decision)):
        items.append("Probabilities are not calibrated.")
    else:
        where = (metrics.get("fitted") or {}).get("calibration", "validation").split(" ")[0]
        items.append(f"Calibration and threshold were fitted on the {where} split; both shift when the share of "
                     "risky cases changes.")
    return "\n".join(f"- {item}" for item in items)


# metrics.json keys -> (model-index metric type, display name, metric config)
INDEX_METRICS = {"accuracy": ("accuracy", "accuracy", None), "macro_f1": ("f1", "macro-F1", "macro"),
                 "roc_auc": ("roc_auc", "ROC-AUC", None), "pr_auc": ("pr_auc", "PR-AUC", None)}


def dataset_name(config: dict[str, Any], task: str) -> tuple[str, str]:
    """``(name, type)`` of the training data for the model index: the shipped demo data, or ``private``."""
    sections = [config.get("data") or {}] if "data" in config else list(((config.get("multitask") or {}).get("data")
                                                                          or {}).values())
    if sections and not any(section.get("train_file") for section in sections):
        return f"finrisk_nlp synthetic demo data ({task})", "finrisk_nlp-demo"
    return "private", "private"


def eval_results(name: str, task: str, metrics: dict[str, Any], config: dict[str, Any]) -> list[Any]:
    """The test metrics as huggingface_hub ``EvalResult`` entries, each named with its bootstrap interval."""
    from huggingface_hub import EvalResult

    test, intervals = metrics.get("test") or {}, metrics.get("test_intervals") or {}
    data_name, data_type = dataset_name(config, task)
    results = []
    for key, (metric_type, shown, metric_config) in INDEX_METRICS.items():
        value = test.get(key)
        if not isinstance(value, int | float):
            continue
        interval = intervals.get(key)
        label = f"{shown} (test)"
        if isinstance(interval, list | tuple) and len(interval) == 2:
            label = f"{shown} (test, 95% interval {interval[0]:.3f} to {interval[1]:.3f})"
        results.append(EvalResult(task_type="text-classification", task_name=f"Text classification ({task})",
                                  dataset_type=data_type, dataset_name=data_name, dataset_split="test",
                                  metric_type=metric_type, metric_value=round(float(value), 4), metric_name=label,
                                  metric_config=metric_config))
    return results


def front_matter(metadata: ModelMetadata, *, license: str = DEFAULT_LICENSE, name: str | None = None,
                 metrics: dict[str, Any] | None = None, config: dict[str, Any] | None = None,
                 hub_format: bool = False) -> dict[str, Any]:
    """The card's YAML header: what the Hub uses to index and render the model (built with huggingface_hub's
    ``ModelCardData``). ``hub_format``: the repo loads with plain transformers (``library_name: transformers``,
    ``custom_code``); otherwise it holds finrisk_nlp's own layout. With ``metrics``, a ``model-index`` of the test
    metrics and their intervals."""
    from huggingface_hub import ModelCardData

    task = metadata.summary_task()
    tags = ["finrisk_nlp", "text-classification", "finance", "risk", task.name]
    if hub_format:
        tags += ["custom_code"]
    elif metadata.lora:
        tags += ["lora", "peft"]
    results = eval_results(name, task.name, metrics, config or {}) if metrics and name else None
    data = ModelCardData(
        base_model=hub_base_model(metadata.base_model),
        library_name="transformers" if hub_format or not metadata.lora else "peft",
        pipeline_tag="text-classification",
        license=license,
        language=["en"],
        tags=tags,
        model_name=name if results else None,
        eval_results=results or None,
    )
    return data.to_dict()


def render_model_card(
    *,
    name: str,
    metadata: ModelMetadata,
    metrics: dict[str, Any],
    config: dict[str, Any],
    provenance: dict[str, Any],
    license: str = DEFAULT_LICENSE,
    hub_format: bool = False,
) -> str:
    """Write the model card of one published model.

    Args:
        name: the registry name or Hub repo id the card is titled with.
        metadata: the model's ``finrisk_model.json``.
        metrics: the run's ``metrics.json``, as any release wrote it (read with
            :func:`~finrisk_nlp.evaluation.run_metrics.read_metrics`).
        config: the run's ``config.yaml`` as a dict.
        provenance: ``dataset`` (list of files with sha256), ``versions``, ``git_commit``.
        license: SPDX-style license id for the front matter.
        hub_format: the card of a Hub-format repo (loads with plain transformers; adds how to).

    Returns:
        Markdown with YAML front matter, ready to be saved as ``README.md``.
    """
    task = metadata.summary_task()
    labels = list(task.labels)
    single = _single(metadata)
    metrics = _shown_metrics(metadata, metrics)
    base = metadata.base_model
    base_shown = hub_base_model(base) or base
    kind = "multi-label (each label scored independently, sigmoid)" if task.multi_label else (
        f"single-label, {len(labels)} classes (softmax)")
    positive = task.positive_label
    lora = config.get("lora") or {}
    modules = ", ".join(lora.get("target_modules") or [])
    adapter = (f"LoRA adapter (r={lora.get('r')}, alpha={lora.get('alpha')}, target modules {modules})"
               if metadata.lora else "fully fine-tuned weights")
    if hub_format and metadata.lora:
        adapter += ", merged into the encoder weights of this repo"
    test = metrics.get("test") or {}
    versions = provenance.get("versions") or {}
    header = yaml.safe_dump(front_matter(metadata, license=license, name=name, metrics=metrics, config=config,
                                         hub_format=hub_format), sort_keys=False).strip()

    sections = [
        f"---\n{header}\n---",
        f"# {name}\n\n{task.description or 'Financial-risk text classifier.'} Fine-tuned with "
        f"[finrisk_nlp](https://pypi.org/project/finrisk_nlp/) from `{base_shown}` as a {adapter}.",
        "## Intended use\n\n" + _intended_use(task, name),
        *([_plain_transformers(name)] if hub_format else []),
        "## Labels\n\n"
        f"Output order (`{task.label_column}`), {kind}:\n\n"
        + "\n".join(f"{i}. `{label}`" + (" (positive / risk class)" if label == positive else "")
                    for i, label in enumerate(labels)),
        *[section for section in (fields_section(metadata),) if section],
        "## Training data\n\n"
        "Files the run trained and was evaluated on, with their sha256 fingerprint (re-hash your copy to check "
        "that a retrain uses the same data):\n\n" + _dataset_lines(provenance.get("dataset") or []),
        "## Validation design\n\n" + _validation_design(metrics.get("splits") or {}),
        "## Evaluation\n\n" + _metrics_table(metrics)
        + (f"\n\nThe best epoch ({metrics.get('best_epoch')}) was selected on validation "
           f"`{metrics.get('primary_metric')}`; test metrics are of that model." if "best_epoch" in metrics else "")
        + ("\n\n" + _per_class_table(test) if test.get("per_class") else ""),
        "## Confidence intervals\n\n" + _intervals(metrics),
        "## Operating threshold and calibration\n\n"
        + _operating_point(metrics, single.decision if single else None, config),
        *_review_sections(metrics),
        "## Limitations\n\n" + _limitations(metadata, metrics, config),
        "## Provenance\n\n"
        f"- finrisk_nlp {versions.get('finrisk_nlp', 'unknown')}, transformers {versions.get('transformers', '?')}, "
        f"peft {versions.get('peft', '?')}, torch {versions.get('torch', '?')}\n"
        f"- git commit: `{provenance.get('git_commit') or 'unknown'}`\n"
        f"- seed: {config.get('seed')}, epochs: {(config.get('train') or {}).get('epochs')}, "
        f"learning rate: {(config.get('train') or {}).get('lr')}\n"
        "- the exact training configuration is `config.yaml`; every file's sha256 is in `finrisk_manifest.json`",
        f"## License\n\n{license}",
    ]
    return "\n\n".join(sections) + "\n"


def parse_model_card(text: str) -> tuple[dict[str, Any], str]:
    """Split a card into its YAML front matter (as a dict) and the markdown body."""
    if not text.startswith("---\n"):
        return {}, text
    header, _, body = text[4:].partition("\n---\n")
    return yaml.safe_load(header) or {}, body
