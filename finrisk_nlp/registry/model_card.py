"""Model cards (``README.md``) for published models: ``finrisk registry push RUN_DIR --name credit-text``.

The same card goes into every local registry version and to the Hugging Face Hub. It starts with YAML front
matter that the Hub reads (``base_model``, ``library_name``, ``pipeline_tag``, ``tags``, ``license``), followed
by markdown written from the run itself: labels, data and its fingerprint, metrics, operating threshold and
calibration (when ``finrisk_model.json`` holds them under ``extra``), provenance and limitations.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from finrisk_nlp.config import EMBEDDED_MODEL

# Hub ids for base models that finrisk_nlp knows under a local name.
HUB_BASE_MODELS = {EMBEDDED_MODEL: f"sentence-transformers/{EMBEDDED_MODEL}"}
DEFAULT_LICENSE = "apache-2.0"
METRIC_KEYS = ("accuracy", "macro_f1", "roc_auc", "pr_auc")


def hub_base_model(base_model: str) -> str | None:
    """The Hub id of a base model, or None for a local path (which the Hub cannot link to)."""
    if base_model in HUB_BASE_MODELS:
        return HUB_BASE_MODELS[base_model]
    if base_model.startswith(("/", ".", "~")) or base_model.count("/") != 1:
        return None
    return base_model


def _fmt(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else ("n/a" if value is None else str(value))


def _metrics_table(metrics: dict[str, Any]) -> str:
    rows = ["| split | examples | " + " | ".join(METRIC_KEYS) + " |", "|---" * (len(METRIC_KEYS) + 2) + "|"]
    for split in ("validation", "test"):
        values = metrics.get(split) or {}
        if values:
            cells = " | ".join(_fmt(values.get(k)) for k in METRIC_KEYS)
            rows.append(f"| {split} | {values.get('num_examples', 'n/a')} | {cells} |")
    baseline = metrics.get("majority_baseline") or {}
    if baseline:
        cells = " | ".join(_fmt(baseline.get(k)) if k in baseline else "" for k in METRIC_KEYS)
        rows.append(f"| test, majority-class baseline |  | {cells} |")
    return "\n".join(rows)


def _per_class_table(test: dict[str, Any]) -> str:
    per_class = test.get("per_class") or {}
    if not per_class:
        return ""
    rows = ["| label | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    for label, m in per_class.items():
        rows.append(f"| {label} | {_fmt(m['precision'])} | {_fmt(m['recall'])} | {_fmt(m['f1'])} | {m['support']} |")
    return "Per class on the test split:\n\n" + "\n".join(rows)


def _operating_point(extra: dict[str, Any]) -> str:
    """Threshold and calibration as stored by threshold tuning / calibration in ``finrisk_model.json``."""
    lines = []
    for key in ("threshold", "thresholds", "operating_point"):
        if key in extra:
            lines.append(f"- **{key.replace('_', ' ')}**: `{json.dumps(extra[key], default=str)}`")
    if "calibration" in extra:
        lines.append(f"- **calibration**: `{json.dumps(extra['calibration'], default=str)}`")
    if not lines:
        return ("No operating threshold or calibration is stored with this model: the predicted label is the "
                "arg-max class (multi-label: probability >= 0.5). Choose a threshold on your own validation data "
                "before using scores for decisions.")
    return "Stored with the model in `finrisk_model.json` (`extra`):\n\n" + "\n".join(lines)


def _dataset_lines(dataset: list[dict[str, Any]]) -> str:
    if not dataset:
        return "- (no data file was recorded)"
    lines = []
    for d in dataset:
        digest = d.get("sha256") or f"unavailable: {d.get('note', '')}"
        size = f", {d['bytes']:,} bytes" if d.get("bytes") is not None else ""
        lines.append(f"- `{d.get('role', 'data')}`: `{d.get('path')}` — sha256 `{digest}`{size}")
    return "\n".join(lines)


def _review_sections(metrics: dict[str, Any]) -> list[str]:
    """Fairness slices and example evidence, when the run computed them (``eval.slice_columns``, explanations)."""
    sections = []
    if metrics.get("fairness"):
        from finrisk_nlp.evaluation.fairness import render_fairness_markdown

        sections.append(render_fairness_markdown(metrics["fairness"]).rstrip("\n"))
    examples = metrics.get("explanations") or []
    if examples:
        lines = ["## What the model relies on", "",
                 "Words with the largest integrated-gradients attribution for the riskiest test examples:", ""]
        for n, ex in enumerate(examples, 1):
            words = ", ".join(f"`{w['text']}` ({w['score']:+.2f})" for w in ex.get("evidence", [])) or "(none)"
            lines.append(f"{n}. predicted `{ex['predicted_label']}`: {words}")
        sections.append("\n".join(lines))
    return sections


def front_matter(metadata: dict[str, Any], *, license: str = DEFAULT_LICENSE) -> dict[str, Any]:
    """The card's YAML header: what the Hub uses to index and render the model."""
    task = metadata["task"]
    tags = ["finrisk_nlp", "text-classification", "finance", "risk", task["name"]]
    if metadata.get("lora"):
        tags += ["lora", "peft"]
    header: dict[str, Any] = {}
    base = hub_base_model(metadata["base_model"])
    if base:
        header["base_model"] = base
    header.update(
        library_name="peft" if metadata.get("lora") else "transformers",
        pipeline_tag="text-classification",
        license=license,
        language=["en"],
        tags=tags,
    )
    return header


def render_model_card(
    *,
    name: str,
    metadata: dict[str, Any],
    metrics: dict[str, Any],
    config: dict[str, Any],
    provenance: dict[str, Any],
    license: str = DEFAULT_LICENSE,
) -> str:
    """Write the model card of one published model.

    Args:
        name: the registry name or Hub repo id the card is titled with.
        metadata: ``finrisk_model.json`` (task with labels, base model, max_length, lora, extra).
        metrics: the run's ``metrics.json``.
        config: the run's ``config.yaml`` as a dict.
        provenance: ``dataset`` (list of files with sha256), ``versions``, ``git_commit``.
        license: SPDX-style license id for the front matter.

    Returns:
        Markdown with YAML front matter, ready to be saved as ``README.md``.
    """
    task = metadata["task"]
    labels = list(task["labels"])
    extra = metadata.get("extra") or {}
    base = metadata["base_model"]
    base_shown = hub_base_model(base) or base
    kind = "multi-label (each label scored independently, sigmoid)" if task.get("multi_label") else (
        f"single-label, {len(labels)} classes (softmax)")
    positive = task.get("positive_label")
    lora = config.get("lora") or {}
    modules = ", ".join(lora.get("target_modules") or [])
    adapter = (f"LoRA adapter (r={lora.get('r')}, alpha={lora.get('alpha')}, target modules {modules})"
               if metadata.get("lora") else "fully fine-tuned weights")
    test = metrics.get("test") or {}
    versions = provenance.get("versions") or {}
    header = yaml.safe_dump(front_matter(metadata, license=license), sort_keys=False).strip()

    sections = [
        f"---\n{header}\n---",
        f"# {name}\n\n{task.get('description') or 'Financial-risk text classifier.'} Fine-tuned with "
        f"[finrisk_nlp](https://pypi.org/project/finrisk_nlp/) from `{base_shown}` as a {adapter}.",
        "## Intended use\n\n"
        f"Scores `{task['text_column']}` texts for the `{task['name']}` task to help trained staff prioritise review "
        "(for example which applications or alerts to look at first). It is decision support, not a decision: "
        "outcomes that affect customers need human review and must follow your model-risk policy.\n\n"
        "```bash\n"
        + (f"finrisk predict hub:{name} \"text to score\"\n" if "/" in name
           else f"finrisk predict registry:{name}@production \"text to score\"\n")
        + "```",
        "## Labels\n\n"
        f"Output order (`{task['label_column']}`), {kind}:\n\n"
        + "\n".join(f"{i}. `{label}`" + (" (positive / risk class)" if label == positive else "")
                    for i, label in enumerate(labels))
        + f"\n\nThe model reads at most {metadata.get('max_length')} tokens per input window.",
        "## Training data\n\n"
        "Files the run trained and was evaluated on, with their sha256 fingerprint (re-hash your copy to check "
        "that a retrain uses the same data):\n\n" + _dataset_lines(provenance.get("dataset") or []),
        "## Evaluation\n\n" + _metrics_table(metrics)
        + (f"\n\nThe best epoch ({metrics.get('best_epoch')}) was selected on validation "
           f"`{metrics.get('primary_metric')}`; test metrics are of that model." if "best_epoch" in metrics else "")
        + ("\n\n" + _per_class_table(test) if test.get("per_class") else ""),
        "## Operating threshold and calibration\n\n" + _operating_point(extra),
        *_review_sections(metrics),
        "## Limitations\n\n"
        "- Trained on the data above only; scores drift when products, channels, language or fraud patterns change. "
        "Monitor them and re-validate before each use on new populations.\n"
        "- Probabilities are not calibrated unless a calibration is listed above.\n"
        "- English text; other languages, heavy abbreviations or templated notes may score poorly.\n"
        "- The model may reflect biases in historical decisions; check outcomes across customer groups "
        "before deployment (fair-lending and AML rules apply).",
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
