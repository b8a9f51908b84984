"""What ``finrisk tune`` leaves behind: ``OUT/trials.md`` (every trial) and ``OUT/best.yaml`` (the best config).

    finrisk tune --config recipes/configs/credit_text.yaml --trials 20 --out runs/tune
    accelerate launch recipes/credit_text.py --config runs/tune/best.yaml
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import yaml

from finrisk_nlp.config import apply_overrides, config_from_dict
from finrisk_nlp.provenance import write_text_atomic
from finrisk_nlp.training.search_space import to_override


def _cell(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, list):
        return "[" + ", ".join(map(str, value)) + "]"
    return str(value).replace("|", "\\|")


def render_trials_markdown(study: Any, space: dict[str, dict[str, Any]], primary_metric: str) -> str:
    """A markdown table of every trial of ``study``: state, validation score, seconds and the values it trained with.

    Args:
        study: an Optuna study run by :func:`finrisk_nlp.training.tuning.tune`.
        space: the search space; its keys are the value columns.
        primary_metric: the task's selection metric, named in the header.
    """
    trials = study.get_trials(deepcopy=False)
    done = [t for t in trials if t.value is not None]
    best = max(done, key=lambda t: t.value) if done else None
    lines = [f"# Tuning: validation {primary_metric} per trial", ""]
    if best is not None:
        lines += [f"Best: trial {best.number}, {primary_metric} {best.value:.4f} (config in best.yaml). "
                  f"{len(trials)} trial(s), {sum(float(t.user_attrs.get('seconds', 0)) for t in trials) / 60:.1f} "
                  f"min of training. Updated {time.strftime('%Y-%m-%d %H:%M')}.", ""]
    keys = list(space)
    header = ["trial", "state", primary_metric, "seconds", *keys, "note"]
    lines += ["| " + " | ".join(header) + " |", "|" + "---:|" * 4 + ":---|" * (len(keys) + 1)]
    for t in trials:
        values = t.user_attrs.get("values", {})
        score = "" if t.value is None else f"{t.value:.4f}" + (" **best**" if t is best else "")
        row = [str(t.number), t.state.name.lower(), score, f"{float(t.user_attrs.get('seconds', 0)):.0f}",
               *[_cell(values.get(k)) for k in keys], _cell(t.user_attrs.get("note", ""))]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def write_best_config(path: Path, base: dict[str, Any], best: Any, primary_metric: str) -> None:
    """Write ``base`` plus the best trial's values as a full recipe config (validated before it is written).

    The base keeps its own ``output_dir`` and registry settings, so the file trains and publishes like the config
    the study started from.
    """
    values = best.user_attrs["values"]
    raw = apply_overrides(json.loads(json.dumps(base)), [to_override(k, v) for k, v in values.items()])
    cfg = config_from_dict(raw)
    header = (f"# Best of `finrisk tune`: trial {best.number}, validation {primary_metric} {best.value:.4f}.\n"
              f"# Tuned: {', '.join(to_override(k, v) for k, v in values.items())}\n"
              f"#   accelerate launch recipes/{cfg.task}.py --config {path}\n")
    write_text_atomic(path, header + yaml.safe_dump(cfg.to_dict(), sort_keys=False))
